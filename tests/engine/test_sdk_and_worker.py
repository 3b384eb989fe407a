"""The synchronous SDK, the vetting switch, tracing wiring and the worker's logs."""

from __future__ import annotations

import asyncio
import json

import pytest
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from clients.storefront import Storefront, SyncStorefront
from devtools.samples import EDUCATION_A1, OFFICE_E3, known_customer, line, new_customer, order
from ordering.refusals import RefusalCode
from ordering.status import Phase
from sandbox.admin_client import SandboxAdmin
from tests.engine.partner_center_state import assert_no_customer_created, holdings
from tests.helpers import TASK_QUEUE, engine_config_for_tests
from workers.worker import tracing_interceptors


async def test_the_synchronous_sdk(
    temporal: WorkflowEnvironment, worker: None, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Sync", f"sync{unique}.onmicrosoft.com")
    document = order(f"sync-{unique}", known_customer(customer_id), line(OFFICE_E3, 2))
    address = temporal.client.service_client.config.target_host

    def storefront_code() -> tuple[Phase, int, bool]:
        with SyncStorefront(address, task_queue=TASK_QUEUE) as shop:
            shop.place_order(document.model_dump(mode="json"))
            phase = shop.wait_for_outcome(document.order_id).phase
            # after the purchase, within its window: one licence back, then the rest undone
            reduced = shop.reduce_licences(document.order_id, 0, 1)
            undone = shop.payment_failed(document.order_id)
            return phase, reduced.quantity_after, [c.cancelled for c in undone.undone] == [True]

    assert await asyncio.to_thread(storefront_code) == (Phase.COMPLETED, 1, True)
    [(_, quantity, status)] = (await holdings(admin, customer_id)).values()
    assert (quantity, status) == (1, "deleted")


async def test_orders_can_stop_instead_of_waiting_for_vetting(
    shop_with: object, admin: SandboxAdmin, unique: str
) -> None:
    """Not waiting for vetting: a new school cannot be vetted before it exists, so its
    education plan is refused before the customer is created. A customer already in review is
    refused without waiting."""
    config = engine_config_for_tests()
    config = config.model_copy(
        update={"waits": config.waits.model_copy(update={"wait_for_education_vetting": False})}
    )
    shop: Storefront = await shop_with(config)  # type: ignore[operator]
    document = order(
        f"novet-{unique}",
        new_customer(
            f"novet{unique}",
            education={"segment": "HigherEducation", "website": "https://uni.example"},
        ),
        line(EDUCATION_A1, 10, segment="Education"),
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.NOT_ELIGIBLE
    assert outcome.customer_id is None
    await assert_no_customer_created(admin, f"novet{unique}")

    school = await admin.add_customer(
        "Review",
        f"review{unique}.onmicrosoft.com",
        qualifications=[{"qualification": "Education", "vettingStatus": "InReview"}],
    )
    in_review = order(
        f"inreview-{unique}", known_customer(school), line(EDUCATION_A1, 10, segment="Education")
    )
    await shop.place_order(in_review)
    outcome = await shop.wait_for_outcome(in_review.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.VETTING_NOT_FINISHED
    assert "customer_created" not in outcome.refusal.details
    snapshot = await admin.snapshot()
    assert [s for s in snapshot["subscriptions"] if s["customerId"] == school] == []


def test_tracing_is_off_by_default_and_wired_on_request() -> None:
    assert tracing_interceptors(None) == []
    [interceptor] = tracing_interceptors("console")
    assert isinstance(interceptor, TracingInterceptor)
    with pytest.raises(ValueError, match="unknown trace exporter"):
        tracing_interceptors("zipkin")


async def test_partner_center_calls_are_logged_with_workflow_and_correlation_ids(
    shop: Storefront, admin: SandboxAdmin, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    customer_id = await admin.add_customer("Logs", f"logs{unique}.onmicrosoft.com")
    document = order(f"logs-{unique}", known_customer(customer_id), line(OFFICE_E3, 1))
    await shop.place_order(document)
    await shop.wait_for_outcome(document.order_id)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    calls = [
        x
        for x in lines
        if x.get("event") == "partner_center.call"
        and x.get("workflow_id") == f"order-logs-{unique}"
    ]
    assert calls, "no Partner Center call was logged for the order"
    assert all(x["correlation_id"] and x["request_id"] and x["activity"] for x in calls)
    assert any(x["request_key"] == f"logs-{unique}:customer-agreement" for x in calls) or any(
        x["path"].endswith("/carts") for x in calls
    )
    text = json.dumps(calls)
    assert "ada@example.com" not in text and "Lovelace" not in text
