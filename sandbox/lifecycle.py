"""After the purchase: new commerce's refund windows, cancellation, seat reductions and terms.

Partner Center lets a new-commerce purchase, a renewal or an addition of seats be undone for
168 hours: each opens a window for its own block of seats (`refundableQuantity.details`); the
whole subscription can be cancelled while the window of its purchase or latest renewal is open
(`cancellationAllowedUntilDate`). Afterwards the customer is bound for the term. A reduction
takes back seats of the newest open blocks first. At the end of its term a subscription renews
(a new term and a new window for all its seats) or, with auto-renew off, expires.

Nothing here reads the wall clock: every function is given the sandbox's `now`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.errors import PartnerCenterRefusal, bad_request
from sandbox.state import REFUND_WINDOW_SECONDS, RefundBlock, SubscriptionRecord, term_seconds

CANCELLATION_WINDOW_DAYS = REFUND_WINDOW_SECONDS // 86400
# Microsoft's codes (error-codes.md; change-the-quantity-of-a-subscription.md for 800090's text).
CANNOT_DECREASE = 800090
CANCELLATION_WINDOW_PASSED = 900117
DELETED_CANNOT_CHANGE = 2011


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def open_window(sub: SubscriptionRecord, seats: int, now: float) -> None:
    """Seats bought or added at `now`: refundable for 168 hours."""
    if seats > 0:
        sub.refund_blocks.append(RefundBlock(quantity=seats, until=now + REFUND_WINDOW_SECONDS))


def start_term(sub: SubscriptionRecord, start: float) -> None:
    """A term begins at `start` (purchase or renewal): all seats refundable, cancellable."""
    sub.term_end = start + term_seconds(sub.term_duration)
    sub.cancellation_until = start + REFUND_WINDOW_SECONDS
    sub.refund_blocks = []
    open_window(sub, sub.quantity, start)


def take_back(sub: SubscriptionRecord, seats: int, now: float) -> None:
    """`seats` fewer: taken from the newest open blocks first; closed blocks are dropped."""
    blocks = sub.open_blocks(now)
    for block in reversed(blocks):
        taken = min(block.quantity, seats)
        block.quantity -= taken
        seats -= taken
    sub.refund_blocks = [b for b in blocks if b.quantity > 0]


def check_reduction(sub: SubscriptionRecord, quantity: int, now: float) -> None:
    """A reduction to `quantity` is allowed for the seats still refundable, else 800090."""
    if sub.quantity - quantity > sub.refundable(now):
        raise bad_request(CANNOT_DECREASE, "Subscription quantity cannot be decreased.")


def change_quantity(sub: SubscriptionRecord, quantity: int, now: float) -> None:
    """Carry out a change of quantity asked through Partner Center: an addition opens a window
    for the added seats; a reduction takes refundable seats back."""
    if quantity > sub.quantity:
        open_window(sub, quantity - sub.quantity, now)
    elif quantity < sub.quantity:
        take_back(sub, sub.quantity - quantity, now)
    sub.quantity = quantity


def refuse_if_deleted(sub: SubscriptionRecord) -> None:
    if sub.status == "deleted":
        raise bad_request(
            DELETED_CANNOT_CHANGE,
            f"Subscription with ID {sub.id} and deleted status can't be updated.",
        )


def cancel(sub: SubscriptionRecord, now: float) -> None:
    """Cancel (status `deleted`) while the window of the purchase or renewal is open."""
    if now > sub.cancellation_until:
        raise PartnerCenterRefusal(
            400,
            CANCELLATION_WINDOW_PASSED,
            f"You have passed your {CANCELLATION_WINDOW_DAYS}-day cancellation window. "
            "We are unable to cancel your purchase",
        )
    sub.status = "deleted"
    sub.refund_blocks = []
    sub.pending_quantity = sub.quantity_ready_at = None
    sub.etag = str(uuid.uuid4())


def renew_or_expire(sub: SubscriptionRecord, now: float) -> bool:
    """Terms that ended by `now`: renewed (auto-renew) or expired. Whether anything changed."""
    if sub.status != "active" or sub.term_end > now:
        return False
    if not sub.auto_renew:
        sub.status = "expired"
        sub.refund_blocks = []
    else:
        while sub.term_end <= now:
            start_term(sub, sub.term_end)
    sub.etag = str(uuid.uuid4())
    return True


def window_json(sub: SubscriptionRecord, now: float) -> dict[str, Any]:
    """The subscription's new-commerce fields about undoing it, as Partner Center reports them."""
    blocks = sub.open_blocks(now) if sub.status in ("active", "pending") else []
    total = min(sub.quantity, sum(b.quantity for b in blocks))
    return {
        "autoRenewEnabled": sub.auto_renew,
        "commitmentEndDate": iso(sub.term_end),
        "cancellationAllowedUntilDate": iso(sub.cancellation_until),
        "refundOptions": [{"type": "Full", "expiresAt": iso(sub.cancellation_until)}],
        "refundableQuantity": {
            "totalQuantity": total,
            "details": [
                {"quantity": b.quantity, "allowedUntilDateTime": iso(b.until)} for b in blocks
            ],
        },
    }
