"""A checkout can place some order groups (one per billing cycle) and refuse others: the lines
of a refused group are refused with Microsoft's reason, the others were bought."""

from __future__ import annotations

from activities import messages as m
from activities.partner_center import _cart_line_errors, _refused_groups
from clients.partner_center import models as pc


def cart(*groups: str) -> pc.Cart:
    return pc.Cart.model_validate(
        {
            "id": "cart-1",
            "lineItems": [
                {
                    "id": n,
                    "catalogItemId": f"P{n}:0001:A",
                    "quantity": 1,
                    "billingCycle": group,
                    "orderGroup": group,
                }
                for n, group in enumerate(groups)
            ],
        }
    )


def error(group: str | None, code: str = "800089") -> pc.OrderError:
    return pc.OrderError.model_validate(
        {"orderGroupId": group, "code": code, "description": "limit"}
    )


def test_the_lines_of_the_refused_group_are_refused_the_placed_ones_are_not() -> None:
    placed = [m.PurchasedOrder(order_id="o-1", lines=[0, 2])]
    refused = _refused_groups(
        cart("monthly", "annual", "monthly").line_items, [error("annual")], placed
    )
    assert [(r.lines, r.refusal.code) for r in refused] == [([1], "800089")]


def test_several_refused_groups_keep_their_own_reasons() -> None:
    refused = _refused_groups(
        cart("monthly", "annual", "annual").line_items,
        [error("monthly", "800088"), error("annual", "2091")],
        [],
    )
    assert [(r.lines, r.refusal.code) for r in refused] == [([0], "800088"), ([1, 2], "2091")]


def test_without_order_groups_every_unplaced_line_carries_the_error() -> None:
    placed = [m.PurchasedOrder(order_id="o-1", lines=[0])]
    refused = _refused_groups(cart("monthly", "annual", "annual").line_items, [error(None)], placed)
    assert [r.lines for r in refused] == [[1, 2]]


def test_a_cart_with_line_errors_is_not_checked_out_and_says_why_per_line() -> None:
    with_errors = cart("monthly", "monthly", "annual")
    with_errors.line_items[1].error = pc.CartLineItemError(
        error_code="400019", error_description="The availability is no longer valid."
    )
    refused = _cart_line_errors(with_errors.line_items)
    assert [(r.lines, r.refusal.code) for r in refused] == [([1], "400019"), ([0, 2], "400019")]
    assert refused[0].not_ordered is None
    assert refused[1].not_ordered is not None and "refused lines[1]" in refused[1].not_ordered
    assert _cart_line_errors(cart("monthly").line_items) == []
