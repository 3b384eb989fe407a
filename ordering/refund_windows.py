"""After the purchase: new commerce's 168-hour refund windows, what may be undone in them, and
how the engine's record of a customer's subscriptions compares with Partner Center's.

Every fulfilled line of an order (a subscription created, or licences added) opens a window in
which Microsoft lets the change be undone with a refund: the whole subscription cancelled
(`cancellationAllowedUntilDate`), or the added seats taken back (`refundableQuantity`). The
engine remembers each such purchase (`WindowedPurchase`) until its window closes, and what its
orders left on each subscription (`ExpectedSubscription`), and decides here, as plain
functions, whether a cancellation or a reduction may be asked of Partner Center, what a failed
payment undoes, when to tell the storefront that a window is closing, and what drifted.

A change is never asked when the engine can tell it would take licences that other orders (or
the customer before the engine) hold: a reduction takes back at most the seats this purchase
added and not yet taken back, a cancellation only a subscription that holds nothing else, and
neither is asked while Partner Center holds something else than the engine's record says (the
subscription was changed behind the engine's back: reconciliation reports it, an operator
decides).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ordering.refusals import Refusal, RefusalCode

REFUND_WINDOW = timedelta(hours=168)


class RefundBlock(BaseModel):
    """Seats Partner Center still refunds, and until when (`refundableQuantity.details`)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    quantity: int
    until: datetime


class RefundWindow(BaseModel):
    """What Partner Center reports of a subscription's windows."""

    model_config = ConfigDict(hide_input_in_errors=True)

    cancellation_allowed_until: datetime | None = None
    refundable: list[RefundBlock] = Field(default_factory=list)


class PurchaseAction(StrEnum):
    CREATED = "created"  # the line created the subscription
    ADDED = "added"  # the line added licences to an existing subscription


def window_closes_at(action: PurchaseAction, window: RefundWindow | None) -> datetime | None:
    """Until when a fulfilled line may be undone, as Partner Center reports it: a created
    subscription's cancellation date, or the newest refundable block's (the seats just added).
    None: Partner Center reports no window (a legacy offer): nothing can be undone."""
    if window is None:
        return None
    if action is PurchaseAction.CREATED:
        return window.cancellation_allowed_until
    return max((block.until for block in window.refundable), default=None)


class WindowedPurchase(BaseModel):
    """One fulfilled line whose refund window the engine watches."""

    model_config = ConfigDict(hide_input_in_errors=True)

    purchase: str = Field(description="The order's workflow id (the storefront's order).")
    order_id: str = Field(description="The storefront's order id.")
    storefront: str | None = None
    line: int
    subscription_id: str
    offer: str
    action: PurchaseAction
    seats: int = Field(description="Licences the line bought (created with, or added).")
    seats_left: int = Field(description="Of those, not yet taken back.")
    closes_at: datetime
    cancelled: bool = False
    closing_told: bool = False
    closed_told: bool = False
    changes_asked: int = Field(0, description="Changes asked of the line so far (request ids).")

    def is_open(self, now: datetime) -> bool:
        return now < self.closes_at

    def undoable(self, now: datetime) -> bool:
        return self.is_open(now) and not self.cancelled and self.seats_left > 0


