"""Cancel, the billing-address switch, search attributes, history size, and replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Replayer

from clients.contract import order_workflow_id
from clients.payloads import data_converter
from clients.storefront import CancelRejected, Storefront
from devtools.samples import (
    BUSINESS_BASIC,
    OFFICE_E3,
    existing_tenant,
    known_customer,
    line,
    new_customer,
    order,
)
from ordering.config import EngineConfig
from ordering.refusals import RefusalCode
from ordering.status import Phase, WaitingFor
from sandbox.admin_client import SandboxAdmin
from tests.engine.partner_center_state import assert_no_customer_created
from tests.helpers import engine_config_for_tests, wait_for
from workers.worker import WORKFLOWS
from workflows.customer_subscriptions import CustomerSubscriptionsWorkflow
from workflows.reconciliation import ReconciliationWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def test_cancel_while_waiting_for_the_customer(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    domain = f"cancel{unique}.onmicrosoft.com"
    await admin.add_tenant(domain, "Cancelled Co")
    document = order(f"cancel-{unique}", existing_tenant(domain), line(OFFICE_E3, 1))
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.RELATIONSHIP)
    await shop.cancel(document.order_id, "customer changed their mind")
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.CANCELLED
    assert outcome.refusal is not None and outcome.refusal.code is RefusalCode.CANCELLED
    snapshot = await admin.snapshot()  # the tenant never became the partner's customer
    assert not [c for c in snapshot["customers"] if c["domain"] == domain]
    with pytest.raises(CancelRejected):
        await shop.cancel(document.order_id)


async def test_no_cancel_once_the_purchase_started(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Done", f"done{unique}.onmicrosoft.com")
    document = order(f"nocancel-{unique}", known_customer(customer_id), line(OFFICE_E3, 1))
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED
    with pytest.raises(CancelRejected) as caught:
        await shop.cancel(document.order_id)
    assert "can no longer be cancelled" in str(caught.value)


def _address_checked() -> EngineConfig:
    return engine_config_for_tests().model_copy(update={"billing_address_required": True})


async def test_billing_address_switch_refuses_missing_fields(
    shop_with: object, admin: SandboxAdmin, unique: str
) -> None:
    shop = await shop_with(_address_checked())  # type: ignore[operator]
    document = order(
        f"addr-{unique}",
        new_customer(f"addr{unique}", address={"address_line1": "", "postal_code": ""}),
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.BILLING_ADDRESS_INCOMPLETE
    assert outcome.refusal.details["missing_fields"] == ["address_line1", "postal_code"]
    assert "address_line1, postal_code" in outcome.refusal.message
    await assert_no_customer_created(admin, f"addr{unique}")


async def test_billing_address_switch_returns_microsofts_suggestions(
    shop_with: object, admin: SandboxAdmin, unique: str
) -> None:
    shop = await shop_with(_address_checked())  # type: ignore[operator]
    document = order(
        f"sugg-{unique}",
        new_customer(
            f"sugg{unique}", address={"address_line1": "1 Microsoft way st", "city": "redmond"}
        ),
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.BILLING_ADDRESS_NOT_VERIFIED
    [suggestion] = outcome.refusal.details["suggested_addresses"]
    assert (suggestion["address_line1"], suggestion["city"]) == (
        "1 Microsoft way Street",
        "Redmond",
    )
    assert "Microsoft way" not in outcome.refusal.message  # no address in the message
    await assert_no_customer_created(admin, f"sugg{unique}")

    ok = order(f"ok-{unique}", new_customer(f"ok{unique}"))
    await shop.place_order(ok)
    assert (await shop.wait_for_outcome(ok.order_id)).phase is Phase.COMPLETED


async def test_operators_find_orders_by_search_attributes(
    shop: Storefront, client: Client, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Find", f"find{unique}.onmicrosoft.com")
    document = order(f"find-{unique}", known_customer(customer_id), line(OFFICE_E3, 1))
    await shop.place_order(document)
    await shop.wait_for_outcome(document.order_id)
    by_order = [
        w.id
        async for w in client.list_workflows(
            f"CspOrderId = 'find-{unique}' AND CspPhase = 'completed'"
        )
    ]
    assert by_order == [order_workflow_id(document.order_id)]
    by_customer = [
        w.id
        async for w in client.list_workflows(
            f"CspCustomerId = '{customer_id}' AND WorkflowType = 'OrderWorkflow'"
        )
    ]
    assert by_customer == [order_workflow_id(document.order_id)]
    described = await client.get_workflow_handle(by_order[0]).describe()
    summary = await described.static_summary()
    assert summary is not None and f"find-{unique}" in summary


async def test_history_size_per_order(
    shop: Storefront, client: Client, admin: SandboxAdmin, unique: str
) -> None:
    """An order of a known customer adding licences and creating a subscription: the number of
    history events is what throughput costs; keep it in sight."""
    customer_id = await admin.add_customer("Hist", f"hist{unique}.onmicrosoft.com")
    await admin.add_subscription(customer_id, "CFQ7TTC0LF8Q:0001:CFQ7TTC0KF8Q", quantity=2)
    document = order(
        f"hist-{unique}", known_customer(customer_id), line(OFFICE_E3, 1), line(BUSINESS_BASIC, 1)
    )
    await shop.place_order(document)
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    history = await client.get_workflow_handle(order_workflow_id(document.order_id)).fetch_history()
    events = len(history.events)
    print(f"history events for one two-line order: {events}")
    assert events <= 90, f"{events} events: more server round trips than the design allows"


@pytest.mark.parametrize(
    "path",
    sorted(HISTORIES.glob("**/*.json")),
    ids=lambda p: str(p.relative_to(HISTORIES).with_suffix("")),
)
async def test_saved_histories_replay_on_the_current_code(path: Path) -> None:
    """Histories recorded from earlier versions of the workflows (`earlier/`: before the lean
    course, whose orders run the first release's course; `before-refund-windows/`: before
    issue 16) and from this one must still replay: a
    change that breaks determinism for running orders fails here. (Record new ones with
    `python -m tests.engine.record_histories`.)"""
    replayer = Replayer(
        workflows=[*WORKFLOWS, CustomerSubscriptionsWorkflow, ReconciliationWorkflow],
        data_converter=data_converter(),
    )
    from temporalio.client import WorkflowHistory

    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    await replayer.replay_workflow(history)


def test_there_are_saved_histories() -> None:
    assert len(list(HISTORIES.glob("*.json"))) >= 3
    assert len(list((HISTORIES / "earlier").glob("*.json"))) >= 3
