"""A storefront's events (ordering/events.py): built from the order's status, carrying ids,
phase, per-line outcome and refusal, and no personal data."""

from __future__ import annotations

from datetime import UTC, datetime

from devtools.samples import AGREEMENT, existing_tenant, known_customer, new_customer, order
from ordering.events import (
    MASK,
    EventStamp,
    StorefrontEventType,
    drift_event,
    masked,
    order_event,
    personal_values,
    webhook_id,
    window_event,
)
from ordering.planning import LineAction
from ordering.refund_windows import Drift, PurchaseAction, WindowedPurchase
from ordering.refusals import Refusal, RefusalCode
from ordering.status import LineState, LineStatus, OrderStatus, Phase

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STAMP = EventStamp(storefront="shop-a", sequence=2, occurred_at=AT)


def test_a_completed_order_tells_each_lines_outcome_and_no_free_text() -> None:
    status = OrderStatus(
        order_id="o-1",
        phase=Phase.COMPLETED,
        customer_id="c0ffee00-0000-4000-8000-000000000001",
        lines=[
            LineStatus(
                line=0,
                offer="CFQ7TTC0LF8Q:0001",
                title="Office 365 E3",
                quantity=2,
                state=LineState.FULFILLED,
                action=LineAction.ADD_LICENCES,
                subscription_id="sub-1",
                quantity_before=3,
                quantity_after=5,
                partner_center_order_id="pc-1",
                problem="something the customer should not read",
            )
        ],
    )
    event = order_event(status, STAMP)
    assert event is not None
    assert event.type is StorefrontEventType.ORDER_COMPLETED
    assert (event.storefront, event.order_id, event.request_id) == ("shop-a", "o-1", None)
    assert (event.sequence, event.phase, event.occurred_at) == (2, Phase.COMPLETED, AT)
    assert event.customer_id == status.customer_id
    assert event.refusal_code is None and event.refusal_message is None
    [sent] = event.model_dump(mode="json")["lines"]
    assert sent == {
        "line": 0,
        "offer": "CFQ7TTC0LF8Q:0001",
        "quantity": 2,
        "state": "fulfilled",
        "action": "licences_added",
        "subscription_id": "sub-1",
        "quantity_before": 3,
        "quantity_after": 5,
    }


def test_each_phase_a_storefront_hears_of_has_its_event_and_the_others_none() -> None:
    heard = {
        Phase.WAITING_FOR_TAX_ID: "order.waiting_for_tax_id",
        Phase.WAITING_FOR_RELATIONSHIP: "order.waiting_for_relationship",
        Phase.WAITING_FOR_VETTING: "order.waiting_for_vetting",
        Phase.COMPLETED: "order.completed",
        Phase.REFUSED: "order.refused",
        Phase.FAILED: "order.failed",
        Phase.CANCELLED: "order.cancelled",
    }
    for phase in Phase:
        event = order_event(OrderStatus(order_id="o-1", phase=phase), STAMP)
        if phase in heard:
            assert event is not None and event.type.value == heard[phase]
            assert event.type.final is phase.final
        else:
            assert event is None, phase


def test_a_refusal_quoting_the_orders_domain_is_told_without_it() -> None:
    document = order("o-2", new_customer("contoso42"))
    refusal = Refusal(
        code=RefusalCode.DOMAIN_TAKEN,
        message="The domain contoso42.onmicrosoft.com is already in use. Choose another domain "
        "prefix for the new customer.",
    )
    status = OrderStatus(order_id="o-2", phase=Phase.REFUSED, refusal=refusal)
    event = order_event(status, STAMP, personal=personal_values(document))
    assert event is not None and event.refusal_code is RefusalCode.DOMAIN_TAKEN
    assert event.refusal_message == (
        f"The domain {MASK} is already in use. Choose another domain prefix for the new customer."
    )
    assert "contoso42" not in event.model_dump_json()


