"""After the purchase, on a dev server with per-workflow time skipping (docs/LIFECYCLE.md): the
refund window of each purchase, cancellation and reduction within it and refused after it, a
failed payment undoing exactly its order, the storefront told before the window closes, and
reconciliation reporting a change made behind the engine's back.

The customer's subscriptions workflow keeps days of windows; its clock is moved on with
`fast_forward` (and the sandbox's Partner Center clock with it), so "day 3" is day 3 for both.
The worker talks to Temporal through a client of its own, without time skipping: the workflows
it starts (the customer's subscriptions workflow) move on only when the test says so."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.webhooks import WebhookEndpoint
from clients.contract import DRIFTED_SUBSCRIPTIONS, SEARCH_ATTRIBUTES
from clients.partner_center import PartnerCenterClient
from clients.payloads import data_converter
from clients.storefront import LifecycleRefused, Storefront
from clients.subscription_lifecycle import (
    SUBSCRIPTIONS_QUERY,
    CustomerSubscriptionsView,
    customer_subscriptions_workflow_id,
)
from devtools.samples import (
    BUSINESS_BASIC,
    BUSINESS_STANDARD,
    catalog_item,
    known_customer,
    line,
    new_customer,
    order,
)
from devtools.sandbox_settings import sandbox_client_config
from devtools.temporal_cli import temporal_binary
from devtools.webhook_inbox import WebhookInbox
from ordering.refusals import RefusalCode
from ordering.status import Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import BackgroundServer
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from tests.engine.partner_center_state import holdings
from tests.helpers import engine_config_for_tests, eventually
from workers.reconciliation_schedule import ensure_reconciliation_schedule
from workers.worker import build_worker

QUEUE = "csp-orders-refund-windows"
STOREFRONT = "lifecycle-shop"
SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtbGlmZWN5Y2xlLXRlc3Rz"
NOTICE = timedelta(hours=24)
DAY = timedelta(days=1)
LIFECYCLE_DOC = Path(__file__).parent.parent.parent / "docs" / "LIFECYCLE.md"


@dataclass
class Engine:
    env: WorkflowEnvironment
    shop: Storefront  # no storefront's (the SDK alone)
    storefront: Storefront  # `lifecycle-shop`'s, with a webhook
    admin: SandboxAdmin
    inbox: WebhookInbox
    worker_client: Client
    on_sandbox_time: set[str] = field(default_factory=set)  # customers whose clock was set

    async def subscriptions_of(self, customer_id: str) -> WorkflowHandle[Any, Any]:
        handle = self.worker_client.get_workflow_handle(
            customer_subscriptions_workflow_id(customer_id)
        )

        async def started() -> bool:
            try:
                await handle.describe()
            except Exception:
                return False
            return True

        await eventually(started, timeout=30, what="the customer's subscriptions workflow")
        return handle

    async def days_pass(self, customer_id: str, days: float) -> None:
        """`days` pass for Partner Center and for the customer's subscriptions workflow (a
        new one, on the wall clock until now), whose clock is first set to Partner Center's
        (the sandbox's clock is ahead by what earlier tests moved it on)."""
        handle = await self.subscriptions_of(customer_id)
        ahead = timedelta(0)
        if customer_id not in self.on_sandbox_time:
            ahead = await self.admin.clock() - datetime.now(UTC)
            self.on_sandbox_time.add(customer_id)
        await self.admin.advance_clock(timedelta(days=days).total_seconds())
        assert await self.env.fast_forward(handle, ahead + timedelta(days=days))

    async def view(self, customer_id: str) -> CustomerSubscriptionsView:
        handle = await self.subscriptions_of(customer_id)
        view: CustomerSubscriptionsView = await handle.query(
            SUBSCRIPTIONS_QUERY, result_type=CustomerSubscriptionsView
        )
        return view


@pytest.fixture(scope="module")
def lifecycle_sandbox() -> Iterator[SandboxServer]:
    # A sandbox of its own: its clock is moved forward days here, never back (its tokens
    # outlive the days moved on, so no request is sent twice for a token renewed).
    settings = SandboxSettings(provisioning_delay_seconds=0, token_lifetime_seconds=400 * 86_400)
    with SandboxServer(settings) as server:
        yield server


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[WebhookInbox, str]]:
    received = WebhookInbox(secret=SECRET)
    with BackgroundServer(received.app(), name="webhook inbox") as server:
        yield received, server.base_url


