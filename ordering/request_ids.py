"""The request ids the engine sends Partner Center with every write (`MS-RequestId`).

Partner Center recognizes a retried write by its request id, so each write of an order has one
id of its own, derived from the order's id and the step: `<order id>:<step>`. A retried
activity sends the same id, and Microsoft answers it once. These strings must never change: an
order under way, and every saved history, carries them.
"""

from __future__ import annotations

CREATE_CUSTOMER = "create-customer"
EDUCATION_VETTING = "education-vetting"
CUSTOMER_AGREEMENT = "customer-agreement"
QUANTITY = "quantity"  # a licence request's change of quantity
CART = "cart"  # a purchase's cart, under the purchase's request id
CHECKOUT = "checkout"  # a purchase's checkout, under the purchase's request id


def request_id(order_id: str, step: str) -> str:
    """The request id of `step` of the order (or licence request) `order_id`."""
    return f"{order_id}:{step}"


def purchase(attempt: int) -> str:
    """The purchase's step: `purchase` first, `purchase:2` when bought again with fresh
    availabilities (a new request, since the first one was refused)."""
    return "purchase" if attempt == 0 else f"purchase:{attempt + 1}"


def line_quantity(line: int) -> str:
    """The step that adds licences for order line `line` (numbered from 0)."""
    return f"line-{line}:{QUANTITY}"


def line_cancellation(line: int, asked: int) -> str:
    """The step that cancels the subscription order line `line` created, the `asked`-th change
    asked of that line (each change a request of its own: a refused one is never answered again
    to the next; a retried one is the same request)."""
    return f"line-{line}:cancel:{asked}"


def line_reduction(line: int, asked: int) -> str:
    """The step that takes licences of order line `line` back, the `asked`-th change asked of
    that line."""
    return f"line-{line}:reduce:{asked}"
