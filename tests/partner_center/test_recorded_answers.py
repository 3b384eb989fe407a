"""The engine's activities read Partner Center's answers as bytes on the wire, replayed by an
httpx transport (no sandbox, no Temporal server: the activities are called as plain methods),
and decide from them: the Business Basic availability is purchasable for a commercial line,
Microsoft's MPA-check errors are understood, a refused reduction is a coded refusal, a 429 is
retried after its `Retry-After`.

The bodies are the documented-payload fixtures (`tests/fixtures/microsoft/`, sources in its
SOURCES.md); error bodies follow the documented error shape. When verbatim copies of Microsoft's
examples and recorded sessions are available, they are what this transport replays."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from activities import messages as m
from activities.first_release import FirstReleaseActivities
from activities.partner_center import PartnerCenterActivities
from clients.partner_center import PartnerCenterClient
from clients.partner_center.auth import EntraCredentials, TokenProvider
from clients.partner_center.client import ms_request_id
from ordering.catalog import offer_facts
from ordering.config import load_config
from ordering.document import EducationDetails, EducationSegment, Segment
from ordering.refusals import RefusalCode, from_partner_center

FIXTURES = Path(__file__).parent.parent / "fixtures" / "microsoft"
BASE = "https://api.partnercenter.microsoft.com"
CUSTOMER = "4b10bf41-ab11-40e3-8c53-cd67849b50ba"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def error_body(code: int, description: str) -> bytes:
    """Partner Center's error shape (error_classic.json) with another code."""
    body = json.loads(fixture("error_classic.json"))
    body.update(code=code, description=description)
    return json.dumps(body).encode()


class RecordedPartnerCenter:
    """Answers by method and path pattern, in order; the token endpoint always answers."""

    def __init__(self) -> None:
        self._answers: list[tuple[str, re.Pattern[str], httpx.Response]] = []
        self.requests: list[httpx.Request] = []

    def answer(
        self,
        method: str,
        path: str,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        response = httpx.Response(status, content=body, headers=headers or {})
        self._answers.append((method, re.compile(path), response))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "recorded", "expires_in": 3599})
        self.requests.append(request)
        for n, (method, path, response) in enumerate(self._answers):
            if request.method == method and path.fullmatch(request.url.path):
                del self._answers[n]
                return response
        return httpx.Response(404, content=error_body(400013, "not recorded"))


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[RecordedPartnerCenter, PartnerCenterActivities]]:
    wire = RecordedPartnerCenter()
    http = httpx.AsyncClient(transport=httpx.MockTransport(wire))
    credentials = EntraCredentials(
        authority="https://login.microsoftonline.com",
        tenant="partner",
        client_id="app",
        client_secret=SecretStr("secret"),
        refresh_token=SecretStr("refresh"),
    )
    client = PartnerCenterClient(BASE, TokenProvider(credentials, http), http)
    yield wire, PartnerCenterActivities(client, load_config())
    await http.aclose()


Recorded = tuple[RecordedPartnerCenter, PartnerCenterActivities]


def answer_business_basic_catalog(wire: RecordedPartnerCenter) -> None:
    """Business Basic's SKU and availabilities, as documented."""
    wire.answer("GET", "/v1/products/CFQ7TTC0LH18/skus/0001", 200, fixture("sku.json"))
    wire.answer(
        "GET",
        "/v1/products/CFQ7TTC0LH18/skus/0001/availabilities",
        200,
        fixture("availabilities_collection.json"),
    )


async def test_the_business_basic_availability_is_purchasable_for_a_commercial_line(
    recorded: Recorded,
) -> None:
    wire, steps = recorded
    answer_business_basic_catalog(wire)
    sku = await steps.read_sku(m.SkuQuery(country="US", offer="CFQ7TTC0LH18:0001"))
    availabilities = await steps.read_availabilities(
        m.AvailabilityQuery(country="US", offer="CFQ7TTC0LH18:0001", segment=Segment.COMMERCIAL)
    )
    offer = offer_facts(sku, availabilities.items, Segment.COMMERCIAL)
    assert offer.found and offer.purchasable
    assert offer.catalog_item_id == "CFQ7TTC0LH18:0001:CFQ7TTC0K971"  # "segment": "commercial"
    assert (offer.minimum_quantity, offer.maximum_quantity) == (1, 300)
    assert [a.segment for a in availabilities.items] == ["commercial"]
    assert len(wire.requests) == 2  # one request per step


async def test_the_first_releases_catalog_step_reads_the_same(recorded: Recorded) -> None:
    """Orders started before the Partner Center queue still describe offers in one step."""
    wire, steps = recorded
    answer_business_basic_catalog(wire)
    catalog = await FirstReleaseActivities(steps, load_config()).describe_offers(
        m.DescribeOffers(
            country="US",
            offers=[m.OfferQuery(offer="CFQ7TTC0LH18:0001", segment=Segment.COMMERCIAL)],
        )
    )
    [offer] = catalog.offers
    assert offer.found and offer.purchasable
    assert offer.catalog_item_id == "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
    assert offer.segments == [Segment.COMMERCIAL]


