"""Malformed signals and updates sent with the real `temporal` CLI: refused or ignored, and the
order unharmed (it still completes once a valid tax ID arrives)."""

from __future__ import annotations

import asyncio
import json

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from clients.contract import order_workflow_id
from clients.storefront import Storefront
from devtools.samples import OFFICE_E3, line, new_customer, order
from devtools.temporal_cli import temporal_binary
from ordering.status import Phase, WaitingFor
from tests.helpers import eventually, wait_for

MALFORMED = [
    "{}",
    '{"tax_id": 7707083893}',
    '{"tax_id": null}',
    '"7707083893"',
    "[1, 2, 3]",
    '{"tax_id": "' + "9" * 100_000 + '"}',
    '{"tax_id": "7707083890", "extra": {"deep": [1, {"x": null}]}}',
]


async def run_cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        temporal_binary(), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return int(process.returncode or 0), out.decode()


async def test_malformed_tax_id_signals_and_updates_leave_the_order_unharmed(
    shop: Storefront, temporal: WorkflowEnvironment, unique: str
) -> None:
    document = order(
        f"bad-{unique}",
        new_customer(
            f"bad{unique}",
            country="RU",
            address={"city": "Moscow", "postal_code": "125009", "state": ""},
        ),
        line(OFFICE_E3, 1),
    )
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.TAX_ID)
    address = temporal.client.service_client.config.target_host
    workflow_id = order_workflow_id(document.order_id)
    common = ["--address", address, "--workflow-id", workflow_id, "--name", "provide_tax_id"]
    for payload in MALFORMED:
        await run_cli("workflow", "signal", *common, "--input", payload)
        code, out = await run_cli("workflow", "update", "execute", *common, "--input", payload)
        assert code != 0, f"update with {payload[:40]} was accepted: {out}"
    status = await shop.status(document.order_id)
    assert status.phase is Phase.WAITING_FOR_TAX_ID
    history = await temporal.client.get_workflow_handle(workflow_id).fetch_history()
    failed_tasks = [
        e for e in history.events if e.HasField("workflow_task_failed_event_attributes")
    ]
    assert failed_tasks == []

    # A valid one by plain signal completes the order (the CLI could not read an encrypted
    # update result without a codec endpoint).
    await run_cli("workflow", "signal", *common, "--input", json.dumps({"tax_id": "7707083893"}))
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED


@pytest.mark.parametrize("payload", ['{"order_id": 5}', '"not an order"', "{}"])
async def test_malformed_orders_started_with_the_cli_fail_clearly_not_stuck(
    shop: Storefront, temporal: WorkflowEnvironment, unique: str, payload: str
) -> None:
    address = temporal.client.service_client.config.target_host
    workflow_id = f"order-malformed-{unique}"
    code, out = await run_cli(
        "workflow",
        "start",
        "--address",
        address,
        "--workflow-id",
        workflow_id,
        "--type",
        "OrderWorkflow",
        "--task-queue",
        shop.task_queue,
        "--input",
        payload,
    )
    assert code == 0, out
    handle = temporal.client.get_workflow_handle(workflow_id)

    async def ended() -> bool:
        described = await handle.describe()
        return described.status is not None and described.status.name != "RUNNING"

    await eventually(ended, timeout=10, what=f"{workflow_id} ended")
    described = await handle.describe()
    assert described.status is not None and described.status.name == "FAILED"
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "INVALID_ORDER"
    assert cause.message.startswith("The order is not valid: ")


async def test_partner_center_answering_nonsense_delays_but_never_breaks_an_order(
    shop: Storefront, unique: str, engine_sandbox: object
) -> None:
    from sandbox.admin_client import SandboxAdmin
    from sandbox.server import SandboxServer

    assert isinstance(engine_sandbox, SandboxServer)
    admin = SandboxAdmin(engine_sandbox.base_url)
    customer_id = await admin.add_customer("Odd", f"odd{unique}.onmicrosoft.com")
    await admin.set_faults(nonsense_rate=0.3, seed=11)
    try:
        document = order(f"odd-{unique}", new_customer(f"oddnew{unique}"), line(OFFICE_E3, 2))
        await shop.place_order(document)
        outcome = await shop.wait_for_outcome(document.order_id)
    finally:
        await admin.set_faults()
        await admin.aclose()
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    assert customer_id
