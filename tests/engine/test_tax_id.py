"""Tax ID (INN): the order waits for it, refuses invalid ones with the reason, keeps waiting."""

from __future__ import annotations

import json
import subprocess

import pytest
from temporalio.testing import WorkflowEnvironment

from clients.contract import order_workflow_id
from clients.storefront import Storefront, TaxIdRejected
from devtools.samples import russian_order
from devtools.temporal_cli import temporal_binary
from ordering.status import OrderStatus, Phase, WaitingFor
from sandbox.admin_client import SandboxAdmin
from tests.engine.partner_center_state import assert_no_customer_created
from tests.helpers import eventually, wait_for


async def test_tax_id_arrives_later_invalid_then_valid(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    document = russian_order(f"ru-{unique}", f"ru{unique}")
    await shop.place_order(document)
    order_id = f"ru-{unique}"
    await wait_for(shop, order_id, WaitingFor.TAX_ID)
    status = await shop.status(order_id)
    assert status.phase is Phase.WAITING_FOR_TAX_ID
    assert status.customer_id is None  # nothing created while the tax ID is missing

    with pytest.raises(TaxIdRejected) as rejected:
        await shop.provide_tax_id(order_id, "7707083890")
    assert "check digit" in str(rejected.value)
    assert "7707083890" not in str(rejected.value)
    assert (await shop.status(order_id)).phase is Phase.WAITING_FOR_TAX_ID

    await shop.provide_tax_id(order_id, "7707083893")
    outcome = await shop.wait_for_outcome(order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    snapshot = await admin.snapshot()
    customer = next(c for c in snapshot["customers"] if c["id"] == outcome.customer_id)
    assert customer["organizationRegistrationNumber"] == "7707083893"


async def test_an_invalid_tax_id_in_the_order_is_reported_and_the_order_waits(
    shop: Storefront, unique: str
) -> None:
    await shop.place_order(russian_order(f"ru-{unique}", f"ru{unique}", tax_id="12345"))
    await wait_for(shop, f"ru-{unique}", WaitingFor.TAX_ID)
    status = await shop.status(f"ru-{unique}")
    assert status.waiting is not None
    assert status.waiting.last_problem == (
        "The tax ID is not a valid RU INN: it has the wrong number of digits."
    )
    await shop.cancel(f"ru-{unique}")
    assert (await shop.wait_for_outcome(f"ru-{unique}")).phase is Phase.CANCELLED


async def test_tax_id_signalled_with_the_temporal_cli(
    shop: Storefront, temporal: WorkflowEnvironment, unique: str
) -> None:
    order_id = f"ru-{unique}"
    await shop.place_order(russian_order(f"ru-{unique}", f"ru{unique}"))
    await wait_for(shop, order_id, WaitingFor.TAX_ID)
    address = temporal.client.service_client.config.target_host

    def signal(tax_id: str) -> None:
        subprocess.run(
            [
                temporal_binary(),
                "workflow",
                "signal",
                "--address",
                address,
                "--workflow-id",
                order_workflow_id(order_id),
                "--name",
                "provide_tax_id",
                "--input",
                json.dumps({"tax_id": tax_id}),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    signal("7707083890")  # wrong check digit: noted, the order keeps waiting

    async def noted() -> OrderStatus | None:
        status = await shop.status(order_id)
        return status if status.waiting and status.waiting.last_problem else None

    status = await eventually(noted, timeout=5, every=0.05, what="the invalid tax ID noted")
    assert status.waiting is not None and "check digit" in str(status.waiting.last_problem)
    signal("7707083893")
    outcome = await shop.wait_for_outcome(order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal


async def test_a_phone_is_required_where_the_tax_id_is(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    await shop.place_order(
        russian_order(f"ru-{unique}", f"ru{unique}", phone=None, tax_id="7707083893")
    )
    outcome = await shop.wait_for_outcome(f"ru-{unique}")
    assert outcome.refusal is not None
    assert outcome.refusal.code.value == "BILLING_ADDRESS_INCOMPLETE"
    assert outcome.refusal.details == {"missing_fields": ["phone"]}
    await assert_no_customer_created(admin, f"ru{unique}")
