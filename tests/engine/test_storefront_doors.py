"""Honest answers at every door of the storefront SDK, on the real engine (dev server, worker,
sandbox; nothing of Temporal mocked): an id reused with other content is refused; an unknown id
is `OrderNotFound` from every method; with the worker stopped, an existing order is never "not
found" and no Temporal exception escapes; a terminated or timed-out run is a failed order
(ORDER_ABORTED), never a Partner Center refusal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from clients.contract import LicenceRequest, Submission, licences_workflow_id, order_workflow_id
from clients.partner_center import PartnerCenterClient
from clients.storefront import (
    CONTENT_MEMO,
    EngineBusy,
    InvalidPageToken,
    LicencesAborted,
    OrderIdConflict,
    OrderNotFound,
    RequestIdConflict,
    Storefront,
    StorefrontError,
    SyncStorefront,
)
from devtools.samples import (
    DYNAMICS_SALES,
    OFFICE_E3,
    known_customer,
    line,
    order,
    russian_order,
)
from devtools.sandbox_settings import sandbox_client_config
from ordering.refusals import RefusalCode
from ordering.status import Phase, WaitingFor
from ordering.validation import canonical_sha256
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.engine.partner_center_state import assert_no_customer_created, holdings
from tests.helpers import TASK_QUEUE, engine_config_for_tests, eventually, wait_for
from workers.worker import build_worker
from workflows.licences import LicencesWorkflow
from workflows.order import OrderWorkflow

SHORT = timedelta(seconds=2)  # how long a question waits for a worker in these tests


async def terminate_all_on(client: Client, queue: str) -> None:
    """Leave nothing running on a private task queue (orders and customer slots)."""
    query = f'TaskQueue = "{queue}" AND ExecutionStatus = "Running"'
    async for execution in client.list_workflows(query):
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(execution.id).terminate("test cleanup")


@pytest.fixture
async def stoppable(
    temporal: WorkflowEnvironment, engine_sandbox: SandboxServer
) -> AsyncIterator[tuple[Storefront, Callable[[], Awaitable[None]]]]:
    """A storefront served by its own worker (own task queue), and a way to stop that worker."""
    queue = f"doors-{uuid.uuid4().hex[:8]}"
    stack = contextlib.AsyncExitStack()
    pc = PartnerCenterClient.from_config(sandbox_client_config(engine_sandbox))
    stack.push_async_callback(pc.aclose)
    await stack.enter_async_context(
        build_worker(temporal.client, pc, engine_config_for_tests(), task_queue=queue)
    )
    shop = Storefront(temporal.client, task_queue=queue, answer_timeout=SHORT)
    try:
        yield shop, stack.aclose
    finally:
        await stack.aclose()
        await terminate_all_on(temporal.client, queue)


# ---------------------------------------------------------------------- idempotency conflicts


async def test_an_order_id_placed_again_with_other_content_is_refused(
    shop: Storefront, temporal: WorkflowEnvironment, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Twice", f"conflict{unique}.onmicrosoft.com")
    document = order(f"conflict-{unique}", known_customer(customer_id), line(OFFICE_E3, 2))
    workflow_id = await shop.place_order(document)

    # The same content, written differently (JSON text, lower-case country): the same order.
    same = document.model_dump(mode="json")
    same["customer"]["country"] = "us"
    assert await shop.place_order(json.dumps(same)) == workflow_id

    other = document.model_dump(mode="json")
    other["lines"][0]["quantity"] = 3
    with pytest.raises(OrderIdConflict) as conflict:
        await shop.place_order(other)
    assert conflict.value.refusal.code is RefusalCode.ORDER_ID_CONFLICT
    assert f"Order conflict-{unique} was already placed with different content" in str(
        conflict.value
    )

    # Still true once the order has ended.
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    assert await shop.place_order(document) == workflow_id
    with pytest.raises(OrderIdConflict):
        await shop.place_order(other)
    held = await holdings(admin, customer_id)  # the conflicting content bought nothing
    assert [(offer, quantity) for offer, quantity, _ in held.values()] == [
        ("CFQ7TTC0LF8Q:0001:CFQ7TTC0KF8Q", 2)
    ]

    # The memo keeps a SHA-256 of the canonical document: no personal data in it.
    description = await temporal.client.get_workflow_handle(workflow_id).describe()
    assert await description.memo_value(CONTENT_MEMO) == canonical_sha256(document)


async def test_an_order_started_without_the_memo_is_compared_by_its_input(
    temporal: WorkflowEnvironment, unique: str
) -> None:
    """A run started elsewhere (an older storefront, the `temporal` CLI) carries no content
    hash: its decrypted input is compared. Nobody serves this queue: nothing is bought."""
    queue = f"nobody-{unique}"
    shop = Storefront(temporal.client, task_queue=queue, answer_timeout=SHORT)
    document = russian_order(f"nomemo-{unique}", f"nomemo{unique}")
    await temporal.client.start_workflow(
        OrderWorkflow.run,
        Submission(document.model_dump(mode="json")),
        id=order_workflow_id(document.order_id),
        task_queue=queue,
    )
    try:
        assert await shop.place_order(document) == order_workflow_id(document.order_id)
        other = document.model_dump(mode="json")
        other["lines"][0]["quantity"] = 5
        with pytest.raises(OrderIdConflict) as conflict:
            await shop.place_order(other)
        assert conflict.value.refusal.code is RefusalCode.ORDER_ID_CONFLICT
    finally:
        await terminate_all_on(temporal.client, queue)


async def test_a_licence_request_id_reused_with_other_content_is_refused(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Lic", f"licconflict{unique}.onmicrosoft.com")
    instance = await admin.add_subscription(
        customer_id, f"{DYNAMICS_SALES}:CFQ7TTC0KHVK", quantity=10
    )
    other_instance = await admin.add_subscription(
        customer_id, f"{DYNAMICS_SALES}:CFQ7TTC0KHVK", quantity=10
    )
    request = LicenceRequest(
        request_id=f"lic-{unique}",
        customer_id=customer_id,
        subscription_id=instance["id"],
        quantity=5,
    )
    first = await shop.add_licences(request)
    assert (first.quantity_before, first.quantity_after) == (10, 15)
    assert await shop.add_licences(request) == first  # the same request: one change

    for change in (
        {"quantity": 6},
        {"subscription_id": other_instance["id"]},
        {"customer_id": "7d2c5b6c-0000-4e7a-9a1a-000000000001"},
    ):
        with pytest.raises(RequestIdConflict) as conflict:
            await shop.add_licences(request.model_copy(update=change))
        assert conflict.value.refusal.code is RefusalCode.REQUEST_ID_CONFLICT
        assert f"Licence request lic-{unique} was already made" in str(conflict.value)
    snapshot = await admin.snapshot()
    quantities = {s["id"]: s["quantity"] for s in snapshot["subscriptions"]}
    assert quantities[instance["id"]] == 15
    assert quantities[other_instance["id"]] == 10


# ---------------------------------------------------------------------- unknown ids


def unknown_id_calls(shop: Storefront, order_id: str) -> list[Awaitable[Any]]:
    return [
        shop.status(order_id),
        shop.provide_tax_id(order_id, "7707083893"),
        shop.relationship_accepted(order_id),
        shop.cancel(order_id),
        shop.wait_for_outcome(order_id),
    ]


def sync_unknown_id_calls(shop: SyncStorefront, order_id: str) -> list[Callable[[], Any]]:
    return [
        lambda: shop.status(order_id),
        lambda: shop.provide_tax_id(order_id, "7707083893"),
        lambda: shop.relationship_accepted(order_id),
        lambda: shop.cancel(order_id),
        lambda: shop.wait_for_outcome(order_id),
    ]


async def assert_not_found_everywhere(
    shop: Storefront, address: str, queue: str, unique: str
) -> None:
    order_id = f"unknown-{unique}"
    for call in unknown_id_calls(shop, order_id):
        with pytest.raises(OrderNotFound, match=f"There is no order {order_id}"):
            await call

    def sync_calls() -> list[str]:
        messages = []
        with SyncStorefront(address, task_queue=queue, answer_timeout=SHORT) as sync:
            for sync_call in sync_unknown_id_calls(sync, order_id):
                with pytest.raises(OrderNotFound) as caught:
                    sync_call()
                messages.append(str(caught.value))
        return messages

    assert await asyncio.to_thread(sync_calls) == [f"There is no order {order_id}."] * 5


async def test_an_unknown_order_id_is_not_found_at_every_door(
    shop: Storefront, temporal: WorkflowEnvironment, unique: str
) -> None:
    address = temporal.client.service_client.config.target_host
    await assert_not_found_everywhere(shop, address, TASK_QUEUE, unique)


async def test_a_storefront_lists_its_own_orders_and_refuses_a_token_it_never_gave(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    """`list_orders`: a storefront's orders only, by phase, newest first; a page token the
    SDK never gave out is `InvalidPageToken`, no other failure."""
    mine, theirs = shop.for_storefront(f"list-a-{unique}"), shop.for_storefront(f"list-b-{unique}")
    waiting = russian_order(f"list-{unique}", f"list{unique}")
    await mine.place_order(waiting)
    await wait_for(mine, waiting.order_id, WaitingFor.TAX_ID)

    async def listed() -> list[str] | None:
        page = await mine.list_orders(phase=Phase.WAITING_FOR_TAX_ID)
        return [o.order_id for o in page.orders] or None

    assert await eventually(listed, what="the order listed") == [waiting.order_id]
    assert (await theirs.list_orders()).orders == []
    with pytest.raises(InvalidPageToken):
        await mine.list_orders(page_token="a")
    await mine.cancel(waiting.order_id)
    await assert_no_customer_created(admin, f"list{unique}")


async def test_the_engines_credentials_refused_hold_the_order_until_they_are_fixed(
    temporal: WorkflowEnvironment, engine_sandbox: SandboxServer, admin: SandboxAdmin, unique: str
) -> None:
    """Microsoft's token endpoint refuses the worker's credentials (an expired client secret):
    no order is refused or failed for that. The order's step retries, and once a worker with
    the right credentials runs, the order completes."""
    customer_id = await admin.add_customer("Creds", f"creds{unique}.onmicrosoft.com")
    document = order(f"creds-{unique}", known_customer(customer_id), line(OFFICE_E3, 2))
    queue = f"doors-creds-{unique}"
    shop = Storefront(temporal.client, task_queue=queue, answer_timeout=SHORT)
    handle = temporal.client.get_workflow_handle(order_workflow_id(document.order_id))

    async def retried_on_a_timer() -> bool | None:
        history = await handle.fetch_history()
        return (
            any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events) or None
        )

    wrong = sandbox_client_config(engine_sandbox, client_secret=SecretStr("expired"))
    try:
        async with (
            PartnerCenterClient.from_config(wrong) as pc,
            build_worker(temporal.client, pc, engine_config_for_tests(), task_queue=queue),
        ):
            await shop.place_order(document)
            await eventually(retried_on_a_timer, what="the refused step retried")
            status = await shop.status(document.order_id)
        assert status.phase not in (Phase.REFUSED, Phase.FAILED, Phase.COMPLETED)
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
        assert await holdings(admin, customer_id) == {}

        async with (
            PartnerCenterClient.from_config(sandbox_client_config(engine_sandbox)) as pc,
            build_worker(temporal.client, pc, engine_config_for_tests(), task_queue=queue),
        ):
            outcome = await shop.wait_for_outcome(document.order_id)
    finally:
        await terminate_all_on(temporal.client, queue)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    held = await holdings(admin, customer_id)
    assert [quantity for _, quantity, _ in held.values()] == [2]


# ---------------------------------------------------------------------- the worker stopped


async def test_with_the_worker_stopped_every_door_answers_honestly(
    stoppable: tuple[Storefront, Callable[[], Awaitable[None]]],
    temporal: WorkflowEnvironment,
    admin: SandboxAdmin,
    unique: str,
) -> None:
    shop, stop_worker = stoppable
    client = temporal.client
    address = client.service_client.config.target_host
    waiting = russian_order(f"stopped-{unique}", f"stopped{unique}")
    await shop.place_order(waiting)
    await wait_for(shop, waiting.order_id, WaitingFor.TAX_ID)
    customer_id = await admin.add_customer("Done", f"done{unique}.onmicrosoft.com")
    done = order(f"done-{unique}", known_customer(customer_id), line(OFFICE_E3, 1))
    await shop.place_order(done)
    assert (await shop.wait_for_outcome(done.order_id)).phase is Phase.COMPLETED
    instance = await admin.add_subscription(
        customer_id, f"{DYNAMICS_SALES}:CFQ7TTC0KHVK", quantity=10
    )
    request = LicenceRequest(
        request_id=f"stopped-lic-{unique}",
        customer_id=customer_id,
        subscription_id=instance["id"],
        quantity=2,
    )
    added = await shop.add_licences(request)

    await stop_worker()

    # A running order: the engine is busy, with its last known phase; never "no order".
    with pytest.raises(EngineBusy) as busy:
        await shop.status(waiting.order_id)
    assert busy.value.last_known_phase is Phase.WAITING_FOR_TAX_ID
    assert f"order {waiting.order_id}" in str(busy.value)
    assert "waiting_for_tax_id" in str(busy.value)
    with pytest.raises(EngineBusy, match="the tax ID may not have been taken"):
        await shop.provide_tax_id(waiting.order_id, "7707083893")
    with pytest.raises(EngineBusy, match="the cancellation may not have been taken"):
        await shop.cancel(waiting.order_id)
    await shop.relationship_accepted(waiting.order_id)  # a signal: kept until a worker runs

    # An ended order is read from its history: no worker needed.
    ended = await shop.status(done.order_id)
    assert ended.phase is Phase.COMPLETED
    assert ended.customer_id == customer_id
    assert [line.quantity for line in ended.lines] == [1]
    assert (await shop.wait_for_outcome(done.order_id)).phase is Phase.COMPLETED

    # Placing needs no worker: the same content is the same order, other content a conflict.
    assert await shop.place_order(waiting) == order_workflow_id(waiting.order_id)
    other = waiting.model_dump(mode="json")
    other["lines"][0]["quantity"] = 9
    with pytest.raises(OrderIdConflict):
        await shop.place_order(other)
    fresh = russian_order(f"fresh-{unique}", f"fresh{unique}")
    await shop.place_order(fresh)
    with pytest.raises(EngineBusy) as received:
        await shop.status(fresh.order_id)
    assert received.value.last_known_phase is Phase.RECEIVED

    # A licence request that ended is answered from its history; other content is a conflict.
    assert await shop.add_licences(request) == added
    with pytest.raises(RequestIdConflict):
        await shop.add_licences(request.model_copy(update={"quantity": 3}))

    # Unknown ids are still unknown, from every method, sync and async.
    await assert_not_found_everywhere(shop, address, shop.task_queue, unique)

    def sync_status() -> StorefrontError:
        with SyncStorefront(address, task_queue=shop.task_queue, answer_timeout=SHORT) as sync:
            with pytest.raises(EngineBusy) as caught:
                sync.status(waiting.order_id)
            return caught.value

    assert isinstance(await asyncio.to_thread(sync_status), EngineBusy)

    # The storefront waiting for the outcome hears the operator's termination as a failure.
    outcome = asyncio.ensure_future(shop.wait_for_outcome(waiting.order_id))
    await client.get_workflow_handle(order_workflow_id(waiting.order_id)).terminate("ops")
    aborted = await outcome
    assert aborted.phase is Phase.FAILED
    assert aborted.refusal is not None
    assert aborted.refusal.code is RefusalCode.ORDER_ABORTED
    assert "terminated" in aborted.refusal.message


# ---------------------------------------------------------------------- runs that end without
#                                                                          an outcome of their own


async def test_a_terminated_order_is_failed_not_refused(
    shop: Storefront, temporal: WorkflowEnvironment, admin: SandboxAdmin, unique: str
) -> None:
    document = russian_order(f"term-{unique}", f"term{unique}")
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.TAX_ID)
    handle = temporal.client.get_workflow_handle(order_workflow_id(document.order_id))
    await handle.terminate("an operator stops it")

    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.FAILED
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.ORDER_ABORTED
    assert outcome.refusal.partner_center_code is None
    assert f"Order term-{unique} was stopped by an operator" in outcome.refusal.message
    assert [line.quantity for line in outcome.lines] == [2]  # as the order last recorded them
    await assert_no_customer_created(admin, f"term{unique}")  # stopped while waiting

    status = await shop.status(document.order_id)  # not "waiting_for_tax_id" any more
    assert status.phase is Phase.FAILED
    assert status.refusal == outcome.refusal
    assert status.waiting is None and not status.cancellable


async def test_a_timed_out_order_is_failed_not_refused(
    temporal: WorkflowEnvironment, unique: str
) -> None:
    """A run with an execution timeout nobody serves (nothing is bought) times out."""
    queue = f"nobody-{unique}"
    shop = Storefront(temporal.client, task_queue=queue, answer_timeout=SHORT)
    document = russian_order(f"timeout-{unique}", f"timeout{unique}")
    handle = await temporal.client.start_workflow(
        OrderWorkflow.run,
        Submission(document.model_dump(mode="json")),
        id=order_workflow_id(document.order_id),
        task_queue=queue,
        execution_timeout=timedelta(seconds=1),
    )
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.FAILED
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.ORDER_ABORTED
    assert "timed out" in outcome.refusal.message
    assert (await handle.describe()).status == WorkflowExecutionStatus.TIMED_OUT
    assert (await shop.status(document.order_id)).phase is Phase.FAILED


async def test_a_terminated_licence_request_is_aborted_not_refused(
    temporal: WorkflowEnvironment, unique: str
) -> None:
    queue = f"nobody-{unique}"
    shop = Storefront(temporal.client, task_queue=queue, answer_timeout=SHORT)
    request = LicenceRequest(
        request_id=f"abort-{unique}",
        customer_id="7d2c5b6c-0000-4e7a-9a1a-000000000002",
        subscription_id="sub-1",
        quantity=1,
    )
    adding = asyncio.ensure_future(shop.add_licences(request))
    handle = temporal.client.get_workflow_handle_for(
        LicencesWorkflow.run, licences_workflow_id(request.request_id)
    )

    async def started() -> bool:  # until the storefront has started the request
        with contextlib.suppress(Exception):
            await handle.describe()
            return True
        return False

    await eventually(started, timeout=10, every=0.05, what="the licence request started")
    await handle.terminate("ops")
    with pytest.raises(LicencesAborted) as aborted:
        await adding
    assert aborted.value.refusal.code is RefusalCode.ORDER_ABORTED
    assert f"Licence request abort-{unique} was stopped by an operator" in str(aborted.value)
