"""Feasibility and the sandbox agree both ways, on thousands of generated cases, in-process.

The sandbox keeps its own copy of Microsoft's rules (it checks the engine, never imports it).
Here a test puts both side by side: for a generated customer state and order, the engine's plan
is judged by `ordering.feasibility` and carried out on an in-process sandbox (cart + checkout
for new subscriptions, quantity changes for the others). Judged feasible => the sandbox accepts
every step; judged infeasible for a Microsoft rule => the sandbox refuses some step. (The
platform's own rule, two lines on one subscription, is not Microsoft's: not compared.) The
end-to-end version over HTTP and Temporal is tests/engine/test_feasibility_oracle.py."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ordering.config import load_config
from ordering.document import OrderLine, Segment
from ordering.feasibility import Standing, order_problems
from ordering.planning import ExistingSubscription, LineAction, OfferFacts, plan_order
from ordering.refusals import RefusalCode
from sandbox import commerce
from sandbox.core import Sandbox, SandboxSettings
from sandbox.errors import PartnerCenterRefusal
from sandbox.state import AgreementRecord, CustomerRecord, QualificationRecord, SubscriptionRecord

CONFIG = load_config()
SANDBOX = Sandbox(SandboxSettings())
CATALOG = SANDBOX.catalog

# Offers (product:sku) of the sandbox's catalog, with their availability per segment.
AVAILABILITY: dict[tuple[str, str], str] = {
    (f"{p.id}:{s.id}", a.segment): a.id
    for p in CATALOG.products
    for s in p.skus
    for a in s.availabilities
}
OFFERS = sorted({offer for offer, _ in AVAILABILITY})
SEGMENTS = [Segment.COMMERCIAL, Segment.NONPROFIT, Segment.EDUCATION]


def offer_facts(offer: str, segment: Segment, country: str = "US") -> OfferFacts:
    """What describe_offers would report, from the sandbox's own wire shapes."""
    product_id, sku_id = offer.split(":")
    product = CATALOG.product(product_id)
    sku = CATALOG.sku(product_id, sku_id)
    sku_json = CATALOG.sku_json(product, sku)
    chosen = next(
        (
            CATALOG.availability_json(product, sku, a, country)
            for a in sku.availabilities
            if a.segment.lower() == segment.value.lower()
        ),
        None,
    )
    return OfferFacts(
        offer=offer,
        title=sku_json["title"],
        purchasable=bool(chosen and chosen["isPurchasable"]),
        sold_in_segment=chosen is not None,
        minimum_quantity=sku_json["minimumQuantity"],
        maximum_quantity=sku_json["maximumQuantity"],
    )


held_subscription = st.fixed_dictionaries(
    {
        "offer": st.sampled_from(OFFERS),
        "quantity": st.one_of(st.integers(1, 10), st.integers(140, 160), st.integers(285, 300)),
        "cycle": st.sampled_from(["monthly", "annual"]),
        "status": st.sampled_from(["active", "suspended", "deleted", "disabled", "expired"]),
        "deprovisioned": st.booleans(),
    }
)


@st.composite
def order_lines(draw: st.DrawFn) -> list[OrderLine]:
    keys = draw(
        st.lists(
            st.tuples(
                st.sampled_from(OFFERS),
                st.sampled_from(["monthly", "annual"]),
                st.sampled_from(["P1M", "P1Y"]),
                st.sampled_from(SEGMENTS),
            ),
            min_size=1,
            max_size=4,
            unique_by=lambda k: (k[0], k[1], "P1Y" if k[1] == "annual" else k[2], k[3]),
        )
    )
    return [
        OrderLine.model_validate(
            {
                "offer": offer,
                "quantity": draw(st.one_of(st.integers(1, 10), st.integers(100, 310))),
                "billing_cycle": cycle,
                "term": "P1Y" if cycle == "annual" else term,
                "segment": segment,
            }
        )
        for offer, cycle, term, segment in keys
    ]


def seed_customer(held: list[dict[str, Any]], qualification: str | None) -> str:
    sb = SANDBOX
    customer = CustomerRecord(
        id=sb.new_id(),
        domain=f"{sb.new_id()[:12]}.onmicrosoft.com",
        company_name="Agree",
        country="US",
        created_at=sb.now(),
        agreements=[
            AgreementRecord(
                template_id="t",
                type="MicrosoftCustomerAgreement",
                date_agreed="2026-11-20",
                primary_contact={},
            )
        ],
        qualifications=[
            QualificationRecord(
                qualification=qualification, vetting_status="Approved", created_at=sb.now()
            )
        ]
        if qualification
        else [],
    )
    sb.state.customers[customer.id] = customer
    for h in held:
        availability = AVAILABILITY.get((h["offer"], "Commercial")) or next(
            a for (o, _), a in AVAILABILITY.items() if o == h["offer"]
        )
        sub = SubscriptionRecord(
            id=sb.new_id(),
            customer_id=customer.id,
            offer_id=f"{h['offer']}:{availability}",
            offer_name="seeded",
            friendly_name="seeded",
            quantity=h["quantity"],
            status=h["status"],
            billing_cycle=h["cycle"],
            term_duration="P1Y" if h["cycle"] == "annual" else "P1M",
            order_id=None,
            created_at=sb.now() - 86400,
            deprovisioned=h["deprovisioned"] and h["status"] == "deleted",
            etag=sb.new_id(),
        )
        sb.state.subscriptions[sub.id] = sub
    return customer.id


