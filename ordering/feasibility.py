"""Feasibility: every refusal Microsoft would give at purchase that can be known before buying.

Judged on the plan (what each line will do to which subscription) against the customer's
current subscriptions (none for a new customer) and the catalog, never on each line alone:

- the catalog: the offer exists and is sold in the line's segment;
- segments: the customer's qualifications allow the line's segment;
- end of sale: no new subscription of a discontinued offer (adding licences still works);
- seats per subscription after the change, within the SKU's minimum and maximum;
- two lines of one order never go to the same subscription, nor create two where the platform
  keeps one (one per billing cycle, one active);
- Microsoft's cap of concurrent subscriptions per offer and customer (cancelled and suspended
  ones count until Microsoft deprovisions them);
- Microsoft's seat pools (300 seats across the Business plans: held plus requested).

The customer agreement is confirmed by the engine before purchase, and the reseller's partner
agreement is checked first; both are steps of the workflow, not judged here.

Pure: no I/O. The workflow runs it before creating a new customer and again inside the
customer's slot right before purchase. Every problem is reported, each naming its lines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from pydantic import BaseModel, Field

from ordering.config import EngineConfig, SubscriptionPolicy
from ordering.document import OrderLine, Segment
from ordering.planning import ExistingSubscription, LineAction, OfferFacts, Plan, PlannedLine
from ordering.refusals import Problem, RefusalCode
from ordering.segments import may_buy

WHO_MAY_BUY: dict[Segment, str] = {
    Segment.COMMERCIAL: "commercial customers",
    Segment.EDUCATION: "qualified education customers",
    Segment.NONPROFIT: "qualified non-profit customers",
    Segment.GOVERNMENT: "qualified government customers",
}


class Standing(BaseModel):
    """What the customer is qualified for: approved qualifications, and those Microsoft is
    about to vet (a new school: vetting is requested once the customer exists)."""

    approved: frozenset[str] = Field(default_factory=frozenset)
    to_be_vetted: frozenset[str] = Field(default_factory=frozenset)


def not_eligible(line: int, title: str, segment: Segment) -> Problem:
    return Problem(
        code=RefusalCode.NOT_ELIGIBLE,
        message=f"This customer cannot buy {title}: it is only for {WHO_MAY_BUY[segment]}.",
        lines=[line],
    )


def catalog_problems(lines: list[OrderLine], offers: dict[str, OfferFacts]) -> list[Problem]:
    """What the catalog alone rules out, whoever the customer is: at most one problem per
    line (an unknown offer, one not sold in the segment, more than a subscription may hold)."""
    problems = []
    for n, line in enumerate(lines):
        offer = offers[line.offer]
        if not offer.found:
            problems.append(
                Problem(
                    code=RefusalCode.OFFER_NOT_FOUND,
                    message=f"The plan {line.offer} is not in Microsoft's catalog.",
                    lines=[n],
                )
            )
        elif not offer.sold_in_segment:
            problems.append(
                Problem(
                    code=RefusalCode.NOT_ELIGIBLE,
                    message=f"{offer.title} is not sold for {line.segment.value} customers.",
                    lines=[n],
                )
            )
        elif line.quantity > offer.maximum_quantity:  # too many for any subscription
            problems.append(
                Problem(
                    code=RefusalCode.QUANTITY_OUT_OF_RANGE,
                    message=f"{offer.title} is sold in quantities of {offer.minimum_quantity} "
                    f"to {offer.maximum_quantity} per subscription.",
                    lines=[n],
                )
            )
    return problems


def segment_problems(
    lines: list[OrderLine],
    offers: dict[str, OfferFacts],
    standing: Standing,
    *,
    only: list[int] | None = None,
) -> list[Problem]:
    """Lines (all, or those numbered in `only`) whose segment the customer's qualifications do
    not allow."""
    allowed = set(standing.approved | standing.to_be_vetted)
    return [
        not_eligible(n, offers[line.offer].title, line.segment)
        for n, line in enumerate(lines)
        if (only is None or n in only) and not may_buy(line.segment, allowed)
    ]


def plan_problems(
    plan: Plan,
    offers: dict[str, OfferFacts],
    existing: list[ExistingSubscription],
    config: EngineConfig,
) -> list[Problem]:
    """What Microsoft (or the platform's rules) would refuse of this plan, given what the
    customer holds."""
    problems: list[Problem] = []
    problems += _end_of_sale(plan.lines, offers, config)
    problems += _conflicting_lines(plan.lines)
    problems += _seats_per_subscription(plan.lines, offers)
    problems += _subscription_caps(plan.lines, existing, config)
    problems += _seat_pools(plan.lines, existing, config)
    return problems


def order_problems(
    lines: list[OrderLine],
    offers: dict[str, OfferFacts],
    plan: Plan,
    existing: list[ExistingSubscription],
    standing: Standing,
    config: EngineConfig,
) -> list[Problem]:
    """Every knowable refusal of the order: catalog, segments, then the plan against the
    customer's subscriptions. A line the catalog refuses is not judged further (its other
    "problems" would only repeat it). Empty: Microsoft is not expected to refuse any line."""
    catalog = catalog_problems(lines, offers)
    refused = {n for problem in catalog for n in problem.lines}
    rest = [n for n in range(len(lines)) if n not in refused]
    judged = Plan(lines=[p for p in plan.lines if p.line not in refused])
    return (
        catalog
        + segment_problems(lines, offers, standing, only=rest)
        + plan_problems(judged, offers, existing, config)
    )


# ---------------------------------------------------------------- the plan's rules


def _end_of_sale(
    planned: list[PlannedLine], offers: dict[str, OfferFacts], config: EngineConfig
) -> Iterable[Problem]:
    for p in planned:
        if p.action is not LineAction.CREATE:
            continue
        if offers[p.offer].purchasable and not config.is_discontinued(p.product_id):
            continue
        where = (
            "Extra licences for an existing instance are bought from its subscription page."
            if p.policy is SubscriptionPolicy.NEW_PER_ORDER
            else "Only customers who already have it can add licences."
        )
        yield Problem(
            code=RefusalCode.OFFER_DISCONTINUED,
            message=f"{p.title} is no longer sold by Microsoft. {where}",
            lines=[p.line],
        )


def _slot_of(p: PlannedLine) -> tuple[str, ...] | None:
    """The subscription a line goes to, as the platform's rules see it: the same key for two
    lines means they would share (or duplicate) one subscription."""
    if p.action is LineAction.ADD_LICENCES:
        return ("subscription", str(p.subscription_id))
    if p.policy is SubscriptionPolicy.ONE_PER_BILLING_CYCLE:
        return ("new", p.offer, p.billing_cycle)
    if p.policy is SubscriptionPolicy.ONE_ACTIVE:
        return ("new", p.offer)
    return None  # a new instance per line


def _conflicting_lines(planned: list[PlannedLine]) -> Iterable[Problem]:
    by_slot: dict[tuple[str, ...], list[PlannedLine]] = defaultdict(list)
    for p in planned:
        slot = _slot_of(p)
        if slot is not None:
            by_slot[slot].append(p)
    for slot, group in by_slot.items():
        if len(group) < 2:
            continue
        first = group[0]
        what = (
            f"add licences to the same {first.title} subscription"
            if slot[0] == "subscription"
            else f"create a {first.title} subscription where the customer keeps only one"
        )
        yield Problem(
            code=RefusalCode.LINES_CONFLICT,
            message=f"These lines would each {what}; put the whole quantity on one line.",
            lines=[p.line for p in group],
        )


def _seats_per_subscription(
    planned: list[PlannedLine], offers: dict[str, OfferFacts]
) -> Iterable[Problem]:
    for p in planned:
        offer = offers[p.offer]
        if offer.minimum_quantity <= p.quantity_after <= offer.maximum_quantity:
            continue
        if p.action is LineAction.CREATE:
            yield Problem(
                code=RefusalCode.QUANTITY_OUT_OF_RANGE,
                message=f"{p.title} is sold in quantities of {offer.minimum_quantity} to "
                f"{offer.maximum_quantity} per subscription.",
                lines=[p.line],
            )
            continue
        yield Problem(
            code=RefusalCode.QUANTITY_OUT_OF_RANGE,
            message=f"The customer's {p.title} subscription holds {p.quantity_before} "
            f"licences; adding {p.quantity} would make {p.quantity_after}, and Microsoft allows "
            f"{offer.minimum_quantity} to {offer.maximum_quantity} per subscription.",
            lines=[p.line],
        )


def _subscription_caps(
    planned: list[PlannedLine], existing: list[ExistingSubscription], config: EngineConfig
) -> Iterable[Problem]:
    limits = config.microsoft_limits
    new_by_product: dict[str, list[PlannedLine]] = defaultdict(list)
    for p in planned:
        if p.action is LineAction.CREATE:
            new_by_product[p.product_id].append(p)
    for product_id, creating in new_by_product.items():
        cap = limits.subscription_cap(product_id)
        if cap is None:
            continue
        held = sum(
            1
            for s in existing
            if s.offer.split(":")[0] == product_id and s.status in limits.statuses_holding_a_slot
        )
        if held + len(creating) <= cap:
            continue
        title = creating[0].title
        yield Problem(
            code=RefusalCode.SUBSCRIPTION_LIMIT,
            message=f"Microsoft allows {cap} subscriptions of {title} per customer, cancelled "
            f"and suspended ones included until Microsoft removes them; the customer holds "
            f"{held} and the order would create {len(creating)}.",
            lines=[p.line for p in creating],
        )


def _seat_pools(
    planned: list[PlannedLine], existing: list[ExistingSubscription], config: EngineConfig
) -> Iterable[Problem]:
    limits = config.microsoft_limits
    for pool in limits.seat_pools:
        adding = [p for p in planned if p.product_id.upper() in pool.products]
        if not adding:
            continue
        held = sum(
            s.quantity
            for s in existing
            if s.offer.split(":")[0].upper() in pool.products
            and s.status in limits.statuses_holding_seats
        )
        requested = sum(p.quantity for p in adding)
        if held + requested <= pool.max_seats_per_customer:
            continue
        yield Problem(
            code=RefusalCode.SEAT_LIMIT,
            message=f"Microsoft allows at most {pool.max_seats_per_customer} licences across "
            f"{pool.title} per customer; the customer holds {held} and the order asks for "
            f"{requested} more.",
            lines=[p.line for p in adding],
        )
