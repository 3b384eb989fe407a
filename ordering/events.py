"""What a storefront hears of its orders and licence requests (its webhooks, docs/WEBHOOKS.md):
one event per step the storefront may act on, built from the order's status by pure functions.

An event carries ids (the storefront's order or request id, Microsoft's customer and
subscription ids), the phase, each line's outcome, the refusal's code and sentence, and a
sequence number per order (1, 2, ...); never personal data. The one free text is the refusal's
sentence: the engine writes it, and it may quote the customer's domain (a domain taken, no tenant
with that domain) or Partner Center's own words, so the order's personal values are masked out
of it (`masked`). A line's `problem` (free text too) is not sent: the refusal says it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ordering.document import ExistingTenant, NewCustomer, OrderDocument
from ordering.planning import LineAction
from ordering.refund_windows import Drift, PurchaseAction, WindowedPurchase
from ordering.refusals import Refusal, RefusalCode
from ordering.status import LineState, LineStatus, OrderStatus, Phase


class StorefrontEventType(StrEnum):
    ORDER_WAITING_FOR_TAX_ID = "order.waiting_for_tax_id"
    ORDER_WAITING_FOR_RELATIONSHIP = "order.waiting_for_relationship"
    ORDER_WAITING_FOR_VETTING = "order.waiting_for_vetting"
    ORDER_COMPLETED = "order.completed"
    ORDER_REFUSED = "order.refused"
    ORDER_FAILED = "order.failed"
    ORDER_CANCELLED = "order.cancelled"
    LICENCES_COMPLETED = "licences.completed"
    LICENCES_REFUSED = "licences.refused"
    LICENCES_FAILED = "licences.failed"
    # After the purchase (ordering/refund_windows.py): a line's refund window, and a
    # subscription Partner Center holds otherwise than the engine's orders left it.
    SUBSCRIPTION_WINDOW_CLOSING = "subscription.cancellation_window_closing"
    SUBSCRIPTION_WINDOW_CLOSED = "subscription.cancellation_window_closed"
    SUBSCRIPTION_DRIFTED = "subscription.drifted"

    @property
    def final(self) -> bool:
        """The last event of its order (or licence request): nothing follows it."""
        return self not in WAITING_EVENTS


WAITING_EVENTS = frozenset(
    {
        StorefrontEventType.ORDER_WAITING_FOR_TAX_ID,
        StorefrontEventType.ORDER_WAITING_FOR_RELATIONSHIP,
        StorefrontEventType.ORDER_WAITING_FOR_VETTING,
    }
)

# The order's phases a storefront hears of, and what it hears.
ORDER_EVENTS: dict[Phase, StorefrontEventType] = {
    Phase.WAITING_FOR_TAX_ID: StorefrontEventType.ORDER_WAITING_FOR_TAX_ID,
    Phase.WAITING_FOR_RELATIONSHIP: StorefrontEventType.ORDER_WAITING_FOR_RELATIONSHIP,
    Phase.WAITING_FOR_VETTING: StorefrontEventType.ORDER_WAITING_FOR_VETTING,
    Phase.COMPLETED: StorefrontEventType.ORDER_COMPLETED,
    Phase.REFUSED: StorefrontEventType.ORDER_REFUSED,
    Phase.FAILED: StorefrontEventType.ORDER_FAILED,
    Phase.CANCELLED: StorefrontEventType.ORDER_CANCELLED,
}

MASK = "[redacted]"


class EventLine(BaseModel):
    """One line's outcome (0-based `line`, as `lines[n]` of the order document)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    line: int
    offer: str | None = Field(
        None,
        description="Partner Center product:SKU (None: not known, a licence request "
        "refused before its subscription was read).",
    )
    quantity: int
    state: LineState
    action: LineAction | None = None
    subscription_id: str | None = None
    quantity_before: int | None = None
    quantity_after: int | None = None


class EventStamp(BaseModel):
    """What the sender adds to every event: whose it is, its place in the order's sequence,
    and when it happened."""

    model_config = ConfigDict(hide_input_in_errors=True)

    storefront: str
    sequence: int = Field(ge=1)
    occurred_at: datetime