class ExpectedSubscription(BaseModel):
    """What the engine's orders left on a subscription (after its last change by the engine)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    subscription_id: str
    offer: str
    quantity: int
    status: str = "active"
    changed_by: str = Field("", description="The last order (workflow id) that changed it.")
    storefront: str | None = None


class HeldSubscription(BaseModel):
    """What Partner Center holds of a subscription."""

    model_config = ConfigDict(hide_input_in_errors=True)

    subscription_id: str
    quantity: int
    status: str


class Drift(BaseModel):
    """A difference between the engine's record and Partner Center: reported, never
    overwritten."""

    model_config = ConfigDict(hide_input_in_errors=True)

    subscription_id: str
    offer: str
    expected_quantity: int
    expected_status: str
    held_quantity: int | None = Field(None, description="None: Partner Center has no such one.")
    held_status: str | None = None
    storefront: str | None = None

    def sentence(self) -> str:
        if self.held_quantity is None:
            held = "no such subscription"
        else:
            held = f"{self.held_quantity} licences, {self.held_status}"
        return (
            f"Subscription {self.subscription_id} ({self.offer}) was changed outside the engine: "
            f"the engine's orders left {self.expected_quantity} licences, "
            f"{self.expected_status}; Partner Center holds {held}."
        )


# ---------------------------------------------------------------------------- decisions


def recorded_purchase(
    record: ExpectedSubscription | None,
    *,
    subscription_id: str,
    offer: str,
    seats: int,
    quantity_after: int,
    purchase: str,
    storefront: str | None,
) -> tuple[ExpectedSubscription, Drift | None]:
    """The record after a purchase of `seats` that left `quantity_after` at Partner Center.

    A subscription the engine has no record of is recorded as Partner Center left it. One it
    has is recorded as its record plus the purchase's seats: what the engine's orders say it
    holds, whatever the order found there. If the order found something else (the subscription
    was changed outside the engine), the record is not reset to it: the difference is a drift,
    reported, and every later undo on it waits for an operator."""
    if record is None:
        return (
            ExpectedSubscription(
                subscription_id=subscription_id,
                offer=offer,
                quantity=quantity_after,
                changed_by=purchase,
                storefront=storefront,
            ),
            None,
        )
    updated = record.model_copy(
        update={
            "quantity": record.quantity + seats,
            "changed_by": purchase,
            "storefront": storefront,
        }
    )
    held = HeldSubscription(
        subscription_id=subscription_id, quantity=quantity_after, status="active"
    )
    return updated, drifted(updated, held)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def window_closed(purchase: WindowedPurchase) -> Refusal:
    return Refusal(
        code=RefusalCode.REFUND_WINDOW_CLOSED,
        message=f"The refund window of lines[{purchase.line}] closed at "
        f"{_when(purchase.closes_at)}: Microsoft allows a cancellation or a reduction only "
        f"within {REFUND_WINDOW.days} days of the purchase, so nothing was changed; subscription "
        f"{purchase.subscription_id} keeps its licences until its term ends.",
        # (no `partner_center_code`: Microsoft was not asked; it would answer 900117 to a
        # cancellation, 800090 to a reduction)
        details={"line": purchase.line, "subscription_id": purchase.subscription_id},
    )


def drifted(expected: ExpectedSubscription, held: HeldSubscription) -> Drift | None:
    """The difference between the record and Partner Center, if any."""
    if held.quantity == expected.quantity and held.status == expected.status:
        return None
    return Drift(
        subscription_id=expected.subscription_id,
        offer=expected.offer,
        expected_quantity=expected.quantity,
        expected_status=expected.status,
        held_quantity=held.quantity,
        held_status=held.status,
        storefront=expected.storefront,
    )


def changed_outside(drift: Drift) -> Refusal:
    return Refusal(
        code=RefusalCode.SUBSCRIPTION_DRIFTED,
        message=f"{drift.sentence()} Nothing was changed: the subscription must be reconciled "
        "by an operator first.",
        details={"subscription_id": drift.subscription_id},
    )


def cancellation_refusal(
    purchase: WindowedPurchase, expected: ExpectedSubscription, now: datetime
) -> Refusal | None:
    """Whether the subscription a line created may be cancelled now (None: ask Microsoft)."""
    where = f"lines[{purchase.line}] (subscription {purchase.subscription_id})"
    if purchase.action is not PurchaseAction.CREATED:
        return Refusal(
            code=RefusalCode.NOT_CANCELLABLE,
            message=f"{where} added licences to a subscription it did not create: it cannot be "
            "cancelled through this order; reduce the licences the order added instead.",
            details={"line": purchase.line},
        )
    if purchase.cancelled or expected.status == "deleted":
        return Refusal(
            code=RefusalCode.SUBSCRIPTION_NOT_ACTIVE,
            message=f"{where} is cancelled already.",
            details={"line": purchase.line},
        )
    if not purchase.is_open(now):
        return window_closed(purchase)
    others = expected.quantity - purchase.seats_left
    if others > 0:
        return Refusal(
            code=RefusalCode.OTHER_ORDERS_LICENCES,
            message=f"Other orders added {others} licences to {where} since it was bought: "
            "cancelling it would take theirs too, so nothing was changed. Reduce it by this "
            f"order's {purchase.seats_left} licences instead.",
            details={"line": purchase.line, "other_licences": others},
        )
    return None


def reduction_refusal(
    purchase: WindowedPurchase, seats: int, expected: ExpectedSubscription, now: datetime
) -> Refusal | None:
    """Whether `seats` of the licences a line bought may be taken back now (None: ask)."""
    where = f"lines[{purchase.line}] (subscription {purchase.subscription_id})"
    if purchase.cancelled or expected.status == "deleted":
        return Refusal(
            code=RefusalCode.SUBSCRIPTION_NOT_ACTIVE,
            message=f"{where} is cancelled; its licences can no longer be reduced.",
            details={"line": purchase.line},
        )
    if not purchase.is_open(now):
        return window_closed(purchase)
    if seats > purchase.seats_left:
        return Refusal(
            code=RefusalCode.QUANTITY_REDUCTION_NOT_ALLOWED,
            message=f"{where}: the order bought {purchase.seats_left} licences that are still "
            f"refundable, fewer than the {seats} to take back; a reduction never takes "
            "licences other orders added, so nothing was changed.",
            details={"line": purchase.line, "refundable": purchase.seats_left},
        )
    if expected.quantity - seats < 1:
        return Refusal(
            code=RefusalCode.QUANTITY_REDUCTION_NOT_ALLOWED,
            message=f"{where}: taking back {seats} licences would leave none; cancel the "
            "subscription instead. Nothing was changed.",
            details={"line": purchase.line},
        )
    return None


class UndoStep(BaseModel):
    """What a failed payment undoes on one line: cancel the subscription, or take back
    `seats`."""

    model_config = ConfigDict(hide_input_in_errors=True)

    line: int
    subscription_id: str
    cancel: bool
    seats: int


def undo_step(purchase: WindowedPurchase, expected: ExpectedSubscription) -> UndoStep:
    """Undo exactly what the line bought: cancel a subscription it created that holds nothing
    else, else take back its own licences (others' stay)."""
    cancel = purchase.action is PurchaseAction.CREATED and expected.quantity == purchase.seats_left
    return UndoStep(
        line=purchase.line,
        subscription_id=purchase.subscription_id,
        cancel=cancel,
        seats=purchase.seats_left,
    )


def undo_refusal(
    purchase: WindowedPurchase, expected: ExpectedSubscription, now: datetime
) -> Refusal | None:
    """Why a line of a failed payment cannot be undone (None: it can)."""
    step = undo_step(purchase, expected)
    if step.cancel:
        return cancellation_refusal(purchase, expected, now)
    if purchase.seats_left == 0 or purchase.cancelled:
        return Refusal(
            code=RefusalCode.NOTHING_TO_UNDO,
            message=f"lines[{purchase.line}]: its licences were taken back already.",
            details={"line": purchase.line},
        )
    return reduction_refusal(purchase, step.seats, expected, now)


# ---------------------------------------------------------------------------- the watch


class WindowNotice(StrEnum):
    CLOSING = "closing"
    CLOSED = "closed"


def due_notices(
    purchases: list[WindowedPurchase], now: datetime, notice: timedelta
) -> list[tuple[WindowNotice, WindowedPurchase]]:
    """What to tell now: windows closing within `notice` (once each), and windows closed."""
    due: list[tuple[WindowNotice, WindowedPurchase]] = []
    for purchase in purchases:
        if purchase.closed_told:
            continue
        if not purchase.is_open(now):
            due.append((WindowNotice.CLOSED, purchase))
        elif (
            not purchase.closing_told
            and now >= purchase.closes_at - notice
            and purchase.undoable(now)
        ):
            due.append((WindowNotice.CLOSING, purchase))
    return due


def next_notice_at(
    purchases: list[WindowedPurchase], now: datetime, notice: timedelta
) -> datetime | None:
    """When the watch must wake next (None: nothing is watched)."""
    moments: list[datetime] = []
    for purchase in purchases:
        if purchase.closed_told:
            continue
        moments.append(purchase.closes_at)
        if not purchase.closing_told and purchase.undoable(now):
            moments.append(purchase.closes_at - notice)
    return min((moment for moment in moments if moment > now), default=None)


# A closed window's purchase is kept this long after it closed (a failed payment told late is
# answered with what could no longer be undone), then forgotten.
KEPT_AFTER_CLOSING = timedelta(days=30)


def still_kept(purchases: list[WindowedPurchase], now: datetime) -> list[WindowedPurchase]:
    return [p for p in purchases if not p.closed_told or now < p.closes_at + KEPT_AFTER_CLOSING]


def drift_between(
    expected: dict[str, ExpectedSubscription], held: list[HeldSubscription]
) -> list[Drift]:
    """Every subscription whose record differs from what Partner Center holds (one it does not
    list at all included). Subscriptions the engine never changed are not its business."""
    found = {subscription.subscription_id: subscription for subscription in held}
    drifts: list[Drift] = []
    for subscription_id, record in sorted(expected.items()):
        holding = found.get(subscription_id)
        if holding is None and record.status == "deleted":
            continue  # cancelled by the engine: Microsoft stops listing it in time
        if holding is None:
            drifts.append(
                Drift(
                    subscription_id=subscription_id,
                    offer=record.offer,
                    expected_quantity=record.quantity,
                    expected_status=record.status,
                    storefront=record.storefront,
                )
            )
            continue
        drift = drifted(record, holding)
        if drift is not None:
            drifts.append(drift)
    return drifts
