"""Subscription lookup-or-create: the heart of the engine, as a pure function.

For each order line, from the customer's existing subscriptions and the product's policy:
- one per billing cycle (Business): add licences to the subscription with that billing cycle,
  else create one (so at most one monthly and one annual);
- new per order (Dynamics): always a new subscription (a new instance);
- one active (default): add licences to the active subscription of the product, else create;
- discontinued offers are planned like the others; whether the plan can be carried out (end of
  sale, seat and subscription limits, segments) is `ordering.feasibility`'s decision.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from ordering.config import EngineConfig, SubscriptionPolicy
from ordering.document import OrderLine
from ordering.refund_windows import RefundWindow

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
    window: RefundWindow | None = None  # new commerce's refund windows, as reported


class OfferFacts(BaseModel):
    """What the catalog says of an offer (product:sku) for the order's segment."""

    offer: str
    title: str
    found: bool = True
    purchasable: bool  # false: end of sale, no new subscription
    sold_in_segment: bool = True  # an availability exists for the line's segment
    minimum_quantity: int = 1  # seats per subscription
    maximum_quantity: int = 10_000_000
    catalog_item_id: str | None = None  # what a purchase names: the segment's availability


class PlannedLine(BaseModel):
    line: int
    offer: str
    title: str
    policy: SubscriptionPolicy = SubscriptionPolicy.ONE_ACTIVE
    action: LineAction
    subscription_id: str | None = None  # known up front when adding licences
    billing_cycle: str
    term_duration: str
    quantity: int  # what the order asks for
    quantity_before: int
    quantity_after: int
    catalog_item_id: str | None = None  # what a new subscription is bought as (the catalog's)

    @property
    def product_id(self) -> str:
        return self.offer.split(":")[0]


class Plan(BaseModel):
    lines: list[PlannedLine]


def plan_line(
    index: int,
    line: OrderLine,
    policy: SubscriptionPolicy,
    facts: OfferFacts,
    existing: list[ExistingSubscription],
) -> PlannedLine:
    """Decide one line: add licences to which subscription, or create one."""
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
            policy=policy,
            action=LineAction.ADD_LICENCES,
            subscription_id=target.id,
            billing_cycle=target.billing_cycle,
            term_duration=target.term_duration or line.term_duration,
            quantity=line.quantity,
            quantity_before=target.quantity,
            quantity_after=target.quantity + line.quantity,
            catalog_item_id=facts.catalog_item_id,
        )
    return PlannedLine(
        line=index,
        offer=line.offer,
        title=facts.title,
        policy=policy,
        action=LineAction.CREATE,
        billing_cycle=line.billing_cycle,
        term_duration=line.term_duration,
        quantity=line.quantity,
        quantity_before=0,
        quantity_after=line.quantity,
        catalog_item_id=facts.catalog_item_id,
    )


def plan_order(
    lines: list[OrderLine],
    config: EngineConfig,
    facts: dict[str, OfferFacts],
    existing: list[ExistingSubscription],
) -> Plan:
    """Plan every line whose offer the catalog knows (the others are refused by feasibility)."""
    return Plan(
        lines=[
            plan_line(n, line, config.policy_for(line.product_id), facts[line.offer], existing)
            for n, line in enumerate(lines)
            if facts[line.offer].found
        ]
    )


def depends_on_subscriptions(lines: list[OrderLine], config: EngineConfig) -> bool:
    """Does what the order will do, or whether Microsoft accepts it, depend on the customer's
    current subscriptions? Not when every line creates a new instance (`new_per_order`) of a
    product under no subscription cap and in no seat pool: such a plan, and its feasibility,
    are the same whatever the customer holds, and buying it changes nothing another order's
    plan depends on. Then the order neither reads the subscriptions nor takes the customer's
    slot."""
    limits = config.microsoft_limits
    pooled = {product for pool in limits.seat_pools for product in pool.products}
    return any(
        config.policy_for(line.product_id) is not SubscriptionPolicy.NEW_PER_ORDER
        or limits.subscription_cap(line.product_id) is not None
        or line.product_id.upper() in pooled
        for line in lines
    )


def with_fresh_catalog(
    planned: list[PlannedLine], facts: dict[str, OfferFacts]
) -> list[PlannedLine]:
    """The planned lines with the catalog items of a later catalog read (availability ids change
    over time; the plan itself does not)."""
    return [
        p.model_copy(update={"catalog_item_id": facts[p.offer].catalog_item_id}) for p in planned
    ]
