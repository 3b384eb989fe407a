"""Signed webhooks to storefronts (docs/WEBHOOKS.md): a storefront's orders and licence requests
tell it where they stand, signed as Standard Webhooks says, at least once (the same webhook-id on
every attempt), in sequence per order, delivered by the engine's worker to a receiver on
loopback; a delivery that finally fails is visible to operators; an order no storefront placed
sends nothing."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.webhooks import WebhookEndpoint
from clients.contract import (
    LicenceRequest,
    WebhookDeliveryReport,
    order_workflow_id,
    webhooks_workflow_id,
)
from clients.partner_center import PartnerCenterClient
from clients.storefront import LicencesAborted, LicencesRefused, Storefront
from devtools.samples import (
    EDUCATION_A1,
    OFFICE_E3,
    VALID_RU_TAX_ID,
    known_customer,
    line,
    new_customer,
    order,
    russian_order,
)
from devtools.sandbox_settings import sandbox_client_config
from ordering.config import EngineConfig, WebhookSchedule
from ordering.refusals import RefusalCode
from ordering.status import Phase, WaitingFor
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import BackgroundServer, free_port
from sandbox.server import SandboxServer
from tests.engine.partner_center_state import assert_no_customer_created, holdings, orders_of
from tests.helpers import (
    connect_client,
    engine_config_for_tests,
    eventually,
    wait_for,
    worker_env,
)
from workers.metrics import prometheus_runtime
from workers.storefronts import StorefrontsFile
from workers.worker import WORKFLOWS, build_worker

QUICK = WebhookSchedule(
    attempt_timeout=timedelta(seconds=5),
    first_retry_after=timedelta(milliseconds=200),
    longest_retry_interval=timedelta(seconds=1),
    give_up_after=timedelta(minutes=2),
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None  # None: never answered (the receiver was holding it)


class Receiver:
    """A storefront's webhook endpoint on loopback, one behaviour per path: `/ok` answers 204,
    `/flaky` 500 to an event's first attempt and 200 after, `/down` 500 always, `/hold` keeps
    an event's first attempt unanswered until `release()`. It keeps every request."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.holding = False
        self.app = Starlette(routes=[Route("/{behaviour}", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        behaviour = request.path_params["behaviour"]
        seen = Received(behaviour, dict(request.headers), await request.body(), None)
        before = [r for r in self.received if r.headers["webhook-id"] == seen.headers["webhook-id"]]
        self.received.append(seen)
        status = 204
        if (behaviour == "flaky" and not before) or behaviour == "down":
            status = 500
        elif behaviour == "flaky":
            status = 200
        elif behaviour == "hold" and not before:
            self.holding = True
            while self.holding:
                await asyncio.sleep(0.05)
        seen.answered = status
        return Response(status_code=status)

    def release(self) -> None:
        self.holding = False

    def events(self, behaviour: str, **match: Any) -> list[tuple[Received, dict[str, Any]]]:
        """The requests to `behaviour` whose event has the `match`ed fields, oldest first."""
        found = []
        for r in self.received:
            body = json.loads(r.body)
            if r.path == behaviour and all(body.get(k) == v for k, v in match.items()):
                found.append((r, body))
        return found


SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
STOREFRONTS = {"shop-a": "ok", "shop-flaky": "flaky", "shop-down": "down", "shop-hold": "hold"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    hooks = Receiver()
    with BackgroundServer(hooks.app, name="webhook receiver") as server:
        yield hooks, server.base_url


def endpoints(base_url: str) -> dict[str, WebhookEndpoint]:
    return {
        shop: WebhookEndpoint(
            url=f"{base_url}/{path}?token=not-to-be-logged", secret=SecretStr(SECRET)
        )
        for shop, path in STOREFRONTS.items()
    }


@contextlib.asynccontextmanager
async def webhook_worker(
    client: Client,
    sandbox: SandboxServer,
    base_url: str,
    *,
    task_queue: str,
    schedule: WebhookSchedule = QUICK,
    provisioning_expires_after: timedelta | None = None,
    reads_up_to: int | None = None,
) -> AsyncIterator[Storefront]:
    """A worker of its own that sends the webhooks to `base_url`; `provisioning_expires_after`:
    how long it waits for Microsoft to carry out a change; `reads_up_to`: the most bytes of an
    answer its Partner Center client reads."""
    config: EngineConfig = engine_config_for_tests().model_copy(update={"webhooks": schedule})
    if provisioning_expires_after is not None:
        waits = config.waits.model_copy(
            update={"provisioning_expires_after": provisioning_expires_after}
        )
        config = config.model_copy(update={"waits": waits})
    reading: dict[str, Any] = {} if reads_up_to is None else {"max_response_bytes": reads_up_to}
    async with (
        PartnerCenterClient.from_config(sandbox_client_config(sandbox, **reading)) as pc,
        build_worker(
            client, pc, config, task_queue=task_queue, webhook_endpoints=endpoints(base_url)
        ),
    ):
        yield Storefront(client, task_queue=task_queue)


@pytest.fixture
async def engine(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    receiver: tuple[Receiver, str],
    unique: str,
) -> AsyncIterator[Storefront]:
    async with webhook_worker(
        temporal.client, engine_sandbox, receiver[1], task_queue=f"webhooks-{unique}"
    ) as shop:
        yield shop


async def delivered(
    hooks: Receiver, behaviour: str, count: int, **match: Any
) -> list[tuple[Received, dict[str, Any]]]:
    """The first `count` acknowledged events to `behaviour` matching `match`, once there."""

    async def there() -> list[tuple[Received, dict[str, Any]]] | None:
        found = [(r, b) for r, b in hooks.events(behaviour, **match) if r.answered in (200, 204)]
        return found if len(found) >= count else None

    return await eventually(there, timeout=60, what=f"{count} event(s) {match} at /{behaviour}")


async def told(
    hooks: Receiver, order_id: str, types: list[str], *, personal: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The order's events at `/ok`, once there: each signed, under an id of its own, of the
    `types` in that order with sequence 1, 2, ... in the order they arrived, none of them
    carrying any of the `personal` values."""
    events = await delivered(hooks, "ok", len(types), order_id=order_id)
    for request, body in events:
        assert Webhook(SECRET).verify(request.body, request.headers) == body
    assert [(b["type"], b["sequence"]) for _, b in events] == [
        (kind, n) for n, kind in enumerate(types, start=1)
    ]
    assert len({r.headers["webhook-id"] for r, _ in events}) == len(types)
    sent = b" ".join(r.body for r, _ in events).lower()
    for value in personal:
        assert value.lower().encode() not in sent, value
    return [body for _, body in events]


# A sample new customer's personal values (devtools/samples.py), besides its domain prefix.
SAMPLE_PERSONAL = ("it@example.com", "ada@example.com", "lovelace", "555 0100")


async def report_of(client: Client, workflow_id: str) -> WebhookDeliveryReport:
    handle = client.get_workflow_handle(
        webhooks_workflow_id(workflow_id), result_type=WebhookDeliveryReport
    )
    return await asyncio.wait_for(handle.result(), 60)


# ---------------------------------------------------------------------- signed, and what they say


async def test_events_are_signed_and_a_tampered_body_is_rejected(
    engine: Storefront,
    client: Client,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
) -> None:
    hooks, _ = receiver
    shop = engine.for_storefront("shop-a")
    customer_id = await admin.add_customer("Hooks", f"hooks{unique}.onmicrosoft.com")
    document = order(f"signed-{unique}", known_customer(customer_id), line(OFFICE_E3, 2))
    workflow_id = await shop.place_order(document)
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED

    [(request, body)] = await delivered(hooks, "ok", 1, order_id=document.order_id)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"].startswith("msg_")
    verified = Webhook(SECRET).verify(request.body, request.headers)
    assert verified == body
    assert body["type"] == "order.completed"
    assert (body["storefront"], body["sequence"], body["phase"]) == ("shop-a", 1, "completed")
    assert body["customer_id"] == customer_id
    [sent_line] = body["lines"]
    assert (sent_line["offer"], sent_line["quantity"], sent_line["state"]) == (
        OFFICE_E3,
        2,
        "fulfilled",
    )
    assert sent_line["subscription_id"]
    assert "problem" not in sent_line and "title" not in sent_line

    tampered = request.body.replace(b'"quantity":2', b'"quantity":200')
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, request.headers)
    other_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(request.body, request.headers)

    report = await report_of(client, workflow_id)
    assert (report.delivered, report.failed) == (1, [])


async def test_a_waiting_order_tells_it_waits_then_that_it_completed_in_sequence(
    engine: Storefront, receiver: tuple[Receiver, str], unique: str
) -> None:
    hooks, _ = receiver
    shop = engine.for_storefront("shop-a")
    document = russian_order(f"ru-{unique}", f"ru{unique}")
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.TAX_ID)
    [(_, waiting)] = await delivered(hooks, "ok", 1, order_id=document.order_id)
    assert (waiting["type"], waiting["sequence"]) == ("order.waiting_for_tax_id", 1)
    assert waiting["phase"] == "waiting_for_tax_id"

    await shop.provide_tax_id(document.order_id, VALID_RU_TAX_ID)
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    events = await delivered(hooks, "ok", 2, order_id=document.order_id)
    assert [(b["type"], b["sequence"]) for _, b in events] == [
        ("order.waiting_for_tax_id", 1),
        ("order.completed", 2),
    ]
    assert len({r.headers["webhook-id"] for r, _ in events}) == 2
    sent = b" ".join(r.body for r, _ in events).lower()
    for personal in (VALID_RU_TAX_ID, f"ru{unique}", "it@example.com", "lovelace", "tverskaya"):
        assert personal.encode() not in sent, personal


async def test_a_refusal_tells_its_code_and_sentence_without_the_customers_domain(
    engine: Storefront, admin: SandboxAdmin, receiver: tuple[Receiver, str], unique: str
) -> None:
    hooks, _ = receiver
    shop = engine.for_storefront("shop-a")
    domain = f"taken{unique}.onmicrosoft.com"
    await admin.add_tenant(domain, "Taken Inc")
    document = order(f"taken-{unique}", new_customer(f"taken{unique}"))
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None and domain in outcome.refusal.message  # the shop's own view

    [(request, body)] = await delivered(hooks, "ok", 1, order_id=document.order_id)
    assert (body["type"], body["phase"]) == ("order.refused", "refused")
    assert body["refusal_code"] == RefusalCode.DOMAIN_TAKEN.value
    assert "already in use" in body["refusal_message"]
    assert f"taken{unique}".encode() not in request.body


async def test_licence_requests_tell_how_they_ended(
    engine: Storefront, admin: SandboxAdmin, receiver: tuple[Receiver, str], unique: str
) -> None:
    hooks, _ = receiver
    shop = engine.for_storefront("shop-a")
    customer_id = await admin.add_customer("Lic", f"lichooks{unique}.onmicrosoft.com")
    document = order(f"lic-order-{unique}", known_customer(customer_id), line(OFFICE_E3, 2))
    await shop.place_order(document)
    subscription_id = str((await shop.wait_for_outcome(document.order_id)).lines[0].subscription_id)

    added = await shop.add_licences(
        LicenceRequest(
            request_id=f"lic-{unique}",
            customer_id=customer_id,
            subscription_id=subscription_id,
            quantity=3,
        )
    )
    [(_, body)] = await delivered(hooks, "ok", 1, request_id=f"lic-{unique}")
    assert (body["type"], body["sequence"], body["order_id"]) == ("licences.completed", 1, None)
    assert body["customer_id"] == customer_id
    [sent_line] = body["lines"]
    assert (sent_line["subscription_id"], sent_line["quantity"]) == (subscription_id, 3)
    assert (sent_line["quantity_before"], sent_line["quantity_after"]) == (
        added.quantity_before,
        added.quantity_after,
    )

    with pytest.raises(LicencesRefused):
        await shop.add_licences(
            LicenceRequest(
                request_id=f"lic-none-{unique}",
                customer_id=customer_id,
                subscription_id="no-such-subscription",
                quantity=1,
            )
        )
    [(_, refused)] = await delivered(hooks, "ok", 1, request_id=f"lic-none-{unique}")
    assert refused["type"] == "licences.refused"
    assert refused["refusal_code"] == RefusalCode.SUBSCRIPTION_NOT_FOUND.value
    held = [x for x in (await admin.snapshot())["subscriptions"] if x["id"] == subscription_id]
    assert held[0]["quantity"] == added.quantity_after, "the refused request changed nothing"


async def test_a_licence_request_the_engine_gives_up_on_says_it_failed(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
) -> None:
    """Microsoft takes the change but does not carry it out in the time the engine waits: the
    request's run fails (no refusal), and its storefront hears `licences.failed`, never
    nothing."""
    hooks, base_url = receiver
    customer_id = await admin.add_customer("Slow", f"slowlic{unique}.onmicrosoft.com")
    subscription = await admin.add_subscription(
        customer_id, "CFQ7TTC0LHVK:0001:CFQ7TTC0KHVK", quantity=3
    )
    async with webhook_worker(
        temporal.client,
        engine_sandbox,
        base_url,
        task_queue=f"webhooks-slow-{unique}",
        provisioning_expires_after=timedelta(seconds=2),
    ) as shop:
        await admin.set_settings(quantity_change_delay_seconds=86_400)
        try:
            with pytest.raises(LicencesAborted):
                await shop.for_storefront("shop-a").add_licences(
                    LicenceRequest(
                        request_id=f"slow-{unique}",
                        customer_id=customer_id,
                        subscription_id=subscription["id"],
                        quantity=2,
                    )
                )
        finally:
            await admin.set_settings(quantity_change_delay_seconds=0)
        # The event is delivered by this worker: wait for it before the worker stops
        [(_, failed)] = await delivered(hooks, "ok", 1, request_id=f"slow-{unique}")
    assert (failed["type"], failed["phase"]) == ("licences.failed", "failed")
    assert failed["refusal_code"] == RefusalCode.ORDER_ABORTED.value
    assert "check the customer's subscriptions" in failed["refusal_message"]
    assert failed["lines"][0]["state"] == "failed"


async def test_an_order_no_storefront_placed_sends_nothing(
    engine: Storefront,
    client: Client,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
) -> None:
    hooks, _ = receiver
    customer_id = await admin.add_customer("NoShop", f"noshop{unique}.onmicrosoft.com")
    document = order(f"noshop-{unique}", known_customer(customer_id))
    await engine.place_order(document)  # no storefront: order-<order id>
    assert (await engine.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    with pytest.raises(RPCError):
        await client.get_workflow_handle(
            webhooks_workflow_id(order_workflow_id(document.order_id))
        ).describe()
    assert hooks.events("ok", order_id=document.order_id) == []


async def test_a_waiting_order_cancelled_tells_it_waited_then_that_it_was_cancelled(
    engine: Storefront,
    client: Client,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
) -> None:
    hooks, _ = receiver
    shop = engine.for_storefront("shop-a")
    prefix = f"cancelled{unique}"
    document = russian_order(f"cancel-{unique}", prefix)
    workflow_id = await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.TAX_ID)
    await shop.cancel(document.order_id, reason="the customer changed its mind")
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.CANCELLED

    waiting, cancelled = await told(
        hooks,
        document.order_id,
        ["order.waiting_for_tax_id", "order.cancelled"],
        personal=(prefix, "tverskaya", "moscow", *SAMPLE_PERSONAL),
    )
    assert waiting["phase"] == "waiting_for_tax_id"
    assert (cancelled["phase"], cancelled["customer_id"]) == ("cancelled", None)
    assert cancelled["refusal_code"] == RefusalCode.CANCELLED.value
    assert cancelled["refusal_message"] == "The order was cancelled before anything was bought."
    assert [sent["state"] for sent in cancelled["lines"]] == ["pending"]
    assert (await report_of(client, workflow_id)).delivered == 2
    await assert_no_customer_created(admin, prefix)


async def test_a_new_school_tells_it_waits_for_vetting_then_that_it_completed(
    engine: Storefront,
    client: Client,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
) -> None:
    """Vetting needs a customer: the order creates it, asks Microsoft to vet it and waits; the
    storefront hears that it waits, with the new customer's id, and then that it completed."""
    hooks, _ = receiver
    shop = engine.for_storefront("shop-a")
    prefix = f"school{unique}"
    document = order(
        f"vetting-{unique}",
        new_customer(prefix, education={"segment": "K12", "website": "https://school.example"}),
        line(EDUCATION_A1, 30, segment="Education"),
    )
    workflow_id = await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.VETTING)
    [waiting] = await told(hooks, document.order_id, ["order.waiting_for_vetting"])
    customer_id = (await shop.status(document.order_id)).customer_id
    assert customer_id
    assert (waiting["phase"], waiting["customer_id"]) == ("waiting_for_vetting", customer_id)
    assert [sent["state"] for sent in waiting["lines"]] == ["pending"]

    await admin.set_vetting(customer_id, "Education", "Approved")
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    _, completed = await told(
        hooks,
        document.order_id,
        ["order.waiting_for_vetting", "order.completed"],
        personal=(prefix, "school.example", "microsoft way", "redmond", *SAMPLE_PERSONAL),
    )
    [bought] = completed["lines"]
    assert (bought["offer"], bought["quantity"], bought["state"]) == (EDUCATION_A1, 30, "fulfilled")
    held = await holdings(admin, customer_id)
    assert held[bought["subscription_id"]][1] == 30
    assert (await report_of(client, workflow_id)).delivered == 2


async def test_a_read_microsoft_refuses_refuses_the_order_and_says_so(
    engine: Storefront,
    client: Client,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
) -> None:
    """Partner Center refuses a read before anything is bought (the customer's agreements on
    record): the order is refused with Microsoft's words and code, as its dry run says, and
    its storefront hears `order.refused`; nothing was bought."""
    hooks, _ = receiver
    shop = engine.for_storefront("shop-a")
    customer_id = await admin.add_customer("Refused", f"readref{unique}.onmicrosoft.com")
    await admin.refuse_next(
        "GET /v1/customers/{customer_id}/agreements",
        403,
        600007,
        "Access to the customer's agreements is denied.",
    )
    document = order(f"readref-{unique}", known_customer(customer_id), line(OFFICE_E3, 2))
    workflow_id = await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.REFUSED
    refusal = outcome.refusal
    assert refusal is not None and refusal.code is RefusalCode.PARTNER_CENTER_REFUSED
    assert refusal.partner_center_code == "600007"
    assert "Access to the customer's agreements is denied." in refusal.message

    [refused] = await told(hooks, document.order_id, ["order.refused"])
    assert (refused["phase"], refused["customer_id"]) == ("refused", customer_id)
    assert refused["refusal_code"] == RefusalCode.PARTNER_CENTER_REFUSED.value
    assert refused["refusal_message"] == refusal.message
    assert (await report_of(client, workflow_id)).delivered == 1
    assert await holdings(admin, customer_id) == {}
    assert await orders_of(admin, customer_id) == []


async def test_an_order_whose_run_fails_tells_the_storefront_it_failed(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
) -> None:
    """A read the engine can never use (the customer's subscriptions, an answer larger than
    the worker's Partner Center client reads): no refusal of Microsoft's, the order's run fails
    with an engine error, and its storefront hears `order.failed` (ORDER_ABORTED, saying what
    to check), never nothing; nothing was bought."""
    hooks, base_url = receiver
    customer_id = await admin.add_customer("Fails", f"fails{unique}.onmicrosoft.com")
    for _ in range(25):  # (a list of 25 subscriptions is over 20,000 bytes; the catalog is not)
        await admin.add_subscription(customer_id, "CFQ7TTC0LHVK:0001:CFQ7TTC0KHVK", quantity=1)
    before = await holdings(admin, customer_id)
    document = order(f"fails-{unique}", known_customer(customer_id), line(OFFICE_E3, 2))
    async with webhook_worker(
        temporal.client,
        engine_sandbox,
        base_url,
        task_queue=f"webhooks-fails-{unique}",
        reads_up_to=20_000,
    ) as engine:
        shop = engine.for_storefront("shop-a")
        await shop.place_order(document)
        outcome = await shop.wait_for_outcome(document.order_id)
        # The event is delivered by this worker: wait for it before the worker stops
        [failed] = await told(hooks, document.order_id, ["order.failed"])
    assert outcome.phase is Phase.FAILED
    assert outcome.refusal is not None and outcome.refusal.code is RefusalCode.ORDER_ABORTED
    assert (failed["phase"], failed["customer_id"]) == ("failed", customer_id)
    assert failed["refusal_code"] == RefusalCode.ORDER_ABORTED.value
    assert "check the customer's subscriptions" in failed["refusal_message"]
    assert await holdings(admin, customer_id) == before
    assert await orders_of(admin, customer_id) == []


async def test_an_order_microsoft_does_not_fulfil_in_time_tells_the_storefront_it_failed(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
) -> None:
    """Microsoft takes the order but does not provision it in the time the engine waits: the
    order fails, saying what was ordered, and its storefront hears `order.failed`, never
    nothing."""
    hooks, base_url = receiver
    customer_id = await admin.add_customer("Unfulfilled", f"unful{unique}.onmicrosoft.com")
    document = order(f"unful-{unique}", known_customer(customer_id), line(OFFICE_E3, 2))
    async with webhook_worker(
        temporal.client,
        engine_sandbox,
        base_url,
        task_queue=f"webhooks-unfulfilled-{unique}",
        provisioning_expires_after=timedelta(seconds=2),
    ) as shop:
        delay = engine_sandbox.sandbox.settings.provisioning_delay_seconds
        await admin.set_settings(provisioning_delay_seconds=86_400)
        try:
            await shop.for_storefront("shop-a").place_order(document)
            outcome = await shop.for_storefront("shop-a").wait_for_outcome(document.order_id)
        finally:
            await admin.set_settings(provisioning_delay_seconds=delay)
        # The event is delivered by this worker: wait for it before the worker stops
        [failed] = await told(hooks, document.order_id, ["order.failed"])
    assert outcome.phase is Phase.FAILED
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.PROVISIONING_FAILED
    assert "Not fulfilled" in outcome.refusal.message
    assert (failed["type"], failed["phase"]) == ("order.failed", "failed")
    assert failed["refusal_code"] == RefusalCode.PROVISIONING_FAILED.value
    assert failed["refusal_message"] == outcome.refusal.message
    assert [x["state"] for x in failed["lines"]] == ["failed"]
    # What Partner Center holds: the order Microsoft took, its subscription still pending.
    assert len(await orders_of(admin, customer_id)) == 1
    held = await holdings(admin, customer_id)
    assert [(quantity, status) for _, quantity, status in held.values()] == [(2, "pending")]


# ---------------------------------------------------------------------- at least once, in order


async def test_an_event_refused_once_is_delivered_again_under_the_same_id(
    engine: Storefront,
    client: Client,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
) -> None:
    hooks, _ = receiver
    shop = engine.for_storefront("shop-flaky")
    customer_id = await admin.add_customer("Flaky", f"flaky{unique}.onmicrosoft.com")
    document = order(f"flaky-{unique}", known_customer(customer_id))
    workflow_id = await shop.place_order(document)
    await delivered(hooks, "flaky", 1, order_id=document.order_id)
    report = await report_of(client, workflow_id)
    attempts = hooks.events("flaky", order_id=document.order_id)
    assert [r.answered for r, _ in attempts] == [500, 200]
    assert attempts[0][0].headers["webhook-id"] == attempts[1][0].headers["webhook-id"]
    assert (report.delivered, report.failed) == (1, [])


async def test_events_of_one_order_arrive_in_sequence(
    engine: Storefront,
    client: Client,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
) -> None:
    """An existing tenant's order waits for the relationship, then completes, while the
    receiver still holds its first event unanswered: the order is not held up, and the second
    event is not sent (not even scheduled) before the first is acknowledged."""
    hooks, _ = receiver
    shop = engine.for_storefront("shop-hold")
    domain = f"tenant{unique}.example"
    await admin.add_tenant(domain, "Tenant Inc")
    document = order(
        f"seq-{unique}", {"kind": "existing_tenant", "domain": domain, "country": "US"}
    )
    workflow_id = await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.RELATIONSHIP)

    async def held(count: int) -> bool:
        return hooks.holding and len(hooks.events("hold", order_id=document.order_id)) == count

    await eventually(lambda: held(1), what="the first event held by the receiver")
    await admin.accept_relationship(domain)
    await shop.relationship_accepted(document.order_id)
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED

    webhooks = client.get_workflow_handle(webhooks_workflow_id(workflow_id))

    async def took_the_second_event() -> list[Any] | None:
        events = [e async for e in webhooks.fetch_history_events()]
        signalled = [
            n
            for n, e in enumerate(events)
            if e.HasField("workflow_execution_signaled_event_attributes")
        ]
        if not signalled:
            return None
        later = events[signalled[0] :]
        done = any(e.HasField("workflow_task_completed_event_attributes") for e in later)
        return events if done else None

    events = await eventually(took_the_second_event, what="the webhooks workflow took #2")
    scheduled = [e for e in events if e.HasField("activity_task_scheduled_event_attributes")]
    assert len(scheduled) == 1, "the second event waits for the first to be acknowledged"
    assert [b["sequence"] for _, b in hooks.events("hold", order_id=document.order_id)] == [1]

    hooks.release()
    await eventually(lambda: held(2), what="the second event, after the first")
    hooks.release()
    report = await report_of(client, workflow_id)
    assert (report.delivered, report.failed) == (2, [])
    attempts = hooks.events("hold", order_id=document.order_id)
    assert [(b["type"], b["sequence"], r.answered) for r, b in attempts] == [
        ("order.waiting_for_relationship", 1, 204),
        ("order.completed", 2, 204),
    ]


# ---------------------------------------------------------------------- never dropped in silence


async def test_a_delivery_that_finally_fails_is_shown_to_operators(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
) -> None:
    hooks, base_url = receiver
    port = free_port()
    client = await connect_client(temporal, runtime=prometheus_runtime(port))
    brief = QUICK.model_copy(update={"give_up_after": timedelta(seconds=2)})
    async with webhook_worker(
        client, engine_sandbox, base_url, task_queue=f"webhooks-down-{unique}", schedule=brief
    ) as engine:
        shop = engine.for_storefront("shop-down")
        customer_id = await admin.add_customer("Down", f"down{unique}.onmicrosoft.com")
        document = order(f"down-{unique}", known_customer(customer_id))
        workflow_id = await shop.place_order(document)
        # The order is not held up by its webhook
        assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
        report = await report_of(client, workflow_id)
        [failed] = report.failed
        attempts = hooks.events("down", order_id=document.order_id)
        assert len(attempts) >= 2 and {r.answered for r, _ in attempts} == {500}
        assert failed.type.value == "order.completed" and failed.sequence == 1
        assert failed.webhook_id == attempts[0][0].headers["webhook-id"]
        assert "500" in failed.last_error and "token" not in failed.last_error

        handle = client.get_workflow_handle(webhooks_workflow_id(workflow_id))
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "order.completed" in metadata.current_details
        assert failed.webhook_id in metadata.current_details.replace("\\", "")
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert any(
        x.startswith("csp_orders_webhooks_failed")
        and 'event_type="order.completed"' in x
        and 'reason="not_delivered"' in x
        for x in text.splitlines()
    ), text


async def test_a_storefront_without_a_webhook_is_recorded_as_not_sent_not_retried(
    engine: Storefront, client: Client, admin: SandboxAdmin, unique: str
) -> None:
    shop = engine.for_storefront("shop-nowhere")
    customer_id = await admin.add_customer("Nowhere", f"nowhere{unique}.onmicrosoft.com")
    document = order(f"nowhere-{unique}", known_customer(customer_id))
    workflow_id = await shop.place_order(document)
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    report = await report_of(client, workflow_id)
    assert (report.not_sent, report.delivered, report.failed) == (1, 0, [])


# ---------------------------------------------------------- a worker killed mid-delivery


async def test_a_worker_killed_mid_delivery_is_followed_by_the_same_event_under_the_same_id(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
    tmp_path: Path,
) -> None:
    hooks, base_url = receiver
    queue = f"webhooks-kill-{unique}"
    config = tmp_path / "engine.json"
    short = QUICK.model_copy(update={"attempt_timeout": timedelta(seconds=3)})
    config.write_text(
        engine_config_for_tests()
        .model_copy(update={"webhooks": short})
        .model_dump_json(by_alias=True)
    )
    storefronts = tmp_path / "storefronts.json"
    storefronts.write_text(
        json.dumps(
            {
                "storefronts": {
                    "shop-hold": {
                        "webhook": {"url": f"{base_url}/hold", "secret_env": "TEST_HOOK_SECRET"}
                    }
                }
            }
        )
    )
    address = temporal.client.service_client.config.target_host
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.cli",
        "worker",
        env=worker_env(
            address,
            engine_sandbox,
            CSP_TASK_QUEUE=queue,
            CSP_ORDERS_CONFIG=str(config),
            CSP_STOREFRONTS_FILE=str(storefronts),
            TEST_HOOK_SECRET=SECRET,
        ),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        shop = Storefront(temporal.client, task_queue=queue).for_storefront("shop-hold")
        customer_id = await admin.add_customer("Kill", f"kill{unique}.onmicrosoft.com")
        document = order(f"kill-{unique}", known_customer(customer_id))
        workflow_id = await shop.place_order(document)

        async def held() -> bool:
            return hooks.holding and bool(hooks.events("hold", order_id=document.order_id))

        await eventually(held, timeout=60, what="the first attempt held by the receiver")
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        hooks.release()

    async with webhook_worker(temporal.client, engine_sandbox, base_url, task_queue=queue):
        report = await report_of(temporal.client, workflow_id)
        attempts = hooks.events("hold", order_id=document.order_id)
    assert report.delivered == 1 and report.failed == []
    assert len(attempts) >= 2
    assert len({r.headers["webhook-id"] for r, _ in attempts}) == 1
    assert attempts[-1][0].answered == 204
    for request, _ in attempts:
        Webhook(SECRET).verify(request.body, request.headers)
    description = await temporal.client.get_workflow_handle(workflow_id).describe()
    assert description.status is WorkflowExecutionStatus.COMPLETED


async def test_a_storefront_orders_history_and_its_webhooks_replay(
    engine: Storefront, client: Client, receiver: tuple[Receiver, str], unique: str
) -> None:
    """Determinism of the storefront's course, on its real workflow ids (the storefront, the
    request ids and the webhooks all derive from them): the order, waiting for and given its
    tax ID, and its webhooks workflow replay on the current code."""
    shop = engine.for_storefront("shop-a")
    document = russian_order(f"replay-{unique}", f"replay{unique}")
    workflow_id = await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.TAX_ID)
    await shop.provide_tax_id(document.order_id, VALID_RU_TAX_ID)
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    assert (await report_of(client, workflow_id)).delivered == 2
    replayer = Replayer(workflows=WORKFLOWS, data_converter=client.data_converter)
    for replayed in (workflow_id, webhooks_workflow_id(workflow_id)):
        history = await client.get_workflow_handle(replayed).fetch_history()
        assert history.workflow_id == replayed
        await replayer.replay_workflow(history)


async def test_a_storefront_the_workers_file_learns_of_later_gets_its_webhooks_then(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    receiver: tuple[Receiver, str],
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's storefronts file does not know the storefront yet (the API's is newer):
    its event is retried, not dropped; once the file names the storefront's webhook, the
    next attempt delivers it, without a restart."""
    hooks, base_url = receiver
    path = tmp_path / "storefronts.json"
    path.write_text(json.dumps({"storefronts": {"shop-other": {}}}))
    monkeypatch.setenv("SHOP_LATE_WEBHOOK_SECRET", SECRET)
    config = engine_config_for_tests().model_copy(update={"webhooks": QUICK})
    queue = f"webhooks-late-{unique}"
    async with (
        PartnerCenterClient.from_config(sandbox_client_config(engine_sandbox)) as pc,
        build_worker(
            temporal.client, pc, config, task_queue=queue, webhook_endpoints=StorefrontsFile(path)
        ),
    ):
        shop = Storefront(temporal.client, task_queue=queue).for_storefront("shop-late")
        customer_id = await admin.add_customer("Late", f"late{unique}.onmicrosoft.com")
        document = order(f"late-{unique}", known_customer(customer_id))
        workflow_id = await shop.place_order(document)
        assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
        webhooks = temporal.client.get_workflow_handle(webhooks_workflow_id(workflow_id))

        async def retried() -> bool:
            pending = (await webhooks.describe()).raw_description.pending_activities
            return bool(pending) and pending[0].attempt >= 2

        await eventually(retried, what="the event retried while the storefront is unknown")
        assert not hooks.events("ok", order_id=document.order_id)
        webhook = {"url": f"{base_url}/ok", "secret_env": "SHOP_LATE_WEBHOOK_SECRET"}
        path.write_text(
            json.dumps({"storefronts": {"shop-other": {}, "shop-late": {"webhook": webhook}}})
        )
        [(_, body)] = await delivered(hooks, "ok", 1, order_id=document.order_id)
        assert body["type"] == "order.completed"
        report = await report_of(temporal.client, workflow_id)
        assert (report.delivered, report.failed, report.not_sent) == (1, [], 0)