class StorefrontEvent(BaseModel):
    """A webhook's body (the public contract with storefronts, docs/WEBHOOKS.md)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    type: StorefrontEventType
    storefront: str
    order_id: str | None = Field(None, description="The storefront's order id (order events).")
    request_id: str | None = Field(
        None, description="The storefront's licence request id (licence events)."
    )
    sequence: int = Field(
        ge=1,
        description="1, 2, ... per order or licence request; for subscription events, per "
        "customer.",
    )
    phase: Phase | None = Field(None, description="The order's phase (order and licence events).")
    customer_id: str | None = None
    lines: list[EventLine] = Field(default_factory=list)
    refusal_code: RefusalCode | None = None
    refusal_message: str | None = None
    occurred_at: datetime
    subscription_id: str | None = Field(None, description="(subscription events)")
    window_closes_at: datetime | None = Field(
        None, description="When the line's refund window closes or closed (window events)."
    )
    drift: Drift | None = Field(None, description="What differs (subscription.drifted).")


def order_event(
    status: OrderStatus, stamp: EventStamp, *, personal: Iterable[str] = ()
) -> StorefrontEvent | None:
    """The event of an order in `status` (None for a phase a storefront does not hear of);
    `personal`: the order's personal values, masked out of the refusal's sentence."""
    kind = ORDER_EVENTS.get(status.phase)
    if kind is None:
        return None
    code, message = _refusal_parts(status.refusal if status.phase.final else None, personal)
    return StorefrontEvent(
        type=kind,
        storefront=stamp.storefront,
        order_id=status.order_id,
        sequence=stamp.sequence,
        phase=status.phase,
        customer_id=status.customer_id,
        lines=[_line(line) for line in status.lines],
        refusal_code=code,
        refusal_message=message,
        occurred_at=stamp.occurred_at,
    )


def licences_event(
    stamp: EventStamp,
    *,
    request_id: str,
    customer_id: str | None,
    line: EventLine | None,
    refusal: Refusal | None = None,
    failed: bool = False,
) -> StorefrontEvent:
    """A licence request's last event: completed (`refusal` None), refused, or `failed` (an
    engine error ended it: the change may or may not have been made)."""
    code, message = _refusal_parts(refusal, ())
    if failed:
        kind, phase = StorefrontEventType.LICENCES_FAILED, Phase.FAILED
    elif refusal is not None:
        kind, phase = StorefrontEventType.LICENCES_REFUSED, Phase.REFUSED
    else:
        kind, phase = StorefrontEventType.LICENCES_COMPLETED, Phase.COMPLETED
    return StorefrontEvent(
        type=kind,
        storefront=stamp.storefront,
        request_id=request_id,
        sequence=stamp.sequence,
        phase=phase,
        customer_id=customer_id,
        lines=[line] if line is not None else [],
        refusal_code=code,
        refusal_message=message,
        occurred_at=stamp.occurred_at,
    )


def window_event(
    stamp: EventStamp, purchase: WindowedPurchase, customer_id: str, *, closed: bool
) -> StorefrontEvent:
    """A line's refund window is closing (what can still be undone, until when) or closed."""
    return StorefrontEvent(
        type=StorefrontEventType.SUBSCRIPTION_WINDOW_CLOSED
        if closed
        else StorefrontEventType.SUBSCRIPTION_WINDOW_CLOSING,
        storefront=stamp.storefront,
        order_id=purchase.order_id,
        sequence=stamp.sequence,
        customer_id=customer_id,
        lines=[
            EventLine(
                line=purchase.line,
                offer=purchase.offer,
                quantity=purchase.seats_left,
                state=LineState.FULFILLED,
                action=LineAction.CREATE
                if purchase.action is PurchaseAction.CREATED
                else LineAction.ADD_LICENCES,
                subscription_id=purchase.subscription_id,
            )
        ],
        subscription_id=purchase.subscription_id,
        window_closes_at=purchase.closes_at,
        occurred_at=stamp.occurred_at,
    )