@pytest.fixture(scope="module")
async def engine(
    lifecycle_sandbox: SandboxServer, inbox: tuple[WebhookInbox, str]
) -> AsyncIterator[Engine]:
    env = await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=data_converter(),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.WorkflowTimeSkippingEnabled=true",
        ],
    )
    worker_client = await Client.connect(
        env.client.service_client.config.target_host, data_converter=data_converter()
    )
    config = engine_config_for_tests().model_copy(update={"refund_window_notice": NOTICE})
    hooks = {STOREFRONT: WebhookEndpoint(url=f"{inbox[1]}/webhooks", secret=SecretStr(SECRET))}
    admin = SandboxAdmin(lifecycle_sandbox.base_url)
    async with (
        PartnerCenterClient.from_config(sandbox_client_config(lifecycle_sandbox)) as pc,
        build_worker(worker_client, pc, config, task_queue=QUEUE, webhook_endpoints=hooks),
    ):
        shop = Storefront(env.client, task_queue=QUEUE)
        yield Engine(env, shop, shop.for_storefront(STOREFRONT), admin, inbox[0], worker_client)
    await admin.aclose()
    await env.shutdown()


async def bought(shop: Storefront, order_id: str, customer: dict[str, Any], *lines: Any) -> Any:
    await shop.place_order(order(order_id, customer, *lines))
    outcome = await shop.wait_for_outcome(order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    return outcome


async def customer_with_basic(admin: SandboxAdmin, unique: str, seats: int) -> tuple[str, str]:
    """A customer of the partner's with a monthly Business Basic of `seats`."""
    customer_id = await admin.add_customer(f"Life {unique}", f"life{unique}.onmicrosoft.com")
    subscription = await admin.add_subscription(
        customer_id, catalog_item(BUSINESS_BASIC), quantity=seats, billingCycle="monthly"
    )
    return customer_id, str(subscription["id"])


def near(moment: datetime | None, expected: datetime) -> bool:
    return moment is not None and abs(moment - expected) < timedelta(minutes=1)


# ---------------------------------------------------------------------- the window


async def test_cancel_on_day_3_works_and_the_window_is_on_the_outcome(
    engine: Engine, unique: str
) -> None:
    sandbox_now = await engine.admin.clock()
    outcome = await bought(
        engine.shop, f"rw-c3-{unique}", new_customer(f"rwc{unique}"), line(BUSINESS_STANDARD, 2)
    )
    [bought_line] = outcome.lines
    # As Partner Center reported it: 168 hours from the purchase.
    assert near(bought_line.refund_window_closes_at, sandbox_now + timedelta(hours=168))
    customer_id = str(outcome.customer_id)
    await engine.days_pass(customer_id, 3)

    await engine.admin.clear_calls()
    change = await engine.shop.cancel_subscription(f"rw-c3-{unique}", 0)
    # two Partner Center requests: the subscription read (its count checked), the cancellation
    assert await engine.admin.calls() == {
        "GET /v1/customers/{customer_id}/subscriptions/{subscription_id}": 1,
        "PATCH /v1/customers/{customer_id}/subscriptions/{subscription_id}": 1,
    }

    assert change.cancelled and change.subscription_id == bought_line.subscription_id
    held = await holdings(engine.admin, customer_id)
    assert held[str(bought_line.subscription_id)][2] == "deleted"
    view = await engine.view(customer_id)
    assert [s.status for s in view.expected] == ["deleted"]
    again = await _refused(engine.shop.cancel_subscription(f"rw-c3-{unique}", 0))
    assert again.code is RefusalCode.SUBSCRIPTION_NOT_ACTIVE


async def test_cancel_on_day_8_is_refused_with_a_sentence(engine: Engine, unique: str) -> None:
    outcome = await bought(
        engine.shop, f"rw-c8-{unique}", new_customer(f"rwd{unique}"), line(BUSINESS_STANDARD, 2)
    )
    customer_id = str(outcome.customer_id)
    subscription_id = str(outcome.lines[0].subscription_id)
    await engine.days_pass(customer_id, 8)

    refusal = await _refused(engine.shop.cancel_subscription(f"rw-c8-{unique}", 0))

    assert refusal.code is RefusalCode.REFUND_WINDOW_CLOSED
    assert "closed" in refusal.message and subscription_id in refusal.message
    assert refusal.partner_center_code is None  # the engine's record refused: nobody asked
    held = await holdings(engine.admin, customer_id)
    assert held[subscription_id][1:] == (2, "active")  # untouched


async def test_a_reduction_within_the_window_takes_back_only_the_orders_licences(
    engine: Engine, unique: str
) -> None:
    customer_id, subscription_id = await customer_with_basic(engine.admin, unique, seats=5)
    outcome = await bought(
        engine.shop, f"rw-r-{unique}", known_customer(customer_id), line(BUSINESS_BASIC, 3)
    )
    assert outcome.lines[0].quantity_after == 8
    await engine.days_pass(customer_id, 2)

    too_many = await _refused(engine.shop.reduce_licences(f"rw-r-{unique}", 0, 4))
    assert too_many.code is RefusalCode.QUANTITY_REDUCTION_NOT_ALLOWED
    assert (await holdings(engine.admin, customer_id))[subscription_id][1] == 8

    await engine.admin.clear_calls()
    change = await engine.shop.reduce_licences(f"rw-r-{unique}", 0, 2, request_id="r1")
    assert await engine.admin.calls() == {  # the read, the new total (shown at once)
        "GET /v1/customers/{customer_id}/subscriptions/{subscription_id}": 1,
        "PATCH /v1/customers/{customer_id}/subscriptions/{subscription_id}": 1,
    }

    assert (change.quantity_before, change.quantity_after) == (8, 6)
    # asked again with its request id (a storefront retrying after a timeout): the same change,
    # answered once more, never a second reduction
    retried = await engine.shop.reduce_licences(f"rw-r-{unique}", 0, 2, request_id="r1")
    assert retried == change
    assert (await holdings(engine.admin, customer_id))[subscription_id][1:] == (6, "active")
    last = await engine.shop.reduce_licences(f"rw-r-{unique}", 0, 1)
    assert last.quantity_after == 5  # the customer's own 5 stay
    none_left = await _refused(engine.shop.reduce_licences(f"rw-r-{unique}", 0, 1))
    assert none_left.code is RefusalCode.QUANTITY_REDUCTION_NOT_ALLOWED
    assert (await holdings(engine.admin, customer_id))[subscription_id][1] == 5


async def test_payment_failed_on_day_2_undoes_exactly_that_order(
    engine: Engine, unique: str
) -> None:
    customer_id, basic = await customer_with_basic(engine.admin, unique, seats=5)
    await bought(
        engine.shop, f"rw-a-{unique}", known_customer(customer_id), line(BUSINESS_BASIC, 3)
    )
    failed = await bought(
        engine.shop,
        f"rw-b-{unique}",
        known_customer(customer_id),
        line(BUSINESS_BASIC, 2),
        line(BUSINESS_STANDARD, 4),
    )
    standard = str(failed.lines[1].subscription_id)
    assert (await holdings(engine.admin, customer_id))[basic][1] == 10
    await engine.days_pass(customer_id, 2)

    undone = await engine.shop.payment_failed(f"rw-b-{unique}")

    assert undone.not_undone == []
    assert {(c.line, c.cancelled) for c in undone.undone} == {(0, False), (1, True)}
    held = await holdings(engine.admin, customer_id)
    assert held[basic][1:] == (8, "active")  # the customer's 5 and order A's 3 stay
    assert held[standard][2] == "deleted"
    twice = await engine.shop.payment_failed(f"rw-b-{unique}")  # told again: the same answer
    assert twice == undone
    assert await holdings(engine.admin, customer_id) == held  # and nothing more undone


async def _refused(call: Any) -> Any:
    with pytest.raises(LifecycleRefused) as refused:
        await call
    return refused.value.refusal


# ---------------------------------------------------------------------- the storefront is told


async def test_the_closing_window_webhook_fires_at_the_configured_time(
    engine: Engine, unique: str
) -> None:
    order_id = f"rw-w-{unique}"
    outcome = await bought(
        engine.storefront, order_id, new_customer(f"rww{unique}"), line(BUSINESS_STANDARD, 1)
    )
    customer_id = str(outcome.customer_id)
    closes_at = outcome.lines[0].refund_window_closes_at
    assert closes_at is not None

    def told(kind: str) -> list[dict[str, Any]]:
        return [e for e in engine.inbox.of(order_id) if e["type"] == kind]

    def arrived(kind: str) -> Callable[[], Awaitable[list[dict[str, Any]] | None]]:
        async def check() -> list[dict[str, Any]] | None:
            return told(kind) or None

        return check

    await engine.days_pass(customer_id, 5.5)  # 6 days before the window closes: not yet
    assert told("subscription.cancellation_window_closing") == []
    await engine.days_pass(customer_id, 1)  # 6.5 days: within the notice's 24 hours

    [closing] = await eventually(
        arrived("subscription.cancellation_window_closing"),
        timeout=60,
        what="the closing webhook",
    )
    assert closing["storefront"] == STOREFRONT and closing["customer_id"] == customer_id
    assert closing["subscription_id"] == outcome.lines[0].subscription_id
    assert _at(closing["window_closes_at"]) == closes_at
    # fired at the configured time: the notice's hours before the window closes (the
    # workflow's clock was set to Partner Center's to within a second or so)
    assert near(_at(closing["occurred_at"]), closes_at - NOTICE)
    assert told("subscription.cancellation_window_closed") == []
    view = await engine.view(customer_id)
    assert [(p.line, p.closing_told, p.closed_told) for p in view.watched] == [(0, True, False)]

    await engine.days_pass(customer_id, 1)
    [closed] = await eventually(
        arrived("subscription.cancellation_window_closed"),
        timeout=60,
        what="the closed webhook",
    )
    assert near(_at(closed["occurred_at"]), closes_at)
    assert closed["sequence"] == closing["sequence"] + 1
    refused = await _refused(engine.storefront.cancel_subscription(order_id, 0))
    assert refused.code is RefusalCode.REFUND_WINDOW_CLOSED
    assert (await holdings(engine.admin, customer_id))[str(outcome.lines[0].subscription_id)][
        1:
    ] == (1, "active")


# ---------------------------------------------------------------------- reconciliation


async def test_reconciliation_reports_a_change_made_behind_the_engines_back(
    engine: Engine, unique: str
) -> None:
    customer_id, basic = await customer_with_basic(engine.admin, unique, seats=5)
    order_id = f"rw-d-{unique}"
    await bought(engine.storefront, order_id, known_customer(customer_id), line(BUSINESS_BASIC, 2))
    handle = await engine.subscriptions_of(customer_id)
    # Changed in Partner Center directly (not through the engine): 7 licences become 4.
    await engine.admin.change_subscription(customer_id, basic, quantity=4)

    schedule_id = await ensure_reconciliation_schedule(
        engine.worker_client, QUEUE, engine_config_for_tests()
    )
    await engine.worker_client.get_schedule_handle(schedule_id).trigger()

    async def drifted() -> list[str] | None:
        description = await handle.describe()
        found = description.typed_search_attributes.get(DRIFTED_SUBSCRIPTIONS)
        return list(found) if found else None

    assert await eventually(drifted, timeout=60, what="the drift reported") == [basic]
    view = await engine.view(customer_id)
    [drift] = view.drifts
    assert (drift.expected_quantity, drift.held_quantity) == (7, 4)
    # never overwritten: the record still says what the engine's orders left, and Partner
    # Center still holds what was changed there
    assert [(s.subscription_id, s.quantity) for s in view.expected] == [(basic, 7)]
    assert (await holdings(engine.admin, customer_id))[basic][1] == 4

    async def drift_told() -> list[dict[str, Any]] | None:
        return [
            e
            for e in engine.inbox.events
            if e["type"] == "subscription.drifted" and e["customer_id"] == customer_id
        ] or None

    [event] = await eventually(
        drift_told,
        timeout=60,
        what="the drift webhook",
    )
    assert event["drift"]["held_quantity"] == 4 and event["subscription_id"] == basic
    # and a change the engine would make on it is refused rather than made on a wrong count
    refused = await _refused(engine.storefront.reduce_licences(order_id, 0, 1))
    assert refused.code is RefusalCode.SUBSCRIPTION_DRIFTED
    assert (await holdings(engine.admin, customer_id))[basic][1] == 4

    # An operator accepts Partner Center's count (docs/LIFECYCLE.md, with the `temporal` CLI):
    # the record becomes 4, the drift is cleared, and the order's licences can be reduced again.
    accept = (
        "temporal workflow update start --wait-for-stage accepted "
        f"--workflow-id subscriptions-{customer_id} "
        f'--name accept_drift --input \'{{"subscription_id": "{basic}"}}\''
    )
    assert " ".join(accept.split()).replace(customer_id, "<customer id>").replace(
        basic, "<subscription id>"
    ) in " ".join(LIFECYCLE_DOC.read_text().split())
    process = await asyncio.create_subprocess_exec(
        temporal_binary(),
        *shlex.split(accept)[1:],
        "--address",
        engine.env.client.service_client.config.target_host,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, (out + err).decode()

    async def accepted() -> bool:  # (the CLI returns once the update is accepted)
        return await drifted() is None

    await eventually(accepted, timeout=30, what="the drift accepted")
    view = await engine.view(customer_id)
    assert (view.drifts, [(s.subscription_id, s.quantity) for s in view.expected]) == (
        [],
        [(basic, 4)],
    )
    change = await engine.storefront.reduce_licences(order_id, 0, 1)
    assert (change.quantity_before, change.quantity_after) == (4, 3)
    assert (await holdings(engine.admin, customer_id))[basic][1] == 3


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_later_order_finding_a_change_made_outside_never_lets_a_cancel_take_its_licences(
    engine: Engine, unique: str
) -> None:
    """Order A creates a subscription of 5; it is lowered to 3 in Partner Center directly; order
    B adds 2 (Partner Center: 5). The record says what the orders bought (7), not what B found:
    the drift is reported at once, and A's cancellation (which would take B's 2) is refused."""
    first = await bought(
        engine.shop, f"rw-x-{unique}", new_customer(f"rwx{unique}"), line(BUSINESS_STANDARD, 5)
    )
    customer_id = str(first.customer_id)
    standard = str(first.lines[0].subscription_id)
    await engine.subscriptions_of(customer_id)
    await engine.admin.change_subscription(customer_id, standard, quantity=3)
    await bought(
        engine.shop, f"rw-y-{unique}", known_customer(customer_id), line(BUSINESS_STANDARD, 2)
    )
    assert (await holdings(engine.admin, customer_id))[standard][1] == 5

    view = await engine.view(customer_id)
    assert [(s.subscription_id, s.quantity) for s in view.expected] == [(standard, 7)]
    assert [(d.expected_quantity, d.held_quantity) for d in view.drifts] == [(7, 5)]
    refused = await _refused(engine.shop.cancel_subscription(f"rw-x-{unique}", 0))
    assert refused.code in (RefusalCode.SUBSCRIPTION_DRIFTED, RefusalCode.OTHER_ORDERS_LICENCES)
    undone = await engine.shop.payment_failed(f"rw-x-{unique}")
    assert undone.undone == [] and [n.refusal.code for n in undone.not_undone] == [
        RefusalCode.SUBSCRIPTION_DRIFTED
    ]
    assert (await holdings(engine.admin, customer_id))[standard][1:] == (5, "active")


async def test_a_change_microsoft_refused_once_can_be_asked_again(
    engine: Engine, unique: str
) -> None:
    """Each change asked is a request of its own: Microsoft's refusal of one is never the answer
    to the next (a retried one, though, is the same request)."""
    customer_id, basic = await customer_with_basic(engine.admin, unique, seats=5)
    order_id = f"rw-m-{unique}"
    await bought(engine.shop, order_id, known_customer(customer_id), line(BUSINESS_BASIC, 3))
    await engine.admin.refuse_next(
        "PATCH /v1/customers/{customer_id}/subscriptions/{subscription_id}",
        400,
        800090,
        "Subscription quantity cannot be decreased.",
    )
    refused = await _refused(engine.shop.reduce_licences(order_id, 0, 2))
    assert (refused.code, refused.partner_center_code) == (
        RefusalCode.QUANTITY_REDUCTION_NOT_ALLOWED,
        "800090",
    )
    assert (await holdings(engine.admin, customer_id))[basic][1] == 8
    change = await engine.shop.reduce_licences(order_id, 0, 2)
    assert change.quantity_after == 6
    assert (await holdings(engine.admin, customer_id))[basic][1] == 6