def listed(customer_id: str) -> list[ExistingSubscription]:
    """The customer's subscriptions as the engine reads them (the listing, as read_subscriptions
    translates it)."""
    visible = [
        commerce.subscription_json(s, SANDBOX.now())
        for s in SANDBOX.state.customer_subscriptions(customer_id)
        if not s.deprovisioned  # what GET .../subscriptions lists
    ]
    return [
        ExistingSubscription(
            id=s["id"],
            offer=":".join(s["offerId"].upper().split(":")[:2]),
            billing_cycle=s["billingCycle"].lower(),
            status=s["status"].lower(),
            quantity=s["quantity"],
            created=s["creationDate"],
        )
        for s in visible
    ]


def carry_out(customer_id: str, lines: list[OrderLine], plan: Any) -> PartnerCenterRefusal | None:
    """The plan on the sandbox, as the purchase activities do it: the first refusal, if any."""
    try:
        creates = [p for p in plan.lines if p.action is LineAction.CREATE]
        if creates:
            items = [
                {
                    "id": p.line,
                    "catalogItemId": f"{p.offer}:"
                    + AVAILABILITY[(p.offer, lines[p.line].segment.value)],
                    "quantity": p.quantity,
                    "billingCycle": p.billing_cycle,
                    "termDuration": p.term_duration,
                }
                for p in creates
            ]
            cart = commerce.create_cart(SANDBOX, customer_id, {"lineItems": items})
            commerce.checkout(SANDBOX, customer_id, cart["id"])
        for p in plan.lines:
            if p.action is LineAction.ADD_LICENCES:
                commerce.change_subscription(
                    SANDBOX,
                    customer_id,
                    str(p.subscription_id),
                    {"quantity": p.quantity_after},
                    None,
                )
    except PartnerCenterRefusal as refusal:
        return refusal
    return None


def segment_refused(line: OrderLine, qualification: str | None) -> bool:
    """Does Microsoft refuse this line for such a customer whatever it holds? (No catalog item
    for the segment, or a checkout refused for the segment.) Judged on a fresh customer."""
    availability = AVAILABILITY.get((line.offer, line.segment.value))
    if availability is None:
        return True  # Microsoft has no such catalog item (404 400019)
    customer_id = seed_customer([], qualification)
    item = {
        "catalogItemId": f"{line.offer}:{availability}",
        "quantity": 1,
        "billingCycle": "monthly",
        "termDuration": "P1M",
    }
    try:
        cart = commerce.create_cart(SANDBOX, customer_id, {"lineItems": [item]})
        commerce.checkout(SANDBOX, customer_id, cart["id"])
    except PartnerCenterRefusal as refusal:
        return refusal.code in (800086, 2091)
    return False


def judged(
    lines: list[OrderLine], existing: list[ExistingSubscription], qualification: str | None
) -> tuple[Any, list[Any]]:
    offers: dict[str, OfferFacts] = {}
    for line in lines:
        offers.setdefault(line.offer, offer_facts(line.offer, line.segment))
    plan = plan_order(lines, CONFIG, offers, existing)
    standing = Standing(approved=frozenset({qualification} if qualification else set()))
    return plan, order_problems(lines, offers, plan, existing, standing, CONFIG)


@settings(max_examples=2000, deadline=None, derandomize=True)
@given(
    held=st.lists(held_subscription, max_size=5),
    lines=order_lines(),
    qualification=st.sampled_from([None, None, "Nonprofit", "Education"]),
)
def test_feasibility_and_the_sandbox_agree(
    held: list[dict[str, Any]], lines: list[OrderLine], qualification: str | None
) -> None:
    if len({(line.offer, line.segment) for line in lines}) != len({line.offer for line in lines}):
        return  # the engine describes an offer once per order (one segment per offer)
    customer_id = seed_customer(held, qualification)
    existing = listed(customer_id)
    _, problems = judged(lines, existing, qualification)
    if any(p.code is RefusalCode.LINES_CONFLICT for p in problems):
        return  # the platform's rule: Microsoft might accept what the platform refuses
    # Segment refusals: Microsoft refuses such a line for such a customer, whatever it holds.
    by_segment = {n for p in problems if p.code is RefusalCode.NOT_ELIGIBLE for n in p.lines}
    for n in by_segment:
        assert segment_refused(lines[n], qualification), f"{lines[n]} is sold to this customer"
    # The other lines, judged and carried out on the same state.
    rest = [line for n, line in enumerate(lines) if n not in by_segment]
    if not rest:
        return
    plan, problems = judged(rest, existing, qualification)
    refused = carry_out(customer_id, rest, plan)
    if problems:
        assert refused is not None, f"feasibility refused what Microsoft accepts: {problems}"
    else:
        assert refused is None, f"feasibility missed Microsoft's refusal {refused.body()}"
