"""Carts, checkout and Microsoft's purchase rules; orders, provisioning, subscriptions."""

from __future__ import annotations

import pytest

from clients.partner_center import PartnerCenterClient, PartnerCenterError
from clients.partner_center.models import Cart
from sandbox.admin_client import SandboxAdmin
from tests.partner_center.builders import (
    BUSINESS_BASIC,
    BUSINESS_BASIC_NONPROFIT,
    BUSINESS_STANDARD,
    DYNAMICS_SALES,
    EDUCATION_A1,
    END_OF_SALE_VOICE,
    GOVERNMENT_G3,
    OFFICE_E3,
    cart,
)

RESELLER_TENANT = "bbbbbbbb-0000-4000-8000-000000000002"


async def buy(pc: PartnerCenterClient, customer_id: str, order: Cart, key: str) -> list[str]:
    created = await pc.create_cart(customer_id, order, request_id=f"{key}-cart")
    assert created.id and created.status == "Active"
    result = await pc.checkout_cart(customer_id, created.id, request_id=f"{key}-checkout")
    assert result.order_errors == []
    return [o.id for o in result.orders]


async def refusal(pc: PartnerCenterClient, customer_id: str, order: Cart) -> PartnerCenterError:
    with pytest.raises(PartnerCenterError) as caught:
        created = await pc.create_cart(customer_id, order, request_id="refused-cart")
        assert created.id
        await pc.checkout_cart(customer_id, created.id, request_id="refused-checkout")
    return caught.value


