"""Every ordering rule, end to end through the storefront SDK on a real Temporal server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from clients.contract import LicenceRequest
from clients.storefront import LicencesRefused, Storefront
from devtools.samples import (
    BUSINESS_BASIC,
    DYNAMICS_SALES,
    EDUCATION_A1,
    GOVERNMENT_G3,
    OFFICE_E3,
    VOICE_END_OF_SALE,
    existing_tenant,
    known_customer,
    line,
    new_customer,
    order,
)
from ordering.planning import LineAction
from ordering.refusals import RefusalCode
from ordering.status import LineState, Phase, WaitingFor
from sandbox.admin_client import SandboxAdmin
from tests.engine.partner_center_state import (
    assert_no_customer_created,
    customer_subscriptions,
    holdings,
    orders_of,
)
from tests.helpers import wait_for


async def add_reseller(admin: SandboxAdmin, unique: str, **state: Any) -> dict[str, str]:
    """A reseller unique to the test, seeded at Partner Center; the order's `reseller`."""
    mpn = str(int(unique[:8], 16) % 10_000_000).zfill(7)
    tenant = "bbbbbbbb-0000-4000-8000-" + unique[:10] + "00"
    await admin.add_reseller(mpn, tenant, **state)
    return {"mpn_id": mpn, "tenant_id": tenant}