def test_every_personal_value_of_the_order_is_masked_however_it_is_cased_or_spaced() -> None:
    document = order("o-3", new_customer("romashka", country="RU", tax_id="7707 0838 93"))
    personal = personal_values(document, "7707083893")
    text = (
        "Romashka Ltd (it@example.com, +1 425 555 0100) at 1 Tverskaya, Moscow 125009; "
        "contact ADA LOVELACE (ada@example.com); INN 7707083893 / 7707 0838 93; "
        "domain romashka.onmicrosoft.com."
    )
    result = masked(text, personal)
    for value in (
        "Romashka",
        "it@example.com",
        "425 555",
        "Tverskaya",
        "Moscow",
        "125009",
        "ADA",
        "LOVELACE",
        AGREEMENT["email"],
        "7707",
        "onmicrosoft",
    ):
        assert value.lower() not in result.lower(), (value, result)
    # What is not the customer's stays readable
    assert result.startswith(f"{MASK} (")
    assert "; contact " in result and "; INN " in result


def test_masking_leaves_words_that_merely_contain_a_value() -> None:
    # "Ada" is the sample's first name: "Canada" and "adapter" are not hers
    assert masked("Canada adapter; Ada", ["Ada"]) == f"Canada adapter; {MASK}"
    assert masked("anything", ["", "a"]) == "anything"  # too short to mask


def test_an_existing_tenants_domain_is_personal_and_a_known_customer_has_only_its_acceptance() -> (
    None
):
    tenant = order("o-4", existing_tenant("fabrikam.example"))
    assert "fabrikam.example" in personal_values(tenant)
    known = order("o-5", known_customer("c0ffee00-0000-4000-8000-000000000001"))
    assert set(personal_values(known)) == {"Ada", "Lovelace", "ada@example.com"}
    assert set(personal_values(None, None, "x1")) == {"x1"}


def test_the_webhook_id_is_stable_per_event_and_distinct_per_sequence_and_storefront() -> None:
    status = OrderStatus(order_id="o-5", phase=Phase.COMPLETED)
    first = order_event(status, STAMP)
    again = order_event(status, STAMP.model_copy(update={"occurred_at": datetime.now(UTC)}))
    other_sequence = order_event(status, STAMP.model_copy(update={"sequence": 3}))
    other_shop = order_event(status, STAMP.model_copy(update={"storefront": "shop-b"}))
    assert first and again and other_sequence and other_shop
    assert webhook_id(first) == webhook_id(again)
    assert webhook_id(first).startswith("msg_")
    assert len({webhook_id(e) for e in (first, other_sequence, other_shop)}) == 3


def test_a_window_event_names_the_line_and_when_and_its_id_is_the_customers_not_the_orders() -> (
    None
):
    bought = WindowedPurchase(
        purchase="order-shop-a/o-5",
        order_id="o-5",
        storefront="shop-a",
        line=1,
        subscription_id="sub-9",
        offer="CFQ7TTC0LH18:0001",
        action=PurchaseAction.ADDED,
        seats=3,
        seats_left=2,
        closes_at=AT,
    )
    closing = window_event(STAMP, bought, "cust-1", closed=False)
    closed = window_event(STAMP, bought, "cust-1", closed=True)
    assert closing.type is StorefrontEventType.SUBSCRIPTION_WINDOW_CLOSING
    assert closed.type is StorefrontEventType.SUBSCRIPTION_WINDOW_CLOSED
    assert (closing.order_id, closing.subscription_id, closing.window_closes_at) == (
        "o-5",
        "sub-9",
        AT,
    )
    [line] = closing.lines
    assert (line.line, line.quantity, line.action) == (1, 2, LineAction.ADD_LICENCES)
    assert closing.phase is None and closing.type.final
    # numbered per customer: never the id of the order's own event of the same sequence
    order_done = order_event(OrderStatus(order_id="o-5", phase=Phase.COMPLETED), STAMP)
    assert order_done is not None and webhook_id(order_done) != webhook_id(closing)
    drift = Drift(
        subscription_id="sub-9",
        offer="CFQ7TTC0LH18:0001",
        expected_quantity=5,
        expected_status="active",
        held_quantity=4,
        held_status="active",
        storefront="shop-a",
    )
    told = drift_event(STAMP.model_copy(update={"sequence": 3}), drift, "cust-1")
    assert told.type is StorefrontEventType.SUBSCRIPTION_DRIFTED
    assert told.drift is not None and told.drift.held_quantity == 4
    assert told.drift.storefront is None  # whose it is, is the event's storefront
    assert webhook_id(told) not in {webhook_id(closing), webhook_id(order_done)}
