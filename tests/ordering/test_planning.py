"""Lookup-or-create, as a pure function."""

from __future__ import annotations

from ordering.config import EngineConfig, SubscriptionPolicy, load_config
from ordering.document import OrderLine
from ordering.planning import (
    ExistingSubscription,
    LineAction,
    OfferFacts,
    PlannedLine,
    plan_line,
    plan_order,
    with_fresh_catalog,
)

BASIC = "CFQ7TTC0LH18:0001"
DYNAMICS = "CFQ7TTC0LHVK:0001"
E3 = "CFQ7TTC0LF8Q:0001"


def line(offer: str = BASIC, quantity: int = 3, cycle: str = "monthly") -> OrderLine:
    return OrderLine.model_validate({"offer": offer, "quantity": quantity, "billing_cycle": cycle})


def sub(
    id: str,
    offer: str = BASIC,
    cycle: str = "monthly",
    quantity: int = 5,
    status: str = "active",
    created: str = "2026-01-01",
) -> ExistingSubscription:
    return ExistingSubscription(
        id=id, offer=offer, billing_cycle=cycle, quantity=quantity, status=status, created=created
    )


def facts(offer: str = BASIC, purchasable: bool = True) -> OfferFacts:
    return OfferFacts(offer=offer, title="Plan", purchasable=purchasable)


def decide(
    policy: SubscriptionPolicy,
    existing: list[ExistingSubscription],
    ln: OrderLine | None = None,
    purchasable: bool = True,
) -> PlannedLine:
    ln = ln or line()
    return plan_line(0, ln, policy, facts(ln.offer, purchasable), existing)


class TestOnePerBillingCycle:
    policy = SubscriptionPolicy.ONE_PER_BILLING_CYCLE

    def test_creates_when_the_cycle_has_none(self) -> None:
        d = decide(self.policy, [sub("annual", cycle="annual")])
        assert isinstance(d, PlannedLine)
        assert (d.action, d.quantity_before, d.quantity_after) == (LineAction.CREATE, 0, 3)

    def test_adds_to_the_subscription_of_that_cycle(self) -> None:
        d = decide(self.policy, [sub("annual", cycle="annual"), sub("monthly")])
        assert isinstance(d, PlannedLine)
        assert (d.action, d.subscription_id, d.quantity_before, d.quantity_after) == (
            LineAction.ADD_LICENCES,
            "monthly",
            5,
            8,
        )

    def test_ignores_other_offers_and_inactive_subscriptions(self) -> None:
        d = decide(
            self.policy,
            [sub("e3", offer=E3), sub("gone", status="deleted"), sub("sus", status="suspended")],
        )
        assert isinstance(d, PlannedLine) and d.action is LineAction.CREATE

    def test_the_oldest_matching_subscription_wins(self) -> None:
        d = decide(
            self.policy, [sub("young", created="2026-05-01"), sub("old", created="2025-01-01")]
        )
        assert isinstance(d, PlannedLine) and d.subscription_id == "old"


def test_new_per_order_always_creates() -> None:
    d = decide(SubscriptionPolicy.NEW_PER_ORDER, [sub("instance", offer=DYNAMICS)], line(DYNAMICS))
    assert isinstance(d, PlannedLine) and d.action is LineAction.CREATE


def test_one_active_adds_to_any_cycle() -> None:
    d = decide(
        SubscriptionPolicy.ONE_ACTIVE,
        [sub("e3", offer=E3, cycle="annual")],
        line(E3, cycle="monthly"),
    )
    assert isinstance(d, PlannedLine)
    assert (d.action, d.subscription_id, d.billing_cycle) == (
        LineAction.ADD_LICENCES,
        "e3",
        "annual",
    )


def test_discontinued_offers_are_planned_like_the_others() -> None:
    """Whether a plan can be carried out is feasibility's decision (tests/ordering/
    test_feasibility.py); the planner only says what each line would do."""
    d = decide(SubscriptionPolicy.ONE_ACTIVE, [sub("held")], purchasable=False)
    assert d.action is LineAction.ADD_LICENCES
    assert decide(SubscriptionPolicy.ONE_ACTIVE, [], purchasable=False).action is LineAction.CREATE


def test_plan_order_uses_configured_policies() -> None:
    plan = plan_order(
        [line(BASIC), line(DYNAMICS), line(E3)],
        load_config(),
        {BASIC: facts(BASIC), DYNAMICS: facts(DYNAMICS), E3: facts(E3)},
        [sub("m"), sub("d", offer=DYNAMICS)],
    )
    assert [(p.line, p.action) for p in plan.lines] == [
        (0, LineAction.ADD_LICENCES),
        (1, LineAction.CREATE),
        (2, LineAction.CREATE),
    ]


def test_lines_of_unknown_offers_are_not_planned() -> None:
    unknown = OfferFacts(offer=E3, title=E3, found=False, purchasable=False)
    plan = plan_order([line(BASIC), line(E3)], load_config(), {BASIC: facts(), E3: unknown}, [])
    assert [p.line for p in plan.lines] == [0]


def test_a_planned_line_carries_the_catalog_item_it_is_bought_as() -> None:
    offers = {
        BASIC: OfferFacts(offer=BASIC, title="Basic", purchasable=True, catalog_item_id="B:1"),
        E3: OfferFacts(offer=E3, title="E3", purchasable=True, catalog_item_id="E:1"),
    }
    plan = plan_order([line(BASIC), line(E3)], load_config(), offers, [])
    assert [p.catalog_item_id for p in plan.lines] == ["B:1", "E:1"]
    # Availability ids change over time: a later catalog read gives the same lines new items.
    later = {
        BASIC: offers[BASIC].model_copy(update={"catalog_item_id": "B:2"}),
        E3: offers[E3].model_copy(update={"catalog_item_id": "E:2"}),
    }
    fresh = with_fresh_catalog(plan.lines, later)
    assert [p.catalog_item_id for p in fresh] == ["B:2", "E:2"]
    assert [p.model_dump(exclude={"catalog_item_id"}) for p in fresh] == [
        p.model_dump(exclude={"catalog_item_id"}) for p in plan.lines
    ]
    assert [p.catalog_item_id for p in plan.lines] == ["B:1", "E:1"]  # the plan is unchanged


def test_default_configuration_policies() -> None:
    config: EngineConfig = load_config()
    assert config.policy_for("CFQ7TTC0LH18") is SubscriptionPolicy.ONE_PER_BILLING_CYCLE
    assert config.policy_for("CFQ7TTC0LHVK") is SubscriptionPolicy.NEW_PER_ORDER
    assert config.policy_for("ANYTHING") is SubscriptionPolicy.ONE_ACTIVE