async def test_placing_the_same_order_twice_runs_it_once(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    document = order(f"twice-{unique}", new_customer(f"twice{unique}"))
    first = await shop.place_order(document)
    second = await shop.place_order(document)
    assert first == second == f"order-twice-{unique}"
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED
    again = await shop.place_order(document)  # even after it finished
    assert again == first
    runs = [w async for w in shop.client.list_workflows(f"WorkflowId = '{first}'")]
    assert len(runs) == 1
    snapshot = await admin.snapshot()
    assert [c["domain"] for c in snapshot["customers"]].count(f"twice{unique}.onmicrosoft.com") == 1


async def test_a_taken_domain_is_refused_before_anything_is_created(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    await admin.add_tenant(f"taken{unique}.onmicrosoft.com", "Taken Inc")
    document = order(f"taken-{unique}", new_customer(f"taken{unique}"))
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.REFUSED
    assert outcome.refusal is not None and outcome.refusal.code is RefusalCode.DOMAIN_TAKEN
    assert f"taken{unique}.onmicrosoft.com" in outcome.refusal.message
    assert outcome.customer_id is None
    snapshot = await admin.snapshot()  # the tenant is somebody else's, not a new customer
    assert not [c for c in snapshot["customers"] if c["domain"] == f"taken{unique}.onmicrosoft.com"]


async def test_reseller_without_partner_agreement_is_told_to_accept_it(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    reseller = await add_reseller(admin, unique, signed=False)
    document = order(f"mpa-{unique}", new_customer(f"mpa{unique}"), reseller=reseller)
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.RESELLER_AGREEMENT_NOT_SIGNED
    assert "accept it in Partner Center" in outcome.refusal.message
    await assert_no_customer_created(admin, f"mpa{unique}")


async def test_a_partner_that_is_not_an_indirect_reseller_is_refused_before_anything(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    """Microsoft's MPA check answers 2204 for a partner id that is not an indirect reseller."""
    reseller = await add_reseller(admin, unique, mpa_check_error=2204)
    document = order(f"ind-{unique}", new_customer(f"ind{unique}"), reseller=reseller)
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.RESELLER_NOT_ELIGIBLE
    assert "not an indirect reseller" in outcome.refusal.message
    await assert_no_customer_created(admin, f"ind{unique}")


async def test_indirect_order_carries_the_reseller(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    reseller = await add_reseller(admin, unique)
    mpn, tenant = reseller["mpn_id"], reseller["tenant_id"]
    document = order(
        f"ind-{unique}",
        new_customer(f"ind{unique}"),
        line(OFFICE_E3, 2),
        reseller=reseller,
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    snapshot = await admin.snapshot()
    customer = next(c for c in snapshot["customers"] if c["id"] == outcome.customer_id)
    assert customer["associatedPartnerId"] == tenant
    [sub] = await customer_subscriptions(admin, str(outcome.customer_id))
    assert sub["partnerId"] == mpn


async def test_existing_tenant_waits_for_the_relationship_then_continues(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    domain = f"legacy{unique}.onmicrosoft.com"
    tenant_id = await admin.add_tenant(domain, "Legacy Corp")
    document = order(f"rel-{unique}", existing_tenant(domain), line(OFFICE_E3, 4))
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.RELATIONSHIP)
    status = await shop.status(document.order_id)
    assert status.phase is Phase.WAITING_FOR_RELATIONSHIP
    assert status.waiting is not None and status.waiting.relationship_link
    assert status.waiting.relationship_link.startswith("https://admin.microsoft.com/")

    await admin.accept_relationship(domain)
    await shop.relationship_accepted(document.order_id)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    assert outcome.customer_id == tenant_id
    snapshot = await admin.snapshot()
    customer = next(c for c in snapshot["customers"] if c["id"] == tenant_id)
    assert customer["organizationRegistrationNumber"] is None  # never sent for an existing tenant


async def test_unknown_known_customer_is_refused(shop: Storefront, unique: str) -> None:
    document = order(f"unk-{unique}", known_customer("00000000-0000-4000-8000-000000000000"))
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.CUSTOMER_NOT_FOUND
    # Partner Center has no such customer: there is nothing the order could have changed.


async def test_business_plan_one_monthly_one_annual_then_licences_added(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Biz", f"biz{unique}.onmicrosoft.com")
    results = []
    for n, (cycle, quantity) in enumerate([("monthly", 5), ("annual", 10), ("monthly", 3)]):
        document = order(
            f"biz-{unique}-{n}", known_customer(customer_id), line(BUSINESS_BASIC, quantity, cycle)
        )
        await shop.place_order(document)
        results.append(await shop.wait_for_outcome(document.order_id))
    assert [r.phase for r in results] == [Phase.COMPLETED] * 3
    actions = [
        (r.lines[0].action, r.lines[0].quantity_before, r.lines[0].quantity_after) for r in results
    ]
    assert actions == [
        (LineAction.CREATE, 0, 5),
        (LineAction.CREATE, 0, 10),
        (LineAction.ADD_LICENCES, 5, 8),
    ]
    assert results[2].lines[0].subscription_id == results[0].lines[0].subscription_id
    subs = await customer_subscriptions(admin, customer_id)
    assert sorted((s["billingCycle"], s["quantity"]) for s in subs) == [
        ("annual", 10),
        ("monthly", 8),
    ]


async def test_dynamics_every_order_a_new_instance_and_extra_licences_by_name(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Dyn", f"dyn{unique}.onmicrosoft.com")
    instances = []
    for n in range(2):
        document = order(f"dyn-{unique}-{n}", known_customer(customer_id), line(DYNAMICS_SALES, 10))
        await shop.place_order(document)
        outcome = await shop.wait_for_outcome(document.order_id)
        assert outcome.lines[0].action is LineAction.CREATE
        instances.append(str(outcome.lines[0].subscription_id))
    assert len(set(instances)) == 2

    added = await shop.add_licences(
        LicenceRequest(
            request_id=f"lic-{unique}",
            customer_id=customer_id,
            subscription_id=instances[0],
            quantity=5,
        )
    )
    assert (added.quantity_before, added.quantity_after) == (10, 15)
    again = await shop.add_licences(
        LicenceRequest(  # the same request: one change
            request_id=f"lic-{unique}",
            customer_id=customer_id,
            subscription_id=instances[0],
            quantity=5,
        )
    )
    assert again.quantity_after == 15
    subs = {s["id"]: s["quantity"] for s in await customer_subscriptions(admin, customer_id)}
    assert subs == {instances[0]: 15, instances[1]: 10}


async def test_a_customer_not_qualified_is_refused_naming_the_plan(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Plain", f"plain{unique}.onmicrosoft.com")
    document = order(
        f"edu-no-{unique}",
        known_customer(customer_id),
        line(OFFICE_E3, 1),
        line(EDUCATION_A1, 20, segment="Education"),
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.NOT_ELIGIBLE
    assert "cannot buy Office 365 A1 for faculty" in outcome.refusal.message
    assert await customer_subscriptions(admin, customer_id) == []  # nothing bought
    assert await orders_of(admin, customer_id) == []


async def test_a_government_customer_cannot_buy_commercial(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer(
        "Gov",
        f"gov{unique}.onmicrosoft.com",
        qualifications=[{"qualification": "GovernmentCommunityCloud"}],
    )
    ok = order(
        f"gov-ok-{unique}",
        known_customer(customer_id),
        line(GOVERNMENT_G3, 5, segment="Government"),
    )
    await shop.place_order(ok)
    assert (await shop.wait_for_outcome(ok.order_id)).phase is Phase.COMPLETED
    before = await holdings(admin, customer_id)
    refused = order(f"gov-no-{unique}", known_customer(customer_id), line(OFFICE_E3, 1))
    await shop.place_order(refused)
    outcome = await shop.wait_for_outcome(refused.order_id)
    assert outcome.refusal is not None and outcome.refusal.code is RefusalCode.NOT_ELIGIBLE
    assert await holdings(admin, customer_id) == before
    assert len(await orders_of(admin, customer_id)) == 1  # the G3 order only


async def test_a_non_profit_customer_buys_the_non_profit_plan(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    """Microsoft lists non-profit availabilities only when asked for them (targetSegment): the
    engine asks, and buys the non-profit catalog item, not the commercial one."""
    customer_id = await admin.add_customer(
        "Charity",
        f"charity{unique}.onmicrosoft.com",
        qualifications=[{"qualification": "Nonprofit"}],
    )
    document = order(
        f"npo-{unique}", known_customer(customer_id), line(BUSINESS_BASIC, 5, segment="NonProfit")
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    [sub] = await customer_subscriptions(admin, customer_id)
    assert (sub["offerId"], sub["quantity"]) == ("CFQ7TTC0LH18:0001:CFQ7TTC0K9NP", 5)


async def test_an_education_customer_buys_education_plans(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer(
        "Uni", f"uni{unique}.onmicrosoft.com", qualifications=[{"qualification": "Education"}]
    )
    document = order(
        f"edu-{unique}", known_customer(customer_id), line(EDUCATION_A1, 100, segment="Education")
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    assert outcome.lines[0].state is LineState.FULFILLED


async def test_a_new_school_waits_for_education_vetting(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    document = order(
        f"school-{unique}",
        new_customer(
            f"school{unique}", education={"segment": "K12", "website": "https://school.example"}
        ),
        line(EDUCATION_A1, 30, segment="Education"),
    )
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.VETTING)
    status = await shop.status(document.order_id)
    assert status.customer_id
    # A wait of days holds no customer slot: another order of the new customer, placed
    # meanwhile, is bought while the school still waits (not hours later, when a lease ran out).
    other = order(
        f"meanwhile-{unique}", known_customer(status.customer_id), line(BUSINESS_BASIC, 2)
    )
    await shop.place_order(other)
    meanwhile = await asyncio.wait_for(shop.wait_for_outcome(other.order_id), 60)
    assert meanwhile.phase is Phase.COMPLETED, meanwhile.refusal
    assert (await shop.status(document.order_id)).waiting is not None
    await admin.set_vetting(status.customer_id, "Education", "Approved")
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    # Each order bought its own subscription, once.
    held = sorted(
        (offer.split(":")[0], quantity)
        for offer, quantity, _ in (await holdings(admin, status.customer_id)).values()
    )
    assert held == sorted([(BUSINESS_BASIC.split(":")[0], 2), (EDUCATION_A1.split(":")[0], 30)])


async def test_a_new_school_denied_is_told_that_its_customer_exists(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    """Vetting needs a customer, so a denial comes after the tenant exists: the refusal says so,
    with the id, and nothing is bought."""
    document = order(
        f"denied-{unique}",
        new_customer(
            f"denied{unique}", education={"segment": "K12", "website": "https://school.example"}
        ),
        line(EDUCATION_A1, 30, segment="Education"),
    )
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.VETTING)
    customer_id = (await shop.status(document.order_id)).customer_id
    assert customer_id
    await admin.set_vetting(customer_id, "Education", "Denied", "not a school")
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None and outcome.refusal.code is RefusalCode.VETTING_DENIED
    assert outcome.refusal.details["customer_created"] is True
    assert (
        f"The new customer was created at Microsoft (customer id {customer_id})"
        in outcome.refusal.message
    )
    assert await holdings(admin, customer_id) == {}
    assert await orders_of(admin, customer_id) == []


async def test_discontinued_offer_refused_when_new_extended_when_held(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    fresh = order(f"eos-new-{unique}", new_customer(f"eos{unique}"), line(VOICE_END_OF_SALE, 2))
    await shop.place_order(fresh)
    outcome = await shop.wait_for_outcome(fresh.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.OFFER_DISCONTINUED
    assert "no longer sold" in outcome.refusal.message
    assert outcome.customer_id is None
    await assert_no_customer_created(admin, f"eos{unique}")

    holder = await admin.add_customer("Voice", f"voice{unique}.onmicrosoft.com")
    await admin.add_subscription(holder, "CFQ7TTC0LGZT:0001:CFQ7TTC0KGZT", quantity=4)
    extend = order(f"eos-old-{unique}", known_customer(holder), line(VOICE_END_OF_SALE, 2))
    await shop.place_order(extend)
    extended = await shop.wait_for_outcome(extend.order_id)
    assert extended.phase is Phase.COMPLETED, extended.refusal
    assert (
        extended.lines[0].action,
        extended.lines[0].quantity_before,
        extended.lines[0].quantity_after,
    ) == (LineAction.ADD_LICENCES, 4, 6)


async def test_licences_for_a_missing_subscription_are_refused(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Lic", f"lic{unique}.onmicrosoft.com")
    with pytest.raises(LicencesRefused) as caught:
        await shop.add_licences(
            LicenceRequest(
                request_id=f"nolic-{unique}",
                customer_id=customer_id,
                subscription_id="00000000-0000-0000-0000-000000000000",
                quantity=1,
            )
        )
    assert caught.value.refusal.code is RefusalCode.SUBSCRIPTION_NOT_FOUND
    assert await holdings(admin, customer_id) == {}


async def test_customer_agreement_is_confirmed_once(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer(
        "Mca", f"mca{unique}.onmicrosoft.com", customer_agreement=False
    )
    for n in range(2):
        document = order(f"mca-{unique}-{n}", known_customer(customer_id), line(OFFICE_E3, 1))
        await shop.place_order(document)
        assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    snapshot = await admin.snapshot()
    assert next(c for c in snapshot["customers"] if c["id"] == customer_id)["agreements"] == 1


async def test_racing_orders_for_one_customer_never_duplicate(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Race", f"race{unique}.onmicrosoft.com")
    documents = [
        order(f"race-{unique}-{n}", known_customer(customer_id), line(BUSINESS_BASIC, 1))
        for n in range(8)
    ]
    await asyncio.gather(*(shop.place_order(d) for d in documents))
    outcomes = await asyncio.gather(*(shop.wait_for_outcome(d.order_id) for d in documents))
    assert [o.phase for o in outcomes] == [Phase.COMPLETED] * 8
    actions = [o.lines[0].action for o in outcomes]
    assert actions.count(LineAction.CREATE) == 1
    assert actions.count(LineAction.ADD_LICENCES) == 7
    subs = await customer_subscriptions(admin, customer_id)
    assert [(s["billingCycle"], s["quantity"]) for s in subs] == [("monthly", 8)]


async def test_microsofts_reason_reaches_the_storefront(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    """Without the billing-address switch an incomplete address reaches Partner Center, which
    refuses it; the refusal says what Microsoft said (which field), not just 'refused'."""
    document = order(
        f"noaddr-{unique}", new_customer(f"noaddr{unique}", address={"address_line1": ""})
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.PARTNER_CENTER_REFUSED
    assert outcome.refusal.partner_center_code == "2000"
    assert "billingProfile.defaultAddress.addressLine1" in outcome.refusal.message
    await assert_no_customer_created(admin, f"noaddr{unique}")
