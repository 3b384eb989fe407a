"""Request ids: Partner Center recognizes a retried write by them, and orders under way (and the
saved histories) carry them, so every one stays byte for byte what it was."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from ordering import request_ids as ids
from ordering.request_ids import request_id

HISTORIES = Path(__file__).parent.parent / "engine" / "histories"


def test_each_write_of_an_order_has_its_own_id() -> None:
    assert request_id("shop-1001", ids.CREATE_CUSTOMER) == "shop-1001:create-customer"
    assert request_id("shop-1001", ids.EDUCATION_VETTING) == "shop-1001:education-vetting"
    assert request_id("shop-1001", ids.CUSTOMER_AGREEMENT) == "shop-1001:customer-agreement"
    assert request_id("shop-1001", ids.purchase(0)) == "shop-1001:purchase"
    assert request_id("shop-1001", ids.purchase(1)) == "shop-1001:purchase:2"
    assert request_id("shop-1001", ids.line_quantity(0)) == "shop-1001:line-0:quantity"
    assert request_id("shop-1001", ids.line_quantity(12)) == "shop-1001:line-12:quantity"
    assert request_id("lic-7", ids.QUANTITY) == "lic-7:quantity"
    # after the purchase: each change asked of a line a request of its own
    assert request_id("shop-1001", ids.line_cancellation(1, 1)) == "shop-1001:line-1:cancel:1"
    assert request_id("shop-1001", ids.line_reduction(0, 2)) == "shop-1001:line-0:reduce:2"


def test_a_purchase_names_its_cart_and_checkout_under_its_own_id() -> None:
    purchase = request_id("shop-1001", ids.purchase(1))
    assert request_id(purchase, ids.CART) == "shop-1001:purchase:2:cart"
    assert request_id(purchase, ids.CHECKOUT) == "shop-1001:purchase:2:checkout"


def _recorded_request_ids(history: Path) -> set[str]:
    found: set[str] = set()
    text = history.read_text("utf-8")
    for data in re.findall(r'"data": "([A-Za-z0-9+/=]+)"', text):
        try:
            payload = base64.b64decode(data).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
        found.update(re.findall(r'"request_id":\s*"([^"]*)"', payload))
    return found


def test_the_saved_histories_ids_are_the_ones_made_today() -> None:
    made = {
        request_id(order, step)
        for order in ("rec-new", "rec-ru", "rec-existing")
        for step in (ids.CREATE_CUSTOMER, ids.CUSTOMER_AGREEMENT, ids.purchase(0))
    } | {
        "rec-licences",
        request_id("rec-licences", ids.QUANTITY),
        # after the purchase (the customers' subscriptions workflows)
        request_id("rec-new", ids.line_cancellation(0, 1)),
        request_id("rec-new", ids.line_cancellation(1, 1)),
        request_id("rec-dynamics", ids.line_reduction(0, 1)),
    }
    recorded: set[str] = set()
    for history in sorted(HISTORIES.glob("*.json")):
        recorded |= _recorded_request_ids(history)
    assert recorded, "no request id found in the saved histories"
    assert recorded <= made
