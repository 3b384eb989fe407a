"""After the purchase, in the sandbox as in Partner Center: each purchase, renewal and addition
of seats opens a 168-hour refund window; a cancellation (`status: deleted`) inside the purchase's
or renewal's window, a reduction within the seats still refundable; refusals with Microsoft's
codes afterwards (900117, 800090). Terms renew on the sandbox's clock (or expire), and an admin
path changes a subscription behind the engine's back, opening no window.

Driven over HTTP on loopback with httpx (the sandbox as any client sees it; the Partner Center
client's cancellation: tests/partner_center/test_commerce.py);
after every refusal the test reads what Partner Center holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from sandbox.admin import PREFIX
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.helpers import SandboxFactory, app_only_token
from tests.partner_center.builders import BUSINESS_BASIC

DAY = 86_400
WINDOW = timedelta(hours=168)
TERM = timedelta(days=30)  # the sandbox's P1M


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def sandbox(make_sandbox: SandboxFactory) -> SandboxServer:
    """Provisioning takes an hour; a token outlives the months these tests move the clock."""
    return make_sandbox(provisioning_delay_seconds=3600, token_lifetime_seconds=400 * DAY)


@pytest.fixture
async def http(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """An app-only Partner Center session with the sandbox (a real token from its Entra ID)."""
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {await app_only_token(client, sandbox)}"
        yield client


class Customer:
    """One customer's subscriptions, read and changed through Partner Center's paths."""

    def __init__(self, http: httpx.AsyncClient, customer_id: str) -> None:
        self.http = http
        self.base = f"/v1/customers/{customer_id}"
        self.id = customer_id

    async def buy(self, quantity: int, key: str) -> str:
        line = {
            "id": 0,
            "catalogItemId": BUSINESS_BASIC,
            "quantity": quantity,
            "billingCycle": "monthly",
            "termDuration": "P1M",
        }
        cart = await self.http.post(
            f"{self.base}/carts", json={"lineItems": [line]}, headers={"MS-RequestId": key}
        )
        assert cart.status_code == 201, cart.text
        checkout = await self.http.post(
            f"{self.base}/carts/{cart.json()['id']}/checkout",
            headers={"MS-RequestId": f"{key}-checkout"},
        )
        assert checkout.status_code == 201, checkout.text
        [order] = checkout.json()["orders"]
        return str(order["id"])

    async def only_subscription(self) -> dict[str, Any]:
        listed = await self.http.get(f"{self.base}/subscriptions")
        assert listed.status_code == 200, listed.text
        [sub] = listed.json()["items"]
        return dict(sub)

    async def get(self, sub_id: str) -> dict[str, Any]:
        read = await self.http.get(f"{self.base}/subscriptions/{sub_id}")
        assert read.status_code == 200, read.text
        return dict(read.json())

    async def patch(self, sub: dict[str, Any], request_id: str, **change: Any) -> httpx.Response:
        """PATCH with the whole subscription, as Microsoft documents it, `change` applied."""
        return await self.http.patch(
            f"{self.base}/subscriptions/{sub['id']}",
            json={**sub, **change},
            headers={"MS-RequestId": request_id, "If-Match": sub["attributes"]["etag"]},
        )


@pytest.fixture
async def customer(http: httpx.AsyncClient, admin: SandboxAdmin) -> Customer:
    return Customer(http, await admin.add_customer("Contoso", "contoso.onmicrosoft.com"))


def refundable(sub: dict[str, Any]) -> tuple[int, list[tuple[int, datetime]]]:
    q = sub["refundableQuantity"]
    details = [(d["quantity"], at(d["allowedUntilDateTime"])) for d in q["details"]]
    return q["totalQuantity"], details


async def test_a_cancellation_on_day_3_is_carried_out_once(
    customer: Customer, admin: SandboxAdmin
) -> None:
    await customer.buy(5, "buy")
    await admin.advance_clock(3 * DAY)
    sub = await customer.only_subscription()
    bought = at(sub["creationDate"])
    assert sub["status"] == "active"
    assert at(sub["cancellationAllowedUntilDate"]) == bought + WINDOW
    assert refundable(sub) == (5, [(5, bought + WINDOW)])

    cancelled = await customer.patch(sub, "cancel", status="deleted")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "deleted"
    # the same request again (a retry after a timeout) gets the same answer, nothing twice
    again = await customer.patch(sub, "cancel", status="deleted")
    assert (again.status_code, again.json()) == (200, cancelled.json())
    held = await customer.get(sub["id"])
    assert (held["status"], held["quantity"]) == ("deleted", 5)
    assert refundable(held) == (0, [])
    # a new request to change a cancelled subscription is refused
    other = await customer.patch(held, "cancel-2", status="deleted")
    assert (other.status_code, other.json()["code"]) == (400, 2011)
    assert (await customer.get(sub["id"]))["attributes"] == held["attributes"]


async def test_a_cancellation_on_day_8_is_refused_with_microsofts_code(
    customer: Customer, admin: SandboxAdmin
) -> None:
    await customer.buy(5, "buy")
    await admin.advance_clock(8 * DAY)
    sub = await customer.only_subscription()
    refused = await customer.patch(sub, "late-cancel", status="deleted")
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == 900117
    assert body["description"] == (
        "You have passed your 7-day cancellation window. We are unable to cancel your purchase"
    )
    held = await customer.get(sub["id"])
    assert (held["status"], held["quantity"]) == ("active", 5)
    assert held["attributes"]["etag"] == sub["attributes"]["etag"]
    assert refundable(held) == (0, [])


async def test_a_reduction_takes_back_refundable_seats_only(
    customer: Customer, admin: SandboxAdmin
) -> None:
    await customer.buy(10, "buy")
    await admin.advance_clock(2 * DAY)
    sub = await customer.only_subscription()
    bought = at(sub["creationDate"])
    reduced = await customer.patch(sub, "down-to-7", quantity=7)
    assert reduced.status_code == 200, reduced.text
    assert refundable(reduced.json()) == (7, [(7, bought + WINDOW)])

    # day 8: the purchase's window closed; 3 seats added open a window of their own
    await admin.advance_clock(6 * DAY)
    sub = await customer.get(sub["id"])
    assert refundable(sub) == (0, [])
    added = await customer.patch(sub, "up-to-10", quantity=10)
    assert added.status_code == 200, added.text
    now = await admin.clock()
    [(seats, until)] = refundable(added.json())[1]
    assert seats == 3 and abs(until - (now + WINDOW)) < timedelta(seconds=5)

    sub = added.json()
    beyond = await customer.patch(sub, "down-to-6", quantity=6)  # 4 seats, 3 refundable
    assert (beyond.status_code, beyond.json()["code"]) == (400, 800090)
    assert beyond.json()["description"] == "Subscription quantity cannot be decreased."
    assert (await customer.get(sub["id"]))["quantity"] == 10
    cancel = await customer.patch(sub, "cancel", status="deleted")  # added seats are no purchase
    assert (cancel.status_code, cancel.json()["code"]) == (400, 900117)

    within = await customer.patch(sub, "down-to-8", quantity=8)
    assert within.status_code == 200, within.text
    assert refundable(within.json()) == (1, [(1, until)])

    await admin.advance_clock(7 * DAY + 60)  # the addition's window closed too
    sub = await customer.get(sub["id"])
    late = await customer.patch(sub, "down-to-7-late", quantity=7)
    assert (late.status_code, late.json()["code"]) == (400, 800090)
    held = await customer.get(sub["id"])
    assert (held["quantity"], refundable(held)) == (8, (0, []))


async def test_a_renewal_opens_a_new_window_and_without_auto_renew_the_term_expires(
    customer: Customer, admin: SandboxAdmin
) -> None:
    await customer.buy(4, "buy")
    await admin.advance_clock(10 * DAY)
    sub = await customer.only_subscription()
    bought = at(sub["creationDate"])
    assert at(sub["commitmentEndDate"]) == bought + TERM
    assert refundable(sub) == (0, [])

    await admin.advance_clock(22 * DAY)  # day 32: renewed on day 30
    renewed = await customer.get(sub["id"])
    assert renewed["status"] == "active" and renewed["autoRenewEnabled"] is True
    assert at(renewed["commitmentEndDate"]) == bought + 2 * TERM
    assert at(renewed["cancellationAllowedUntilDate"]) == bought + TERM + WINDOW
    assert refundable(renewed) == (4, [(4, bought + TERM + WINDOW)])
    assert renewed["attributes"]["etag"] != sub["attributes"]["etag"]

    # auto-renew turned off: at the end of the term the subscription expires
    await admin.change_subscription(customer.id, sub["id"], auto_renew_enabled=False)
    await admin.advance_clock(30 * DAY)
    expired = await customer.get(sub["id"])
    assert (expired["status"], expired["autoRenewEnabled"]) == ("expired", False)
    assert at(expired["commitmentEndDate"]) == bought + 2 * TERM
    assert refundable(expired) == (0, [])


async def test_a_change_behind_the_engines_back_opens_no_window_and_is_no_call(
    customer: Customer, admin: SandboxAdmin
) -> None:
    await customer.buy(5, "buy")
    await admin.advance_clock(8 * DAY)
    sub = await customer.only_subscription()
    calls = await admin.calls()

    changed = await admin.change_subscription(customer.id, sub["id"], quantity=9)
    assert await admin.calls() == calls
    held = await customer.get(sub["id"])
    assert held == {**changed, "links": held["links"]}
    assert held["quantity"] == 9 and refundable(held) == (0, [])
    assert held["attributes"]["etag"] != sub["attributes"]["etag"]
    # nothing to take back: the seats were not added through Partner Center's API
    refused = await customer.patch(held, "down", quantity=5)
    assert (refused.status_code, refused.json()["code"]) == (400, 800090)

    # a reduction behind the engine's back takes refundable seats first (here: a fresh block)
    added = await customer.patch(held, "up", quantity=12)
    assert refundable(added.json())[0] == 3
    await admin.change_subscription(customer.id, sub["id"], quantity=10, status="suspended")
    held = await customer.get(sub["id"])
    assert (held["status"], held["quantity"], refundable(held)) == ("suspended", 10, (0, []))


async def test_the_clock_moves_forward_only(
    sandbox: SandboxServer, admin: SandboxAdmin, customer: Customer
) -> None:
    await customer.buy(2, "buy")
    start = await admin.clock()
    await admin.set_clock(start + timedelta(days=3))
    assert await admin.clock() - start >= timedelta(days=3)
    sub = await customer.only_subscription()
    assert sub["status"] == "active"  # provisioning (an hour here) went by on the same clock

    async with httpx.AsyncClient(base_url=sandbox.base_url + PREFIX) as raw:
        backwards = await raw.post("/clock", json={"now": start.isoformat()})
        both = await raw.post("/clock", json={"now": start.isoformat(), "advanceSeconds": 1})
        naive = await raw.post("/clock", json={"now": "2030-01-01T00:00:00"})
    assert (backwards.status_code, both.status_code, naive.status_code) == (400, 400, 400)
    assert "only moves forward" in backwards.json()["description"]
    assert "exactly one" in both.json()["description"]
    assert await admin.clock() - start < timedelta(days=3, minutes=5)
    assert start.utcoffset() == timedelta(0)


async def test_a_reduction_takes_back_the_newest_seats_first(
    customer: Customer, admin: SandboxAdmin
) -> None:
    """Microsoft does not document which block a reduction refunds; the sandbox takes back the
    latest added seats first (an order's addition undone is that order's block)."""
    await customer.buy(10, "buy")
    await admin.advance_clock(2 * DAY)
    sub = await customer.only_subscription()
    bought = at(sub["creationDate"])
    added = (await customer.patch(sub, "up", quantity=13)).json()
    [(ten, purchase_until), (three, added_until)] = refundable(added)[1]
    assert (ten, purchase_until, three) == (10, bought + WINDOW, 3)
    reduced = await customer.patch(added, "down", quantity=11)
    assert reduced.status_code == 200, reduced.text
    assert refundable(reduced.json()) == (11, [(10, bought + WINDOW), (1, added_until)])
    await admin.advance_clock(6 * DAY)  # the purchase's window closed, the addition's is open
    assert refundable(await customer.get(sub["id"])) == (1, [(1, added_until)])
