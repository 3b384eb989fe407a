"""Feasibility: every refusal Microsoft would give that is knowable before buying, on the plan."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from ordering.config import EngineConfig, load_config
from ordering.document import OrderLine
from ordering.feasibility import Standing, order_problems
from ordering.planning import ExistingSubscription, LineAction, OfferFacts, plan_order
from ordering.refusals import Problem, RefusalCode, refusal_for

BASIC = "CFQ7TTC0LH18:0001"
STANDARD = "CFQ7TTC0LDPB:0001"
PREMIUM = "CFQ7TTC0LCHC:0002"
E3 = "CFQ7TTC0LF8Q:0001"
VOICE = "CFQ7TTC0LGZT:0001"  # end of sale
DYNAMICS = "CFQ7TTC0LHVK:0001"
A1 = "CFQ7TTC0LF8R:0001"  # education only

CONFIG = load_config()
OFFERS = {
    BASIC: OfferFacts(offer=BASIC, title="Business Basic", purchasable=True, maximum_quantity=300),
    STANDARD: OfferFacts(
        offer=STANDARD, title="Business Standard", purchasable=True, maximum_quantity=300
    ),
    PREMIUM: OfferFacts(
        offer=PREMIUM, title="Business Premium", purchasable=True, maximum_quantity=300
    ),
    E3: OfferFacts(offer=E3, title="Office 365 E3", purchasable=True),
    VOICE: OfferFacts(offer=VOICE, title="Business Voice", purchasable=False, maximum_quantity=300),
    DYNAMICS: OfferFacts(offer=DYNAMICS, title="Dynamics 365 Sales", purchasable=True),
    A1: OfferFacts(offer=A1, title="Office 365 A1", purchasable=True),
}


def line(offer: str, quantity: int, cycle: str = "monthly", **extra: str) -> OrderLine:
    return OrderLine.model_validate(
        {"offer": offer, "quantity": quantity, "billing_cycle": cycle, **extra}
    )


def sub(
    offer: str, quantity: int, cycle: str = "monthly", status: str = "active", id: str = ""
) -> ExistingSubscription:
    return ExistingSubscription(
        id=id or f"{offer}-{cycle}-{status}-{quantity}",
        offer=offer,
        billing_cycle=cycle,
        status=status,
        quantity=quantity,
    )


def judge(
    lines: list[OrderLine],
    existing: list[ExistingSubscription] | None = None,
    standing: Standing | None = None,
    config: EngineConfig = CONFIG,
    offers: dict[str, OfferFacts] = OFFERS,
) -> list[Problem]:
    held = existing or []
    plan = plan_order(lines, config, offers, held)
    return order_problems(lines, offers, plan, held, standing or Standing(), config)


def codes(problems: list[Problem]) -> list[tuple[RefusalCode, list[int]]]:
    return sorted((p.code, p.lines) for p in problems)


# ------------------------------------------------------------ the three cases


def test_a_discontinued_offer_is_refused_for_a_new_customer() -> None:
    assert codes(judge([line(VOICE, 2)])) == [(RefusalCode.OFFER_DISCONTINUED, [0])]


def test_a_discontinued_offer_grows_where_the_customer_holds_it() -> None:
    assert judge([line(VOICE, 2)], [sub(VOICE, 5)]) == []


def test_the_300_seat_cap_counts_every_business_line_of_a_new_customer() -> None:
    problems = judge([line(BASIC, 200), line(STANDARD, 200)])
    assert codes(problems) == [(RefusalCode.SEAT_LIMIT, [0, 1])]
    assert "holds 0 and the order asks for 400 more" in problems[0].message


def test_seats_per_subscription_are_judged_after_the_change() -> None:
    problems = judge([line(E3, 2), line(BASIC, 10)], [sub(BASIC, 295)])
    assert codes(problems) == [
        (RefusalCode.QUANTITY_OUT_OF_RANGE, [1]),
        (RefusalCode.SEAT_LIMIT, [1]),
    ]
    quantity = next(p for p in problems if p.code is RefusalCode.QUANTITY_OUT_OF_RANGE)
    assert "holds 295" in quantity.message and "make 305" in quantity.message


# ------------------------------------------------------------ each rule


def test_two_subscriptions_per_business_offer_count_cancelled_and_suspended_ones() -> None:
    # Monthly is suspended (not usable: the planner creates), annual cancelled: both hold a slot.
    held = [sub(BASIC, 5, status="suspended"), sub(BASIC, 5, "annual", status="deleted")]
    problems = judge([line(BASIC, 1)], held)
    assert codes(problems) == [(RefusalCode.SUBSCRIPTION_LIMIT, [0])]
    assert "holds 2 and the order would create 1" in problems[0].message


def test_an_expired_subscription_frees_its_slot() -> None:
    held = [sub(BASIC, 5, status="expired"), sub(BASIC, 5, "annual", status="deleted")]
    assert judge([line(BASIC, 1)], held) == []


def test_two_lines_may_not_go_to_one_subscription() -> None:
    lines = [line(BASIC, 1, term="P1M"), line(BASIC, 2, term="P1Y")]
    assert codes(judge(lines)) == [(RefusalCode.LINES_CONFLICT, [0, 1])]
    assert codes(judge(lines, [sub(BASIC, 3)])) == [(RefusalCode.LINES_CONFLICT, [0, 1])]


def test_monthly_and_annual_of_one_business_plan_may_be_bought_together() -> None:
    assert judge([line(BASIC, 1), line(BASIC, 2, "annual")]) == []


def test_dynamics_lines_are_each_a_new_instance() -> None:
    assert judge([line(DYNAMICS, 1, term="P1M"), line(DYNAMICS, 1, term="P1Y")]) == []


def test_segments_follow_the_qualifications() -> None:
    lines = [line(A1, 5, segment="Education")]
    assert codes(judge(lines)) == [(RefusalCode.NOT_ELIGIBLE, [0])]
    assert judge(lines, standing=Standing(to_be_vetted=frozenset({"Education"}))) == []
    government = Standing(approved=frozenset({"GovernmentCommunityCloud"}))
    assert codes(judge([line(E3, 1)], standing=government)) == [(RefusalCode.NOT_ELIGIBLE, [0])]


def test_an_offer_not_sold_in_the_segment_or_unknown_is_refused() -> None:
    offers = {
        **OFFERS,
        # As describe_offers reports it: no availability in the segment, so not purchasable.
        E3: OFFERS[E3].model_copy(update={"sold_in_segment": False, "purchasable": False}),
        BASIC: OFFERS[BASIC].model_copy(update={"found": False}),
    }
    lines = [line(BASIC, 1), line(E3, 1)]
    plan = plan_order(lines, CONFIG, offers, [])
    problems = order_problems(lines, offers, plan, [], Standing(), CONFIG)
    assert codes(problems) == [
        (RefusalCode.NOT_ELIGIBLE, [1]),
        (RefusalCode.OFFER_NOT_FOUND, [0]),
    ]


def test_a_line_the_catalog_refuses_has_that_one_problem() -> None:
    """Not sold in the segment (hence not purchasable, and not for the customer's segment
    either): one problem, not three."""
    offers = {
        **OFFERS,
        A1: OFFERS[A1].model_copy(update={"purchasable": False, "sold_in_segment": False}),
    }
    problems = judge([line(A1, 1, segment="NonProfit")], offers=offers)
    assert codes(problems) == [(RefusalCode.NOT_ELIGIBLE, [0])]
    assert codes(judge([line(BASIC, 301)])) == [(RefusalCode.QUANTITY_OUT_OF_RANGE, [0])]


def test_the_sku_minimum_applies_to_the_subscription_not_to_the_licences_added() -> None:
    offers = {**OFFERS, E3: OFFERS[E3].model_copy(update={"minimum_quantity": 5})}
    assert judge([line(E3, 2)], [sub(E3, 20)], offers=offers) == []
    new = judge([line(E3, 2)], offers=offers)
    assert codes(new) == [(RefusalCode.QUANTITY_OUT_OF_RANGE, [0])]
    assert "sold in quantities of 5 to" in new[0].message


def test_configured_end_of_sale_is_honoured() -> None:
    config = CONFIG.model_copy(update={"discontinued_products": ("CFQ7TTC0LF8Q",)})
    assert codes(judge([line(E3, 1)], config=config)) == [(RefusalCode.OFFER_DISCONTINUED, [0])]


def test_every_problem_is_reported_together_naming_its_lines() -> None:
    problems = judge([line(VOICE, 1), line(BASIC, 250), line(STANDARD, 100)])
    refusal = refusal_for(problems)
    assert refusal.code is RefusalCode.OFFER_DISCONTINUED  # the first line's
    assert [p.code for p in refusal.problems] == [
        RefusalCode.OFFER_DISCONTINUED,
        RefusalCode.SEAT_LIMIT,
    ]
    assert "lines[0]: Business Voice is no longer sold" in refusal.message
    assert "lines[1], lines[2]: Microsoft allows at most 300" in refusal.message
    assert refusal.details["lines"] == [0, 1, 2]


# ------------------------------------------------------------ properties

OFFER_IDS = [BASIC, STANDARD, PREMIUM, E3, VOICE, DYNAMICS]
STATUSES = ["active", "pending", "suspended", "deleted", "expired"]

existing_subscriptions = st.lists(
    st.builds(
        sub,
        offer=st.sampled_from(OFFER_IDS),
        quantity=st.integers(1, 300),
        cycle=st.sampled_from(["monthly", "annual"]),
        status=st.sampled_from(STATUSES),
        id=st.uuids().map(str),
    ),
    max_size=6,
)


@st.composite
def order_lines(draw: st.DrawFn) -> list[OrderLine]:
    keys = draw(
        st.lists(
            st.tuples(
                st.sampled_from(OFFER_IDS),
                st.sampled_from(["monthly", "annual"]),
                st.sampled_from(["P1M", "P1Y"]),
            ),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    lines: list[OrderLine] = []
    for offer, cycle, term in keys:
        term = "P1Y" if cycle == "annual" else term
        if any((x.offer, x.billing_cycle, x.term_duration) == (offer, cycle, term) for x in lines):
            continue
        lines.append(line(offer, draw(st.integers(1, 320)), cycle, term=term))
    return lines


@settings(max_examples=400, deadline=None)
@given(lines=order_lines(), existing=existing_subscriptions)
def test_a_plan_without_problems_keeps_every_limit(
    lines: list[OrderLine], existing: list[ExistingSubscription]
) -> None:
    """No problem found => after the purchase every Microsoft limit still holds (an independent
    re-count of the customer's state after the plan is carried out)."""
    plan = plan_order(lines, CONFIG, OFFERS, existing)
    if order_problems(lines, OFFERS, plan, existing, Standing(), CONFIG):
        return
    after = {s.id: s.model_copy() for s in existing}
    for p in plan.lines:
        assert OFFERS[p.offer].purchasable or p.action is LineAction.ADD_LICENCES
        if p.action is LineAction.ADD_LICENCES:
            target = after[str(p.subscription_id)]
            after[target.id] = target.model_copy(update={"quantity": target.quantity + p.quantity})
        else:
            new = sub(p.offer, p.quantity, p.billing_cycle, "pending", id=f"new-{p.line}")
            after[new.id] = new
    # Only what the plan touches is judged: a customer may already be over a limit.
    touched = {p.offer for p in plan.lines}
    changed = {str(p.subscription_id) for p in plan.lines} | {f"new-{p.line}" for p in plan.lines}
    assert all(
        after[i].quantity <= OFFERS[after[i].offer].maximum_quantity for i in changed & set(after)
    )
    slots: dict[str, int] = defaultdict(int)
    for s in after.values():
        if s.status != "expired":
            slots[s.offer] += 1
    created = {p.offer for p in plan.lines if p.action is LineAction.CREATE}
    assert all(slots[o] <= 2 for o in created & {BASIC, STANDARD, PREMIUM})
    if touched & {BASIC, STANDARD, PREMIUM}:
        assert (
            sum(
                s.quantity
                for s in after.values()
                if s.offer in (BASIC, STANDARD, PREMIUM)
                and s.status in ("active", "pending", "suspended")
            )
            <= 300
        )


@settings(max_examples=200, deadline=None)
@given(lines=order_lines(), existing=existing_subscriptions)
def test_problems_name_real_lines_and_do_not_depend_on_line_order(
    lines: list[OrderLine], existing: list[ExistingSubscription]
) -> None:
    problems = judge(lines, existing)
    assert all(p.lines and all(0 <= n < len(lines) for n in p.lines) for p in problems)
    reversed_problems = judge(list(reversed(lines)), existing)
    assert sorted(p.code for p in problems) == sorted(p.code for p in reversed_problems)