def drift_event(stamp: EventStamp, drift: Drift, customer_id: str) -> StorefrontEvent:
    """Partner Center holds a subscription otherwise than the engine's orders left it."""
    return StorefrontEvent(
        type=StorefrontEventType.SUBSCRIPTION_DRIFTED,
        storefront=stamp.storefront,
        sequence=stamp.sequence,
        customer_id=customer_id,
        subscription_id=drift.subscription_id,
        drift=drift.model_copy(update={"storefront": None}),
        occurred_at=stamp.occurred_at,
    )


def webhook_id(event: StorefrontEvent) -> str:
    """The event's `webhook-id`: the same for every attempt to deliver it, whichever worker
    makes it, so a receiver de-duplicates by it. Derived from whose event it is and its
    sequence number (an order id is never reused within a storefront)."""
    if event.type.value.startswith("subscription."):  # numbered per customer
        kind, own = "subscription", event.customer_id
    elif event.order_id is not None:
        kind, own = "order", event.order_id
    else:
        kind, own = "licences", event.request_id
    key = f"{kind}:{event.storefront}/{own}:{event.sequence}"
    return "msg_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def personal_values(order: OrderDocument | None, *extra: str | None) -> list[str]:
    """The order's own personal values, to be masked out of what a storefront is told: the
    customer's domain, company name, e-mail, phone, tax ID and billing address parts, and the
    name, e-mail and phone of who accepted the customer agreement; `extra`: values the order
    received later (a tax ID sent while it waited). The country is not personal and is kept."""
    values: list[str | None] = list(extra)
    if order is not None:
        customer = order.customer
        if isinstance(customer, NewCustomer):
            address = customer.billing_address
            values += [
                customer.domain,
                customer.domain_prefix,
                customer.company_name,
                customer.email,
                customer.phone,
                customer.tax_id,
                address.first_name,
                address.last_name,
                address.address_line1,
                address.address_line2,
                address.city,
                address.state,
                address.postal_code,
            ]
            if customer.education is not None:
                values.append(customer.education.website)
        elif isinstance(customer, ExistingTenant):
            values.append(customer.domain)
        acceptance = order.customer_agreement
        values += [acceptance.first_name, acceptance.last_name, acceptance.email, acceptance.phone]
    return [v for v in values if v]


def masked(text: str, personal: Iterable[str]) -> str:
    """`text` with each of the `personal` values replaced by `[redacted]`: matched whole (not
    inside a longer word), in any letter case, longest first (a domain before its prefix); a
    value with spaces, dots or dashes also in its compact form (a tax ID or phone written
    `7707 0834 93` matches `7707083493`). Values shorter than 2 characters are left alone.

    What it cannot catch: personal data that is not one of the order's values (another
    person's, a name Partner Center spells differently); a value written otherwise than the
    order wrote it (a phone number reformatted, an address abbreviated or translated, a tax ID
    split differently); a value split across words or joined to a longer word. And it masks a
    value that is also an ordinary word wherever that word occurs (a city called Reading)."""
    candidates: set[str] = set()
    for value in personal:
        value = value.strip()
        if len(value) < 2:
            continue
        candidates.add(value)
        compact = re.sub(r"[\s.\-()/]", "", value)
        if len(compact) >= 2 and compact != value:
            candidates.add(compact)
    for value in sorted(candidates, key=lambda v: (-len(v), v)):
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", MASK, text, flags=re.IGNORECASE)
    return text


def _line(line: LineStatus) -> EventLine:
    return EventLine(
        line=line.line,
        offer=line.offer,
        quantity=line.quantity,
        state=line.state,
        action=line.action,
        subscription_id=line.subscription_id,
        quantity_before=line.quantity_before,
        quantity_after=line.quantity_after,
    )


def _refusal_parts(
    refusal: Refusal | None, personal: Iterable[str]
) -> tuple[RefusalCode | None, str | None]:
    if refusal is None:
        return None, None
    return refusal.code, masked(refusal.message, personal)
