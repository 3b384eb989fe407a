"""The refund window's decisions (ordering/refund_windows.py): what may be undone, what a failed
payment undoes, when the storefront is told, what drifted; and, over generated histories of
purchases and undo requests, that no accepted change ever takes licences others hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ordering.refund_windows import (
    REFUND_WINDOW,
    ExpectedSubscription,
    HeldSubscription,
    PurchaseAction,
    RefundBlock,
    RefundWindow,
    WindowedPurchase,
    WindowNotice,
    cancellation_refusal,
    drift_between,
    due_notices,
    next_notice_at,
    recorded_purchase,
    reduction_refusal,
    still_kept,
    undo_refusal,
    undo_step,
    window_closes_at,
)
from ordering.refusals import RefusalCode

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOTICE = timedelta(hours=24)


def purchase(
    action: PurchaseAction = PurchaseAction.CREATED,
    seats: int = 3,
    *,
    line: int = 0,
    order: str = "order-a",
    subscription: str = "sub-1",
) -> WindowedPurchase:
    return WindowedPurchase(
        purchase=order,
        order_id=order.removeprefix("order-"),
        line=line,
        subscription_id=subscription,
        offer="CFQ7TTC0LH18:0001",
        action=action,
        seats=seats,
        seats_left=seats,
        closes_at=T0 + REFUND_WINDOW,
    )


def record(quantity: int, status: str = "active") -> ExpectedSubscription:
    return ExpectedSubscription(
        subscription_id="sub-1", offer="CFQ7TTC0LH18:0001", quantity=quantity, status=status
    )


def test_the_window_is_partner_centers_cancellation_date_or_the_newest_block() -> None:
    window = RefundWindow(
        cancellation_allowed_until=T0 + REFUND_WINDOW,
        refundable=[
            RefundBlock(quantity=5, until=T0 + timedelta(days=2)),
            RefundBlock(quantity=2, until=T0 + timedelta(days=6)),
        ],
    )
    assert window_closes_at(PurchaseAction.CREATED, window) == T0 + REFUND_WINDOW
    assert window_closes_at(PurchaseAction.ADDED, window) == T0 + timedelta(days=6)
    assert window_closes_at(PurchaseAction.ADDED, RefundWindow()) is None
    assert window_closes_at(PurchaseAction.CREATED, None) is None


def test_a_cancellation_on_day_3_is_asked_and_on_day_8_refused_from_the_record() -> None:
    bought = purchase()
    assert cancellation_refusal(bought, record(3), T0 + timedelta(days=3)) is None
    refusal = cancellation_refusal(bought, record(3), T0 + timedelta(days=8))
    assert refusal is not None and refusal.code is RefusalCode.REFUND_WINDOW_CLOSED
    assert refusal.partner_center_code is None  # the engine's record refused: nobody asked
    assert "2026-12-08 09:00 UTC" in refusal.message and "sub-1" in refusal.message


def test_a_subscription_others_added_to_is_not_cancelled_but_reduced_on_failed_payment() -> None:
    bought = purchase(seats=3)
    refusal = cancellation_refusal(bought, record(5), T0)
    assert refusal is not None and refusal.code is RefusalCode.OTHER_ORDERS_LICENCES
    assert refusal.details["other_licences"] == 2
    step = undo_step(bought, record(5))
    assert (step.cancel, step.seats) == (False, 3)
    assert undo_refusal(bought, record(5), T0) is None
    assert undo_step(bought, record(3)).cancel


def test_added_licences_are_reduced_never_cancelled_and_never_below_others() -> None:
    added = purchase(PurchaseAction.ADDED, seats=3)
    refusal = cancellation_refusal(added, record(8), T0)
    assert refusal is not None and refusal.code is RefusalCode.NOT_CANCELLABLE
    assert reduction_refusal(added, 3, record(8), T0) is None
    too_many = reduction_refusal(added, 4, record(8), T0)
    assert too_many is not None and too_many.code is RefusalCode.QUANTITY_REDUCTION_NOT_ALLOWED
    none_left = reduction_refusal(purchase(seats=3), 3, record(3), T0)
    assert none_left is not None and "cancel" in none_left.message
    closed = reduction_refusal(added, 1, record(8), T0 + timedelta(days=7, seconds=1))
    assert closed is not None and closed.code is RefusalCode.REFUND_WINDOW_CLOSED


def test_a_cancelled_subscription_is_refused_as_not_active() -> None:
    bought = purchase().model_copy(update={"cancelled": True})
    for refusal in (
        cancellation_refusal(bought, record(3, "deleted"), T0),
        reduction_refusal(bought, 1, record(3, "deleted"), T0),
    ):
        assert refusal is not None and refusal.code is RefusalCode.SUBSCRIPTION_NOT_ACTIVE


def test_the_storefront_is_told_once_within_the_notice_and_once_at_the_close() -> None:
    bought = purchase()
    closes = bought.closes_at
    assert due_notices([bought], closes - NOTICE - timedelta(seconds=1), NOTICE) == []
    assert next_notice_at([bought], T0, NOTICE) == closes - NOTICE
    [(notice, _)] = due_notices([bought], closes - NOTICE, NOTICE)
    assert notice is WindowNotice.CLOSING
    told = bought.model_copy(update={"closing_told": True})
    assert due_notices([told], closes - timedelta(hours=1), NOTICE) == []
    assert next_notice_at([told], closes - NOTICE, NOTICE) == closes
    [(notice, _)] = due_notices([told], closes, NOTICE)
    assert notice is WindowNotice.CLOSED
    done = told.model_copy(update={"closed_told": True})
    assert due_notices([done], closes + timedelta(days=1), NOTICE) == []
    assert next_notice_at([done], closes, NOTICE) is None
    # kept a while to answer a late failed payment, then forgotten
    assert still_kept([done], closes + timedelta(days=29)) == [done]
    assert still_kept([done], closes + timedelta(days=31)) == []


def test_nothing_left_to_undo_is_not_announced_as_closing() -> None:
    undone = purchase().model_copy(update={"cancelled": True})
    assert [n for n, _ in due_notices([undone], undone.closes_at - NOTICE, NOTICE)] == []
    assert [n for n, _ in due_notices([undone], undone.closes_at, NOTICE)] == [WindowNotice.CLOSED]


def test_drift_is_every_difference_and_nothing_else() -> None:
    expected = {
        "same": record(5).model_copy(update={"subscription_id": "same"}),
        "fewer": record(5).model_copy(update={"subscription_id": "fewer"}),
        "gone": record(2).model_copy(update={"subscription_id": "gone"}),
        "suspended": record(1).model_copy(update={"subscription_id": "suspended"}),
        "cancelled": record(1, "deleted").model_copy(update={"subscription_id": "cancelled"}),
    }
    held = [
        HeldSubscription(subscription_id="same", quantity=5, status="active"),
        HeldSubscription(subscription_id="fewer", quantity=3, status="active"),
        HeldSubscription(subscription_id="suspended", quantity=1, status="suspended"),
        HeldSubscription(subscription_id="not-ours", quantity=9, status="active"),
    ]
    drifts = {d.subscription_id: d for d in drift_between(expected, held)}
    assert set(drifts) == {"fewer", "gone", "suspended"}
    assert (drifts["fewer"].expected_quantity, drifts["fewer"].held_quantity) == (5, 3)
    assert (
        drifts["gone"].held_quantity is None and "no such subscription" in drifts["gone"].sentence()
    )
    assert drifts["suspended"].held_status == "suspended"


def test_a_later_purchase_adds_to_the_record_and_reports_what_it_found_otherwise() -> None:
    first, drift = recorded_purchase(
        None,
        subscription_id="sub-1",
        offer="CFQ7TTC0LH18:0001",
        seats=5,
        quantity_after=5,
        purchase="order-a",
        storefront=None,
    )
    assert (first.quantity, drift) == (5, None)
    same, drift = recorded_purchase(
        first,
        subscription_id="sub-1",
        offer="CFQ7TTC0LH18:0001",
        seats=2,
        quantity_after=7,
        purchase="order-b",
        storefront="shop-b",
    )
    assert (same.quantity, same.changed_by, same.storefront, drift) == (
        7,
        "order-b",
        "shop-b",
        None,
    )
    # lowered to 3 outside the engine, then order C adds 2 (it finds 3, leaves 5)
    after, drift = recorded_purchase(
        first,
        subscription_id="sub-1",
        offer="CFQ7TTC0LH18:0001",
        seats=2,
        quantity_after=5,
        purchase="order-c",
        storefront=None,
    )
    assert after.quantity == 7
    assert drift is not None and (drift.expected_quantity, drift.held_quantity) == (7, 5)


# ---------------------------------------------------------------------- a property


@settings(max_examples=300, deadline=None)
@given(
    before=st.integers(min_value=0, max_value=20),
    created=st.integers(min_value=0, max_value=10),
    added=st.lists(st.integers(min_value=1, max_value=10), max_size=4),
    asks=st.lists(
        st.tuples(
            st.sampled_from(["reduce", "cancel", "undo"]),
            st.integers(min_value=0, max_value=4),
            st.integers(min_value=1, max_value=12),
        ),
        max_size=12,
    ),
)
def test_no_accepted_change_ever_takes_what_others_hold(
    before: int, created: int, added: list[int], asks: list[tuple[str, int, int]]
) -> None:
    """A subscription holds `before` licences of nobody's (or, with `created`, is created by
    order 0 and holds nothing else); orders add licences. Any reductions, cancellations and
    failed-payment undos are asked, of any order; the decisions are applied to a model of
    Partner Center kept apart from the orders' own counts. Whatever is accepted, each order
    gives back at most what it bought, a cancellation happens only when nobody else holds a
    licence, and the licences of nobody's are never touched."""
    held = 0 if created else before
    orders: list[WindowedPurchase] = []
    bought: list[int] = []
    if created:
        orders.append(purchase(PurchaseAction.CREATED, created, order="order-0"))
        bought.append(created)
        held = created
    for n, seats in enumerate(added, start=len(orders)):
        orders.append(purchase(PurchaseAction.ADDED, seats, order=f"order-{n}"))
        bought.append(seats)
        held += seats
    given_back = [0] * len(orders)
    cancelled = False
    for kind, which, seats in asks:
        if which >= len(orders) or cancelled:
            continue
        bought_by = orders[which]
        record = ExpectedSubscription(
            subscription_id="sub-1", offer="CFQ7TTC0LH18:0001", quantity=held
        )
        if kind == "undo":
            if undo_refusal(bought_by, record, T0) is not None:
                continue
            step = undo_step(bought_by, record)
            cancel, seats = step.cancel, step.seats
        elif kind == "cancel":
            if cancellation_refusal(bought_by, record, T0) is not None:
                continue
            cancel, seats = True, bought_by.seats_left
        else:
            if reduction_refusal(bought_by, seats, record, T0) is not None:
                continue
            cancel = False
        if cancel:
            # nobody else holds a licence: not the customer's own, not another order's
            assert held == bought_by.seats_left
            assert all(o.seats_left == 0 for o in orders if o is not bought_by)
            assert not (created == 0 and before > 0)
            cancelled = True
            bought_by.cancelled = True
            given_back[which] += bought_by.seats_left
            held = 0
            bought_by.seats_left = 0
            continue
        held -= seats
        given_back[which] += seats
        bought_by.seats_left -= seats
        assert held >= 1
        assert given_back[which] <= bought[which]
        # what nobody's and the other orders' hold is all still there
        others = sum(
            b - g for i, (b, g) in enumerate(zip(bought, given_back, strict=True)) if i != which
        )
        assert held >= others + (0 if created else before)
