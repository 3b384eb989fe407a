"""Nothing irreversible before every knowable refusal (ordering rules), end to end: the storefront
sees one refusal naming every problem, and Partner Center holds nothing the order created. Where
Microsoft changes between the engine's check and its purchase, the outcome tells the exact truth
per line."""

from __future__ import annotations

from clients.storefront import Storefront
from devtools.samples import (
    BUSINESS_BASIC,
    BUSINESS_STANDARD,
    OFFICE_E3,
    VOICE_END_OF_SALE,
    known_customer,
    line,
    new_customer,
    order,
)
from ordering.planning import LineAction
from ordering.refusals import RefusalCode
from ordering.status import LineState, Phase
from sandbox.admin_client import SandboxAdmin
from tests.engine.partner_center_state import (
    assert_no_customer_created,
    holdings,
    orders_of,
)
from tests.helpers import eventually

BASIC_ITEM = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
CART = "POST /v1/customers/{customer_id}/carts"


async def test_a_discontinued_offer_for_a_new_customer_creates_no_tenant(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    document = order(f"eos-{unique}", new_customer(f"eos{unique}"), line(VOICE_END_OF_SALE, 2))
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.REFUSED
    assert outcome.refusal is not None and outcome.refusal.code is RefusalCode.OFFER_DISCONTINUED
    assert outcome.customer_id is None
    assert [line.state for line in outcome.lines] == [LineState.REFUSED]
    await assert_no_customer_created(admin, f"eos{unique}")


async def test_the_300_seat_cap_refuses_a_new_customer_before_it_exists(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    document = order(
        f"cap-{unique}",
        new_customer(f"cap{unique}"),
        line(BUSINESS_BASIC, 200),
        line(BUSINESS_STANDARD, 200),
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.REFUSED
    assert outcome.refusal is not None and outcome.refusal.code is RefusalCode.SEAT_LIMIT
    assert outcome.refusal.problems[0].lines == [0, 1]
    assert "bought" not in outcome.refusal.message
    assert "asks for 400 more" in outcome.refusal.message
    assert outcome.customer_id is None
    await assert_no_customer_created(admin, f"cap{unique}")


async def test_a_known_customer_is_judged_on_what_it_holds_after_the_order(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Held", f"held{unique}.onmicrosoft.com")
    await admin.add_subscription(customer_id, BASIC_ITEM, quantity=295)
    before = await holdings(admin, customer_id)
    document = order(
        f"held-{unique}",
        known_customer(customer_id),
        line(OFFICE_E3, 2),
        line(BUSINESS_BASIC, 10),
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.REFUSED
    assert outcome.refusal is not None
    assert sorted(p.code for p in outcome.refusal.problems) == [
        RefusalCode.QUANTITY_OUT_OF_RANGE,
        RefusalCode.SEAT_LIMIT,
    ]
    assert all(p.lines == [1] for p in outcome.refusal.problems)
    assert "would make 305" in outcome.refusal.message
    assert [line.state for line in outcome.lines] == [LineState.PENDING, LineState.REFUSED]
    assert await holdings(admin, customer_id) == before  # E3 not bought, Basic unchanged
    assert await orders_of(admin, customer_id) == []


async def wait_until_held(admin: SandboxAdmin, call: str) -> None:
    async def held() -> int:
        return (await admin.held()).get(call, 0)

    await eventually(held, timeout=20, every=0.05, what=f"{call} held")


async def test_a_change_at_microsoft_before_checkout_is_told_exactly(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    """The engine's check passed; then 295 seats appear at Microsoft before checkout. The
    outcome says nothing was bought, that the customer exists, and how to go on."""
    document = order(f"late-{unique}", new_customer(f"late{unique}"), line(BUSINESS_BASIC, 10))
    await admin.hold(CART)
    try:
        await shop.place_order(document)
        await wait_until_held(admin, CART)
        customer_id = (await shop.status(document.order_id)).customer_id
        assert customer_id is not None
        await admin.add_subscription(customer_id, BASIC_ITEM, quantity=295, billing_cycle="annual")
    finally:
        await admin.release_held()
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.FAILED
    assert outcome.refusal is not None and outcome.refusal.code is RefusalCode.SEAT_LIMIT
    message = outcome.refusal.message
    assert message.startswith("Nothing was bought.")
    assert f"The new customer was created at Microsoft (customer id {customer_id})" in message
    assert "known customer" in message
    assert outcome.customer_id == customer_id
    assert [line.state for line in outcome.lines] == [LineState.REFUSED]
    held = await holdings(admin, customer_id)
    assert [(offer, quantity) for offer, quantity, _ in held.values()] == [(BASIC_ITEM, 295)]
    assert await orders_of(admin, customer_id) == []


async def test_a_partial_purchase_says_what_was_bought_and_what_was_not(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Part", f"part{unique}.onmicrosoft.com")
    monthly = (await admin.add_subscription(customer_id, BASIC_ITEM, quantity=100))["id"]
    document = order(
        f"part-{unique}",
        known_customer(customer_id),
        line(OFFICE_E3, 2),
        line(BUSINESS_BASIC, 10),
    )
    await admin.hold(CART)
    try:
        await shop.place_order(document)
        await wait_until_held(admin, CART)
        await admin.add_subscription(customer_id, BASIC_ITEM, quantity=195, billing_cycle="annual")
    finally:
        await admin.release_held()
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.FAILED
    assert outcome.refusal is not None and outcome.refusal.code is RefusalCode.SEAT_LIMIT
    assert outcome.refusal.message.startswith("Bought: lines[0]. Not bought: lines[1]")
    e3, basic = outcome.lines
    assert (e3.state, e3.action) == (LineState.FULFILLED, LineAction.CREATE)
    assert (basic.state, basic.subscription_id) == (LineState.REFUSED, monthly)
    held = await holdings(admin, customer_id)
    assert held[monthly][1] == 100  # no licences added
    assert held[str(e3.subscription_id)][:2] == ("CFQ7TTC0LF8Q:0001:CFQ7TTC0KF8Q", 2)
    assert len(held) == 3


async def test_a_stale_availability_is_read_again_and_bought_once(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    """Availability ids change over time: Microsoft publishes a new one between the engine's
    catalog read and its cart. Partner Center refuses the stale id (400019); the engine reads the
    catalog again and buys once, with the new id."""
    customer_id = await admin.add_customer("Stale", f"stale{unique}.onmicrosoft.com")
    essentials = "CFQ7TTC0LHSF:0001"
    document = order(f"stale-{unique}", known_customer(customer_id), line(essentials, 2))
    await admin.hold(CART)
    try:
        await shop.place_order(document)
        await wait_until_held(admin, CART)
        carts_before = (await admin.calls()).get(CART, 0)  # the held, stale one included
        fresh = await admin.replace_availability(f"{essentials}:CFQ7TTC0KHSF")
    finally:
        await admin.release_held()
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    held = await holdings(admin, customer_id)
    assert [(offer, quantity) for offer, quantity, _ in held.values()] == [(fresh, 2)]
    assert len(await orders_of(admin, customer_id)) == 1
    assert (await admin.calls()).get(CART, 0) == carts_before + 1  # one more cart, fresh id