async def test_purchase_is_provisioned_asynchronously(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    order_ids = await buy(
        pc, customer_id, cart((BUSINESS_BASIC, 5, "monthly"), (OFFICE_E3, 10, "annual")), "k"
    )
    assert len(order_ids) == 2  # one order per billing cycle

    orders = [await pc.get_order(customer_id, oid) for oid in order_ids]
    assert {o.status for o in orders} == {"pending"}
    assert all(line.subscription_id is None for o in orders for line in o.line_items)
    [pending] = await pc.get_provisioning_status(customer_id, order_ids[0])
    assert pending.status == "PrefulfillmentPending"
    assert {s.status for s in await pc.list_subscriptions(customer_id)} == {"pending"}

    await admin.advance_clock(3601)
    orders = [await pc.get_order(customer_id, oid) for oid in order_ids]
    assert {o.status for o in orders} == {"completed"}
    [fulfilled] = await pc.get_provisioning_status(customer_id, order_ids[0])
    assert fulfilled.status == "Fulfilled"
    subs = {s.id: s for s in await pc.list_subscriptions(customer_id)}
    for order in orders:
        for line in order.line_items:
            assert line.subscription_id in subs
            sub = subs[line.subscription_id]
            assert (sub.status, sub.quantity, sub.order_id) == ("active", line.quantity, order.id)
            assert sub.billing_cycle == order.billing_cycle
    single = await pc.get_subscription(customer_id, next(iter(subs)))
    assert single.attributes is not None and single.attributes.etag


async def test_a_cart_checks_out_once(pc: PartnerCenterClient, admin: SandboxAdmin) -> None:
    customer_id = await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    created = await pc.create_cart(customer_id, cart((OFFICE_E3, 1, "monthly")), request_id="c")
    assert created.id
    await pc.checkout_cart(customer_id, created.id, request_id="co-1")
    with pytest.raises(PartnerCenterError) as caught:
        await pc.checkout_cart(customer_id, created.id, request_id="co-2")
    assert caught.value.code == "800065" and not caught.value.retryable
    assert len(await pc.list_subscriptions(customer_id)) == 1


async def test_no_purchase_without_the_customer_agreement(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer(
        "Contoso", "contoso.onmicrosoft.com", customer_agreement=False
    )
    error = await refusal(pc, customer_id, cart((OFFICE_E3, 1, "monthly")))
    assert (error.status, error.code) == (403, "13605")
    assert await pc.list_subscriptions(customer_id) == []


async def test_business_plans_allow_two_subscriptions_per_customer(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    await buy(pc, customer_id, cart((BUSINESS_BASIC, 1, "monthly")), "m")
    await buy(pc, customer_id, cart((BUSINESS_BASIC, 1, "annual")), "a")
    error = await refusal(pc, customer_id, cart((BUSINESS_BASIC, 1, "monthly")))
    assert (error.status, error.code) == (403, "800089")
    assert "remaining limit of 0" in error.description
    # another Business plan has its own two
    await buy(pc, customer_id, cart((BUSINESS_STANDARD, 1, "monthly")), "s")


async def test_cancelled_business_subscriptions_count_until_deprovisioned(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    await admin.add_subscription(customer_id, BUSINESS_BASIC, quantity=1, status="deleted")
    await admin.add_subscription(
        customer_id, BUSINESS_BASIC, quantity=1, status="deleted", deprovisioned=True
    )
    await buy(pc, customer_id, cart((BUSINESS_BASIC, 1, "monthly")), "one")
    error = await refusal(pc, customer_id, cart((BUSINESS_BASIC, 1, "annual")))
    assert error.code == "800089"
    # What the partner sees: the cancelled one, not the deprovisioned one (it is gone).
    listed = await pc.list_subscriptions(customer_id)
    assert sorted(s.status for s in listed) == ["deleted", "pending"]


async def test_three_hundred_seats_across_business_plans(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    await admin.add_subscription(customer_id, BUSINESS_BASIC, quantity=250)
    error = await refusal(pc, customer_id, cart((BUSINESS_STANDARD, 51, "monthly")))
    assert (error.status, error.code) == (403, "800088")
    await buy(pc, customer_id, cart((BUSINESS_STANDARD, 50, "monthly")), "ok")
    # enterprise plans are outside the Business seat pool
    await buy(pc, customer_id, cart((OFFICE_E3, 500, "monthly")), "e3")


async def test_end_of_sale_offers_cannot_be_bought_but_existing_ones_grow(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    error = await refusal(pc, customer_id, cart((END_OF_SALE_VOICE, 1, "monthly")))
    assert (error.status, error.code) == (403, "2091")
    seeded = await admin.add_subscription(customer_id, END_OF_SALE_VOICE, quantity=4)
    existing = await pc.get_subscription(customer_id, seeded["id"])
    grown = await pc.change_quantity(customer_id, existing, 6, request_id="grow")
    assert grown.quantity == 6
    assert (await pc.get_subscription(customer_id, seeded["id"])).quantity == 6


@pytest.mark.parametrize(
    ("qualification", "item", "allowed"),
    [
        (None, EDUCATION_A1, False),
        (None, BUSINESS_BASIC_NONPROFIT, False),
        (None, GOVERNMENT_G3, False),
        (None, BUSINESS_BASIC, True),
        ("Education", EDUCATION_A1, True),
        ("Education", BUSINESS_BASIC, True),
        ("Education", BUSINESS_BASIC_NONPROFIT, False),
        ("Nonprofit", BUSINESS_BASIC_NONPROFIT, True),
        ("Nonprofit", BUSINESS_BASIC, True),
        ("Nonprofit", EDUCATION_A1, False),
        ("GovernmentCommunityCloud", GOVERNMENT_G3, True),
        ("GovernmentCommunityCloud", BUSINESS_BASIC, False),
        ("StateOwnedEntity", BUSINESS_BASIC, True),
        ("StateOwnedEntity", GOVERNMENT_G3, False),
    ],
)
async def test_who_may_buy_which_segment(
    pc: PartnerCenterClient,
    admin: SandboxAdmin,
    qualification: str | None,
    item: str,
    allowed: bool,
) -> None:
    qualifications = [{"qualification": qualification}] if qualification else []
    customer_id = await admin.add_customer(
        "Buyer", "buyer.onmicrosoft.com", qualifications=qualifications
    )
    order = cart((item, 1, "monthly"))
    if allowed:
        assert await buy(pc, customer_id, order, "seg")
    else:
        error = await refusal(pc, customer_id, order)
        assert (error.status, error.code) == (400, "800086")


async def test_education_in_review_is_not_yet_eligible(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer(
        "School",
        "school.onmicrosoft.com",
        qualifications=[{"qualification": "Education", "vettingStatus": "InReview"}],
    )
    error = await refusal(pc, customer_id, cart((EDUCATION_A1, 1, "monthly")))
    assert error.code == "800086"


@pytest.mark.parametrize("quantity", [0, 301])
async def test_quantity_within_the_sku_limits(
    pc: PartnerCenterClient, admin: SandboxAdmin, quantity: int
) -> None:
    customer_id = await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    error = await refusal(pc, customer_id, cart((BUSINESS_BASIC, quantity, "monthly")))
    assert (error.status, error.code) == (400, "2002")


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ("NOPE:0001:CFQ7TTC0K971", "400013"),
        ("CFQ7TTC0LH18:0099:CFQ7TTC0K971", "400018"),
        ("CFQ7TTC0LH18:0001:STALE0000001", "400019"),
    ],
)
async def test_unknown_catalog_items_in_a_cart(
    pc: PartnerCenterClient, admin: SandboxAdmin, item: str, code: str
) -> None:
    customer_id = await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    error = await refusal(pc, customer_id, cart((item, 1, "monthly")))
    assert (error.status, error.code) == (404, code)


async def test_indirect_purchase_carries_the_reseller_and_needs_its_mpa(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    await admin.add_reseller("7777777", RESELLER_TENANT, signed=True)
    await admin.add_reseller("8888888", "dddddddd-0000-4000-8000-000000000004", signed=False)
    customer_id = await admin.add_customer(
        "Contoso", "contoso.onmicrosoft.com", associated_partner_id=RESELLER_TENANT
    )
    error = await refusal(
        pc, customer_id, cart((OFFICE_E3, 1, "monthly"), reseller_mpn_id="8888888")
    )
    assert (error.status, error.code) == (403, "900123")
    [order_id] = await buy(
        pc, customer_id, cart((OFFICE_E3, 1, "monthly"), reseller_mpn_id="7777777"), "ok"
    )
    order = await pc.get_order(customer_id, order_id)
    assert order.line_items[0].partner_id_on_record == "7777777"
    [sub] = await pc.list_subscriptions(customer_id)
    assert sub.partner_id == "7777777"


async def test_change_quantity_rules(pc: PartnerCenterClient, admin: SandboxAdmin) -> None:
    customer_id = await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    fresh = await admin.add_subscription(customer_id, DYNAMICS_SALES, quantity=10, age_days=2)
    old = await admin.add_subscription(customer_id, BUSINESS_BASIC, quantity=10, age_days=30)
    sub = await pc.get_subscription(customer_id, fresh["id"])
    assert (await pc.change_quantity(customer_id, sub, 8, request_id="down")).quantity == 8

    old_sub = await pc.get_subscription(customer_id, old["id"])
    with pytest.raises(PartnerCenterError) as decrease:
        await pc.change_quantity(customer_id, old_sub, 9, request_id="late-down")
    assert decrease.value.code == "800090"
    with pytest.raises(PartnerCenterError) as too_many:
        await pc.change_quantity(customer_id, old_sub, 301, request_id="too-many")
    assert (too_many.value.status, too_many.value.code) == (403, "800067")  # the docs' table
    assert (await pc.change_quantity(customer_id, old_sub, 12, request_id="up")).quantity == 12

    # a stale etag is refused: somebody else changed the subscription meanwhile
    with pytest.raises(PartnerCenterError) as stale:
        await pc.change_quantity(customer_id, old_sub, 13, request_id="stale")
    assert (stale.value.status, stale.value.code) == (400, "2055")  # the docs' error table


async def test_a_subscription_still_provisioning_is_a_conflict_that_clears(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    await buy(pc, customer_id, cart((OFFICE_E3, 1, "monthly")), "p")
    [sub] = await pc.list_subscriptions(customer_id)
    with pytest.raises(PartnerCenterError) as caught:
        await pc.change_quantity(customer_id, sub, 2, request_id="early")
    assert (caught.value.status, caught.value.code) == (409, "800060")
    assert caught.value.retryable
    await admin.advance_clock(3601)
    [sub] = await pc.list_subscriptions(customer_id)
    # the same request, sent again once provisioning finished, is carried out
    assert (await pc.change_quantity(customer_id, sub, 2, request_id="early")).quantity == 2


async def test_cancellation_within_the_window_and_the_windows_as_reported(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer("Fabrikam", "fabrikam.onmicrosoft.com")
    fresh = await admin.add_subscription(customer_id, BUSINESS_BASIC, quantity=4, age_days=3)
    old = await admin.add_subscription(customer_id, DYNAMICS_SALES, quantity=2, age_days=8)
    sub = await pc.get_subscription(customer_id, fresh["id"])
    # the refund windows, typed: 168 hours from the purchase, for all its seats
    assert sub.cancellation_allowed_until_date is not None and sub.refundable_quantity
    assert sub.refundable_quantity.total_quantity == 4
    [block] = sub.refundable_quantity.details
    assert block.allowed_until_date_time == sub.cancellation_allowed_until_date

    cancelled = await pc.cancel_subscription(customer_id, sub, request_id="cancel-fresh")
    assert cancelled.status == "deleted"
    again = await pc.cancel_subscription(customer_id, sub, request_id="cancel-fresh")
    assert again.status == "deleted"  # the same request, answered once more
    with pytest.raises(PartnerCenterError) as deleted:
        await pc.cancel_subscription(
            customer_id, await pc.get_subscription(customer_id, fresh["id"]), request_id="twice"
        )
    assert (deleted.value.code, deleted.value.retryable) == ("2011", False)

    old_sub = await pc.get_subscription(customer_id, old["id"])
    with pytest.raises(PartnerCenterError) as late:
        await pc.cancel_subscription(customer_id, old_sub, request_id="cancel-late")
    assert (late.value.status, late.value.code, late.value.retryable) == (400, "900117", False)
    assert (await pc.get_subscription(customer_id, old["id"])).status == "active"
