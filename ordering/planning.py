"""Subscription lookup-or-create: the heart of the engine, as a pure function.

For each order line, from the customer's existing subscriptions and the product's policy:
- one per billing cycle (Business): add licences to the subscription with that billing cycle,
  else create one (so at most one monthly and one annual);
- new per order (Dynamics): always a new subscription (a new instance);
- one active (default): add licences to the active subscription of the product, else create;
- discontinued offers: never create; add licences to an existing subscription where the policy
  allows adding, else refuse.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from ordering.config import EngineConfig, SubscriptionPolicy
from ordering.document import OrderLine
from ordering.refusals import Refusal, RefusalCode

# Subscriptions that count as "the customer's subscription" for adding licences. Pending ones
# are being provisioned: licences are added once they are active.
USABLE_STATUSES = frozenset({"active", "pending"})


class LineAction(StrEnum):
    CREATE = "created"
    ADD_LICENCES = "licences_added"


class ExistingSubscription(BaseModel):
    id: str
    offer: str  # product:sku
    billing_cycle: str
    term_duration: str | None = None
    status: str
    quantity: int
    created: str = ""  # ISO timestamp: the oldest matching subscription is chosen


class OfferFacts(BaseModel):
    """What the catalog says of an offer, for the planner."""

    offer: str
    title: str
    purchasable: bool


class PlannedLine(BaseModel):
    line: int
    offer: str
    title: str
    action: LineAction
    subscription_id: str | None = None  # known up front when adding licences
    billing_cycle: str
    term_duration: str
    quantity: int  # what the order asks for
    quantity_before: int
    quantity_after: int


class Plan(BaseModel):
    lines: list[PlannedLine]
    refusals: list[tuple[int, Refusal]]

    @property
    def ok(self) -> bool:
        return not self.refusals


def plan_line(
    index: int,
    line: OrderLine,
    policy: SubscriptionPolicy,
    facts: OfferFacts,
    existing: list[ExistingSubscription],
    *,
    discontinued: bool = False,
) -> PlannedLine | Refusal:
    """Decide one line: add licences to which subscription, or create one, or refuse."""
    same_offer = sorted(
        (s for s in existing if s.offer == line.offer and s.status in USABLE_STATUSES),
        key=lambda s: (s.created, s.id),
    )
    target: ExistingSubscription | None
    if policy is SubscriptionPolicy.ONE_PER_BILLING_CYCLE:
        target = next((s for s in same_offer if s.billing_cycle == line.billing_cycle), None)
    elif policy is SubscriptionPolicy.ONE_ACTIVE:
        target = next(iter(same_offer), None)
    else:
        target = None

    if target is not None:
        return PlannedLine(
            line=index,
            offer=line.offer,
            title=facts.title,
            action=LineAction.ADD_LICENCES,
            subscription_id=target.id,
            billing_cycle=target.billing_cycle,
            term_duration=target.term_duration or line.term_duration,
            quantity=line.quantity,
            quantity_before=target.quantity,
            quantity_after=target.quantity + line.quantity,
        )
    if discontinued or not facts.purchasable:
        where = (
            "Extra licences for an existing instance are bought from its subscription page."
            if policy is SubscriptionPolicy.NEW_PER_ORDER
            else "Only customers who already have it can add licences."
        )
        return Refusal(
            code=RefusalCode.OFFER_DISCONTINUED,
            message=f"{facts.title} is no longer sold by Microsoft. {where}",
            details={"line": index, "offer": line.offer},
        )
    return PlannedLine(
        line=index,
        offer=line.offer,
        title=facts.title,
        action=LineAction.CREATE,
        billing_cycle=line.billing_cycle,
        term_duration=line.term_duration,
        quantity=line.quantity,
        quantity_before=0,
        quantity_after=line.quantity,
    )


def plan_order(
    lines: list[OrderLine],
    config: EngineConfig,
    facts: dict[str, OfferFacts],
    existing: list[ExistingSubscription],
) -> Plan:
    planned: list[PlannedLine] = []
    refusals: list[tuple[int, Refusal]] = []
    for index, line in enumerate(lines):
        decision = plan_line(
            index,
            line,
            config.policy_for(line.product_id),
            facts[line.offer],
            existing,
            discontinued=config.is_discontinued(line.product_id),
        )
        if isinstance(decision, Refusal):
            refusals.append((index, decision))
        else:
            planned.append(decision)
    return Plan(lines=planned, refusals=refusals)
