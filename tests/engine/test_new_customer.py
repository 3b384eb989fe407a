"""A new customer's order, end to end: storefront SDK -> workflow -> activities -> sandbox."""

from __future__ import annotations

from clients.storefront import Storefront
from devtools.samples import BUSINESS_BASIC, OFFICE_E3, line, new_customer, order
from ordering.planning import LineAction
from ordering.status import LineState, Phase
from sandbox.admin_client import SandboxAdmin


async def test_new_customer_order_is_provisioned(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    document = order(
        f"o-{unique}",
        new_customer(f"new{unique}"),
        line(BUSINESS_BASIC, 5, "monthly"),
        line(OFFICE_E3, 3, "annual"),
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)

    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    assert outcome.customer_id
    assert [(x.action, x.state, x.quantity_before, x.quantity_after) for x in outcome.lines] == [
        (LineAction.CREATE, LineState.FULFILLED, 0, 5),
        (LineAction.CREATE, LineState.FULFILLED, 0, 3),
    ]
    snapshot = await admin.snapshot()
    held = {s["id"]: s for s in snapshot["subscriptions"] if s["customerId"] == outcome.customer_id}
    assert {x.subscription_id for x in outcome.lines} == set(held)
    assert sorted(
        (s["offerId"][:17], s["billingCycle"], s["quantity"], s["status"]) for s in held.values()
    ) == [
        ("CFQ7TTC0LF8Q:0001", "annual", 3, "active"),
        ("CFQ7TTC0LH18:0001", "monthly", 5, "active"),
    ]
    customer = next(c for c in snapshot["customers"] if c["id"] == outcome.customer_id)
    assert customer["domain"] == f"new{unique}.onmicrosoft.com"
    assert customer["agreements"] == 1