@pytest.mark.parametrize(
    ("code", "known", "signed", "ineligible"),
    [
        (2203, True, False, None),
        (2204, True, False, "not_indirect_reseller"),
        (2201, True, False, "region_mismatch"),
        (2200, False, False, None),
    ],
)
async def test_the_mpa_checks_error_answers_are_understood(
    recorded: Recorded, code: int, known: bool, signed: bool, ineligible: str | None
) -> None:
    wire, steps = recorded
    wire.answer("GET", "/v1/compliance/csp/agreementstatus", 400, error_body(code, "MPA status"))
    answer = await steps.check_reseller(m.ResellerCheck(mpn_id="1234567"))
    assert (answer.known, answer.signed, answer.ineligible) == (known, signed, ineligible)


async def test_a_signed_reseller(recorded: Recorded) -> None:
    wire, steps = recorded
    wire.answer("GET", "/v1/compliance/csp/agreementstatus", 200, fixture("mpa_status.json"))
    answer = await steps.check_reseller(m.ResellerCheck(mpn_id="1234567"))
    assert (answer.known, answer.signed) == (True, True)
    [request] = wire.requests
    assert request.url.params["mpnId"] == "1234567"


async def change_quantity(steps: PartnerCenterActivities, request_id: str, quantity: int) -> None:
    """What an order does to add (or take away) licences: read the subscription whole, send it
    back with the new total."""
    subscription = json.loads(fixture("subscription.json"))
    current = await steps.read_subscription_for_change(
        m.SubscriptionQuery(customer_id=CUSTOMER, subscription_id=subscription["id"])
    )
    await steps.set_quantity(
        m.SetQuantity(
            request_id=request_id,
            customer_id=CUSTOMER,
            subscription=current.body,
            quantity=quantity,
        )
    )


async def test_a_refused_reduction_is_a_coded_refusal(recorded: Recorded) -> None:
    wire, steps = recorded
    subscription = json.loads(fixture("subscription.json"))
    path = f"/v1/customers/{CUSTOMER}/subscriptions/{subscription['id']}"
    wire.answer("GET", path, 200, fixture("subscription.json"))
    wire.answer(
        "PATCH",
        path,
        400,
        error_body(800090, "Seat count can only be reduced within 7 days of purchase."),
    )
    with pytest.raises(ApplicationError) as caught:
        await change_quantity(steps, "r-1", int(subscription["quantity"]) - 1)
    assert caught.value.non_retryable
    detail: Any = caught.value.details[0]
    refusal = from_partner_center(detail.code, caught.value.message)
    assert refusal.code is RefusalCode.QUANTITY_REDUCTION_NOT_ALLOWED
    [patch] = [r for r in wire.requests if r.method == "PATCH"]
    sent = json.loads(patch.content)
    assert sent["quantity"] == subscription["quantity"] - 1
    assert sent["id"] == subscription["id"] and sent["offerId"] == subscription["offerId"]


async def test_throttling_is_retried_after_microsofts_retry_after(recorded: Recorded) -> None:
    wire, steps = recorded
    wire.answer(
        "GET",
        "/v1/products/CFQ7TTC0LH18/skus/0001",
        429,
        fixture("error_throttled.json"),
        {"Retry-After": "23"},
    )
    with pytest.raises(ApplicationError) as caught:
        await steps.read_sku(m.SkuQuery(country="US", offer="CFQ7TTC0LH18:0001"))
    assert not caught.value.non_retryable
    assert caught.value.next_retry_delay == timedelta(seconds=23)


async def test_ms_request_id_is_a_guid_stable_for_a_step(recorded: Recorded) -> None:
    """Microsoft documents MS-RequestId as a GUID: a step's key is sent as the same GUID on every
    attempt (so a retry is still recognised), and different steps get different GUIDs."""
    wire, steps = recorded
    subscription = json.loads(fixture("subscription.json"))
    path = f"/v1/customers/{CUSTOMER}/subscriptions/{subscription['id']}"
    changed = json.dumps({**subscription, "quantity": subscription["quantity"] + 1}).encode()
    for _ in range(2):
        wire.answer("GET", path, 200, fixture("subscription.json"))
        wire.answer("PATCH", path, 200, changed)
    for request_id in ("order-1:line-0:quantity", "order-1:line-0:quantity"):
        await change_quantity(steps, request_id, subscription["quantity"] + 1)
    sent = [r.headers["MS-RequestId"] for r in wire.requests if r.method == "PATCH"]
    assert len(sent) == 2 and sent[0] == sent[1]
    assert str(uuid.UUID(sent[0])) == sent[0]
    assert ms_request_id("order-1:line-1:quantity") != sent[0]
    guid = str(uuid.uuid4())
    assert ms_request_id(guid) == guid


