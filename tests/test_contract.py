"""The workflows answer to the names in the contract (clients/contract.py).

The storefront SDK and the customer-slot activity start workflows and send signals, updates and
queries by these names only; a renamed class or handler must keep its name in the contract.
"""

from __future__ import annotations

import pytest
from temporalio import workflow

from clients import contract as c
from workflows.customer_slot import CustomerSlotWorkflow
from workflows.licences import LicencesWorkflow
from workflows.order import OrderWorkflow
from workflows.validate_order import ValidateOrderWorkflow


@pytest.mark.parametrize(
    ("cls", "name", "signals", "updates", "queries"),
    [
        (
            OrderWorkflow,
            c.ORDER_WORKFLOW,
            {c.PROVIDE_TAX_ID, c.RELATIONSHIP_ACCEPTED, c.SLOT_GRANTED_SIGNAL},
            {c.PROVIDE_TAX_ID, c.CANCEL},
            {c.STATUS},
        ),
        (LicencesWorkflow, c.LICENCES_WORKFLOW, {c.SLOT_GRANTED_SIGNAL}, set(), set()),
        (ValidateOrderWorkflow, c.VALIDATE_ORDER_WORKFLOW, set(), set(), set()),
        (
            CustomerSlotWorkflow,
            c.CUSTOMER_SLOT_WORKFLOW,
            {c.REQUEST_SLOT_SIGNAL, c.RELEASE_SLOT_SIGNAL},
            set(),
            {c.SLOT_HOLDER_QUERY},
        ),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_each_workflow_registers_under_the_contracts_names(
    cls: type, name: str, signals: set[str], updates: set[str], queries: set[str]
) -> None:
    # The SDK's definition of a workflow class (what a worker registers).
    definition = workflow._Definition.must_from_class(cls)
    assert definition.name == name
    assert signals <= set(definition.signals)
    assert updates <= set(definition.updates)
    assert queries <= set(definition.queries)


def test_workflow_ids() -> None:
    assert c.order_workflow_id("shop-1") == "order-shop-1"
    assert c.order_id_of("order-shop-1") == "shop-1"
    assert c.order_id_of(c.licences_workflow_id("r-7")) is None
    assert c.licences_workflow_id("r-7") == "licences-r-7"
    assert c.slot_workflow_id("tenant") == "customer-slot-tenant"


def test_a_storefronts_ids_carry_the_storefront_and_keep_request_ids_apart() -> None:
    assert c.order_workflow_id("1001", "shop-a") == "order-shop-a/1001"
    assert c.licences_workflow_id("r-7", "shop-a") == "licences-shop-a/r-7"
    assert c.order_id_of("order-shop-a/1001") == "1001"
    assert c.storefront_of("order-shop-a/1001") == "shop-a"
    assert c.storefront_of("licences-shop-a/r-7") == "shop-a"
    assert c.storefront_of("order-1001") is None
    assert c.storefront_of("customer-slot-x/y") is None
    # Partner Center request ids: the storefront's orders apart, the others as they always were
    assert c.request_scope("order-shop-a/1001", "1001") == "shop-a/1001"
    assert c.request_scope("order-shop-b/1001", "1001") == "shop-b/1001"
    assert c.request_scope("order-1001", "1001") == "1001"
    assert c.request_scope("licences-shop-a/r-7", "r-7") == "shop-a/r-7"
    # a run whose id does not end in its own id (started by hand) keeps the plain id
    assert c.request_scope("order-shop-a/other", "1001") == "1001"
    assert c.webhooks_workflow_id("order-shop-a/1001") == "webhooks-order-shop-a/1001"
