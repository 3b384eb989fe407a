"""Closed by default: writers refuse to send orders without the payload keys; an order that
arrives unencrypted anyway is refused before anything is done in Partner Center (a worker on the
development switch takes it, and says so); a tax ID sent in plain text is taken and flagged;
poison payloads sent with the real `temporal` CLI end in a refusal or are dropped, and never
leave a workflow task failing; relationship nudges are rate limited per order."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities import messages as m
from clients.contract import order_workflow_id
from clients.partner_center import PartnerCenterClient
from clients.payloads import (
    ACTIVE_VARIABLE,
    KEYS_VARIABLE,
    PLAINTEXT_SWITCH,
    data_converter,
)
from clients.storefront import EncryptionNotConfigured, OrderNotFound, Storefront
from devtools.samples import (
    OFFICE_E3,
    existing_tenant,
    line,
    new_customer,
    order,
    russian_order,
)
from devtools.sandbox_settings import sandbox_client_config
from devtools.temporal_cli import temporal_binary
from ordering.config import EngineConfig
from ordering.refusals import RefusalCode
from ordering.status import Phase, WaitingFor
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.engine.partner_center_state import assert_no_customer_created
from tests.helpers import (
    TASK_QUEUE,
    activity_type,
    engine_config_for_tests,
    eventually,
    wait_for,
)
from workers.worker import build_worker

ROOT = Path(__file__).parent.parent.parent
CLI = Path(sys.executable).parent / "csp-orders"


def without_keys() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in (KEYS_VARIABLE, ACTIVE_VARIABLE, PLAINTEXT_SWITCH)
    }


async def temporal_cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        temporal_binary(), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return int(process.returncode or 0), out.decode()


async def failed_workflow_tasks(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(
        1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    )


async def closed(client: Client, workflow_id: str) -> bool:
    described = await client.get_workflow_handle(workflow_id).describe()
    return described.status is not WorkflowExecutionStatus.RUNNING


# ------------------------------------------------------------------ writers without keys


async def test_the_sdk_without_keys_sends_nothing(
    temporal: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch, unique: str
) -> None:
    monkeypatch.delenv(KEYS_VARIABLE)
    monkeypatch.delenv(ACTIVE_VARIABLE)
    address = temporal.client.service_client.config.target_host
    with pytest.raises(EncryptionNotConfigured) as refused:
        await Storefront.connect(address, task_queue=TASK_QUEUE)
    assert "CSP_CODEC_KEYS" in str(refused.value) and "Nothing was sent" in str(refused.value)


async def test_the_cli_without_keys_refuses_before_anything_is_sent(
    temporal: WorkflowEnvironment,
    shop: Storefront,
    admin: SandboxAdmin,
    unique: str,
    tmp_path: Path,
) -> None:
    document = order(f"nokeys-{unique}", new_customer(f"nokeys{unique}"), line(OFFICE_E3, 1))
    file = tmp_path / "order.json"
    file.write_text(document.model_dump_json())
    env = {
        **without_keys(),
        "CSP_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "CSP_TASK_QUEUE": TASK_QUEUE,
    }
    result = subprocess.run(
        [str(CLI), "order", "place", str(file)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "set CSP_CODEC_KEYS" in result.stderr and "Nothing was sent" in result.stderr
    assert "Traceback" not in result.stderr
    # The development switch with any other value than its own is no switch.
    result = subprocess.run(
        [str(CLI), "order", "place", str(file)],
        env={**env, PLAINTEXT_SWITCH: "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    # Nothing reached Temporal, nor Partner Center.
    with pytest.raises(OrderNotFound):
        await shop.status(document.order_id)
    await assert_no_customer_created(admin, f"nokeys{unique}")


# ------------------------------------------------------------------ plain text that arrives anyway


async def start_order_with_cli(temporal: WorkflowEnvironment, workflow_id: str, file: Path) -> None:
    """`temporal workflow start` of an OrderWorkflow with `file` as its (plain JSON) input."""
    code, out = await temporal_cli(
        "workflow",
        "start",
        "--address",
        temporal.client.service_client.config.target_host,
        "--workflow-id",
        workflow_id,
        "--type",
        "OrderWorkflow",
        "--task-queue",
        TASK_QUEUE,
        "--input-file",
        str(file),
    )
    assert code == 0, out


async def test_an_order_started_in_plain_text_is_refused_and_nothing_is_created(
    temporal: WorkflowEnvironment,
    shop: Storefront,
    admin: SandboxAdmin,
    unique: str,
    tmp_path: Path,
) -> None:
    document = order(f"plain-{unique}", new_customer(f"plain{unique}"), line(OFFICE_E3, 1))
    workflow_id = order_workflow_id(document.order_id)
    file = tmp_path / "order.json"
    file.write_text(document.model_dump_json())
    await start_order_with_cli(temporal, workflow_id, file)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.REFUSED
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.ORDER_NOT_ENCRYPTED
    assert "nothing was done in Partner Center" in outcome.refusal.message
    status = await shop.status(document.order_id)
    assert status.unencrypted_inputs == ["order"]
    await assert_no_customer_created(admin, f"plain{unique}")
    assert await failed_workflow_tasks(temporal.client, workflow_id) == 0


async def test_a_worker_on_the_development_switch_takes_plain_orders_and_says_so(
    temporal: WorkflowEnvironment, engine_sandbox: SandboxServer, unique: str
) -> None:
    queue = f"{TASK_QUEUE}-plain-{unique}"
    plain = await Client.connect(
        temporal.client.service_client.config.target_host,
        data_converter=data_converter(from_env=False),
    )
    async with (
        PartnerCenterClient.from_config(sandbox_client_config(engine_sandbox)) as pc,
        build_worker(plain, pc, engine_config_for_tests(), task_queue=queue),
    ):
        shop = Storefront(plain, task_queue=queue)
        document = order(f"devplain-{unique}", new_customer(f"devplain{unique}"))
        await shop.place_order(document)
        outcome = await shop.wait_for_outcome(document.order_id)
        assert outcome.phase is Phase.COMPLETED, outcome.refusal
        assert (await shop.status(document.order_id)).unencrypted_inputs == ["order"]


async def test_a_plain_tax_id_signal_is_taken_and_flagged(
    temporal: WorkflowEnvironment, shop: Storefront, unique: str
) -> None:
    document = russian_order(f"plaintax-{unique}", f"plaintax{unique}")
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.TAX_ID)
    assert (await shop.status(document.order_id)).unencrypted_inputs == []
    code, out = await temporal_cli(
        "workflow",
        "signal",
        "--address",
        temporal.client.service_client.config.target_host,
        "--workflow-id",
        order_workflow_id(document.order_id),
        "--name",
        "provide_tax_id",
        "--input",
        '{"tax_id": "7707083893"}',
    )
    assert code == 0, out
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    assert (await shop.status(document.order_id)).unencrypted_inputs == ["tax_id"]


# ------------------------------------------------------------------ poison payloads


def unknown_keys(count: int) -> str:
    return json.dumps({f"k{n}": 0 for n in range(count)}, separators=(",", ":"))


POISON_STARTS = {
    # 10 KB nested 5,000 levels deep
    "deep": "[" * 5000 + "]" * 5000,
    # 1.2 MB with 110,000 unknown keys: over the input limit
    "huge": unknown_keys(110_000),
    # 5,000 unknown keys, under the limit: the refusal keeps 20 problems and counts the rest
    "wide": unknown_keys(5000),
}


@pytest.mark.parametrize("kind", sorted(POISON_STARTS))
async def test_poison_start_inputs_end_in_a_refusal(
    temporal: WorkflowEnvironment, shop: Storefront, unique: str, tmp_path: Path, kind: str
) -> None:
    order_id = f"poison-{kind}-{unique}"
    workflow_id = order_workflow_id(order_id)
    file = tmp_path / "input.json"
    file.write_text(POISON_STARTS[kind])
    await start_order_with_cli(temporal, workflow_id, file)
    await eventually(lambda: closed(temporal.client, workflow_id), what=f"{workflow_id} closed")
    assert await failed_workflow_tasks(temporal.client, workflow_id) == 0
    # The SDK tells the truth: the order was refused as not valid, with a capped list of reasons.
    outcome = await shop.wait_for_outcome(order_id)
    assert outcome.phase is Phase.REFUSED and outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.INVALID_ORDER
    problems = outcome.refusal.details["problems"]
    if kind == "wide":
        assert len(problems) == 20
        # 5,000 unknown keys and the 4 required fields missing (order_id, customer, lines,
        # customer_agreement)
        assert outcome.refusal.details["more_problems"] == 5000 + 4 - 20
    else:
        assert problems == [
            {
                "field": "order",
                "reason": "could not be read: it must be JSON of at most 256 KB, nested at most "
                "a few hundred levels, sent as plain JSON or encrypted with a key the engine "
                "holds",
            }
        ]
    status = await shop.status(order_id)
    assert status.phase is Phase.REFUSED


async def test_a_forged_encrypted_signal_is_dropped_and_the_order_carries_on(
    temporal: WorkflowEnvironment, shop: Storefront, unique: str
) -> None:
    document = russian_order(f"forged-{unique}", f"forged{unique}")
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.TAX_ID)
    workflow_id = order_workflow_id(document.order_id)
    common = [
        "--address",
        temporal.client.service_client.config.target_host,
        "--workflow-id",
        workflow_id,
        "--name",
        "provide_tax_id",
        "--input-meta",
        "encoding=binary/encrypted",
        "--input-base64",
        "--input",
        base64.b64encode(b"garbage that claims to be encrypted" * 8).decode(),
    ]
    code, out = await temporal_cli("workflow", "signal", *common)
    assert code == 0, out
    code, out = await temporal_cli("workflow", "update", "execute", *common)
    assert code != 0, out
    # Still waiting, tasks healthy; a real tax ID then completes it.
    await asyncio.sleep(1)
    assert (await shop.status(document.order_id)).phase is Phase.WAITING_FOR_TAX_ID
    assert await failed_workflow_tasks(temporal.client, workflow_id) == 0
    await shop.provide_tax_id(document.order_id, "7707083893")
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    assert await failed_workflow_tasks(temporal.client, workflow_id) == 0


# ------------------------------------------------------------------ nudges


async def test_a_burst_of_relationship_nudges_costs_one_partner_center_check(
    temporal: WorkflowEnvironment,
    shop_with: Callable[[EngineConfig], Awaitable[Storefront]],
    admin: SandboxAdmin,
    unique: str,
) -> None:
    config = engine_config_for_tests()
    waits = config.waits.model_copy(
        update={
            "relationship_poll_every": timedelta(hours=1),
            "relationship_nudge_min_gap": timedelta(hours=1),
        }
    )
    shop = await shop_with(config.model_copy(update={"waits": waits}))
    domain = f"nudge{unique}.onmicrosoft.com"
    await admin.add_tenant(domain, "Nudged Corp")
    document = order(f"nudge-{unique}", existing_tenant(domain), line(OFFICE_E3, 1))
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.RELATIONSHIP)
    handle = temporal.client.get_workflow_handle(order_workflow_id(document.order_id))

    async def checks_and_signals() -> tuple[int, int]:
        events = (await handle.fetch_history()).events
        checks = sum(1 for e in events if activity_type(e) == m.FIND_CUSTOMER)
        signals = sum(
            1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        )
        return checks, signals

    checks_before, _ = await checks_and_signals()
    for _ in range(20):  # spaced out, so each could have cost a check of its own
        await shop.relationship_accepted(document.order_id)
        await asyncio.sleep(0.1)

    async def settled() -> bool:
        _, signals = await checks_and_signals()
        described = await handle.describe()
        return signals == 20 and not described.raw_description.pending_activities

    await eventually(settled, what="20 nudges taken, no activity pending")
    checks_after, _ = await checks_and_signals()
    assert checks_after - checks_before == 1
    # The order is unharmed: still waiting, and a cancellation is not held up by the gap.
    assert (await shop.status(document.order_id)).phase is Phase.WAITING_FOR_RELATIONSHIP
    await shop.cancel(document.order_id)
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.CANCELLED
    assert await failed_workflow_tasks(temporal.client, handle.id) == 0


async def test_a_start_or_signal_without_any_input_never_fails_a_workflow_task(
    temporal: WorkflowEnvironment, shop: Storefront, unique: str
) -> None:
    address = temporal.client.service_client.config.target_host
    # A start without --input: refused as unreadable, not a task failing on every retry.
    empty_id = order_workflow_id(f"noinput-{unique}")
    code, out = await temporal_cli(
        "workflow", "start", "--address", address, "--workflow-id", empty_id,
        "--type", "OrderWorkflow", "--task-queue", TASK_QUEUE,
    )  # fmt: skip
    assert code == 0, out
    await eventually(lambda: closed(temporal.client, empty_id), what=f"{empty_id} closed")
    outcome = await shop.wait_for_outcome(f"noinput-{unique}")
    assert outcome.refusal is not None and outcome.refusal.code is RefusalCode.INVALID_ORDER
    assert await failed_workflow_tasks(temporal.client, empty_id) == 0

    # Signals without input to a waiting order: dropped (tax ID) or taken as a nudge.
    document = russian_order(f"nosig-{unique}", f"nosig{unique}")
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.TAX_ID)
    workflow_id = order_workflow_id(document.order_id)
    for name in ("provide_tax_id", "relationship_accepted"):
        code, out = await temporal_cli(
            "workflow", "signal", "--address", address, "--workflow-id", workflow_id,
            "--name", name,
        )  # fmt: skip
        assert code == 0, out
    await shop.provide_tax_id(document.order_id, "7707083893")
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    assert await failed_workflow_tasks(temporal.client, workflow_id) == 0