@pytest.mark.parametrize(
    ("status", "ends"), [("error", True), ("po review rejected", True), ("pending", False)]
)
async def test_an_order_microsoft_ended_unfulfilled_is_not_waited_for(
    recorded: Recorded, status: str, ends: bool
) -> None:
    wire, steps = recorded
    order = json.loads(fixture("order.json"))
    body = json.dumps({**order, "status": status}).encode()
    wire.answer("GET", f"/v1/customers/{CUSTOMER}/orders/{order['id']}", 200, body)
    with pytest.raises(ApplicationError) as caught:
        await steps.await_provisioning(
            m.ProvisioningCheck(customer_id=CUSTOMER, order_id=order["id"])
        )
    assert caught.value.non_retryable is ends
    assert caught.value.type == ("OrderNotFulfilled" if ends else "NotYet")


async def test_a_vetting_request_says_where_it_stands(recorded: Recorded) -> None:
    wire, steps = recorded
    path = f"/v1/customers/{CUSTOMER}/qualifications"
    wire.answer("POST", path, 201, fixture("qualification_in_review.json"))
    standing = await steps.submit_education_vetting(
        m.RequestEducationVetting(
            request_id="v-1",
            customer_id=CUSTOMER,
            education=EducationDetails(segment=EducationSegment.K12, website="https://k12.example"),
        )
    )
    assert standing.in_review == ["Education"]
    assert [r.method for r in wire.requests] == ["POST"]


async def test_a_refused_vetting_request_is_judged_by_where_the_customer_stands(
    recorded: Recorded,
) -> None:
    """Microsoft documents no code for "already requested": whatever the refusal, the
    qualifications are read again, and an Education qualification on record is the answer.
    (The first release's step; today's order does the same in the workflow.)"""
    wire, steps = recorded
    path = f"/v1/customers/{CUSTOMER}/qualifications"
    wire.answer("POST", path, 400, error_body(600099, "Already requested."))
    wire.answer("GET", path, 200, b"[" + fixture("qualification_in_review.json") + b"]")
    standing = await FirstReleaseActivities(steps, load_config()).request_education_vetting(
        m.RequestEducationVetting(
            request_id="v-1",
            customer_id=CUSTOMER,
            education=EducationDetails(segment=EducationSegment.K12, website="https://k12.example"),
        )
    )
    assert standing.in_review == ["Education"]


async def test_a_partial_success_fulfils_the_lines_with_a_subscription(recorded: Recorded) -> None:
    wire, steps = recorded
    order = json.loads(fixture("order.json"))
    second = {**order["lineItems"][0], "lineItemNumber": 1}
    second.pop("subscriptionId")
    body = {**order, "status": "partial success", "lineItems": [order["lineItems"][0], second]}
    wire.answer(
        "GET", f"/v1/customers/{CUSTOMER}/orders/{order['id']}", 200, json.dumps(body).encode()
    )
    provisioned = await steps.await_provisioning(
        m.ProvisioningCheck(customer_id=CUSTOMER, order_id=order["id"])
    )
    assert provisioned.status == "partial success"
    assert provisioned.subscription_ids == [order["lineItems"][0]["subscriptionId"], ""]


async def test_a_cart_with_a_line_error_is_not_checked_out(recorded: Recorded) -> None:
    wire, steps = recorded
    cart = json.loads(fixture("cart.json"))
    cart["lineItems"][0]["error"] = {"errorCode": "400019", "errorDescription": "stale"}
    second = {**cart["lineItems"][0], "id": 1}
    second.pop("error")
    cart["lineItems"].append(second)
    wire.answer("POST", f"/v1/customers/{CUSTOMER}/carts", 201, json.dumps(cart).encode())
    result = await steps.create_cart(
        m.Purchase(
            request_id="o-1:purchase",
            customer_id=CUSTOMER,
            lines=[
                m.PurchaseLine(
                    line=n,
                    catalog_item_id="CFQ7TTC0LH18:0001:CFQ7TTC0K971",
                    quantity=2,
                    billing_cycle="monthly",
                    term_duration="P1M" if n == 0 else "P1Y",
                    friendly_name="Business Basic",
                )
                for n in (0, 1)
            ],
        )
    )
    assert [(g.lines, g.refusal.code, g.not_ordered is None) for g in result.refused] == [
        ([0], "400019", True),
        ([1], "400019", False),
    ]
    assert [r.url.path for r in wire.requests] == [f"/v1/customers/{CUSTOMER}/carts"]


async def test_non_profit_availabilities_are_asked_for(recorded: Recorded) -> None:
    """Microsoft lists non-profit availabilities only when asked with targetSegment."""
    wire, steps = recorded
    answer_business_basic_catalog(wire)
    await steps.read_availabilities(
        m.AvailabilityQuery(country="US", offer="CFQ7TTC0LH18:0001", segment=Segment.NONPROFIT)
    )
    [listing] = [r for r in wire.requests if r.url.path.endswith("/availabilities")]
    assert listing.url.params["targetSegment"] == "nonprofit"
