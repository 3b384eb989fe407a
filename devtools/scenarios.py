"""The ordering rules' scenarios, each with the fewest Partner Center requests it can be done in:
what the benchmark prints (`csp-orders bench`) and an engine test asserts exactly
(tests/engine/test_partner_center_requests.py). docs/PERFORMANCE.md explains each request.

A scenario seeds the sandbox, clears its call counts, then places the one order it is about and
waits for its outcome: the sandbox's counts are then that order's requests. Run it with nothing
else asking the sandbox, on a worker that has already seen the scenario's offers (`warm_up`):
catalog facts and the agreement's template are then the worker's to remember, not to ask.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from clients.storefront import Storefront
from devtools.samples import (
    BUSINESS_BASIC,
    DYNAMICS_SALES,
    OFFICE_E3,
    VALID_RU_TAX_ID,
    catalog_item,
    existing_tenant,
    known_customer,
    line,
    new_customer,
    order,
    russian_order,
)
from ordering.status import OrderOutcome, Phase, WaitingFor
from sandbox.admin_client import SandboxAdmin

DOMAIN = "HEAD /v1/domains/{domain}"
CREATE_CUSTOMER = "POST /v1/customers"
SEARCH_CUSTOMERS = "GET /v1/customers"
RELATIONSHIP_LINK = "GET /v1/customers/relationshiprequests"
QUALIFICATIONS = "GET /v1/customers/{customer_id}/qualifications"
AGREEMENTS = "GET /v1/customers/{customer_id}/agreements"
CONFIRM_AGREEMENT = "POST /v1/customers/{customer_id}/agreements"
SUBSCRIPTIONS = "GET /v1/customers/{customer_id}/subscriptions"
SUBSCRIPTION = "GET /v1/customers/{customer_id}/subscriptions/{subscription_id}"
CHANGE_QUANTITY = "PATCH /v1/customers/{customer_id}/subscriptions/{subscription_id}"
CART = "POST /v1/customers/{customer_id}/carts"
CHECKOUT = "POST /v1/customers/{customer_id}/carts/{cart_id}/checkout"
ORDER = "GET /v1/customers/{customer_id}/orders/{order_id}"

# What a purchase of new subscriptions asks: the cart, its checkout, the order read once (the
# sandbox of the benchmark and the tests provisions at once; Microsoft takes longer: then the
# order is read until it is), and the customer's subscriptions listed once for the refund
# windows of those it created (docs/LIFECYCLE.md).
BUY = (CART, CHECKOUT, ORDER, SUBSCRIPTIONS)


@dataclass(frozen=True)
class Scenario:
    name: str
    # The requests the order needs, in order: no fewer will do (docs/PERFORMANCE.md says why).
    requests: tuple[str, ...]
    place: Callable[[Storefront, SandboxAdmin, str], Awaitable[OrderOutcome]]

    @property
    def minimum(self) -> int:
        return len(self.requests)


async def requests_of(
    scenario: Scenario, shop: Storefront, admin: SandboxAdmin, unique: str
) -> tuple[OrderOutcome, Counter[str]]:
    """Run `scenario` (its order ids and domains made unique by `unique`): its outcome, and the
    Partner Center requests its order sent, by call."""
    outcome = await scenario.place(shop, admin, unique)
    return outcome, Counter(await admin.calls())


async def _new_customer(shop: Storefront, admin: SandboxAdmin, unique: str) -> OrderOutcome:
    document = order(f"new-{unique}", new_customer(f"new{unique}"), line(BUSINESS_BASIC, 3))
    await admin.clear_calls()
    await shop.place_order(document)
    return await shop.wait_for_outcome(document.order_id)


async def _known_customer_adds_licences(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> OrderOutcome:
    customer = await admin.add_customer(f"Known {unique}", f"known{unique}.onmicrosoft.com")
    await admin.add_subscription(customer, catalog_item(BUSINESS_BASIC), quantity=5)
    document = order(f"adds-{unique}", known_customer(customer), line(BUSINESS_BASIC, 2))
    await admin.clear_calls()
    await shop.place_order(document)
    return await shop.wait_for_outcome(document.order_id)


async def _business_monthly_then_annual(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> OrderOutcome:
    """The annual order of a customer whose monthly Business Basic an earlier order bought."""
    customer = await admin.add_customer(f"Cycles {unique}", f"cycles{unique}.onmicrosoft.com")
    monthly = order(f"monthly-{unique}", known_customer(customer), line(BUSINESS_BASIC, 2))
    await shop.place_order(monthly)
    await shop.wait_for_outcome(monthly.order_id)
    annual = order(f"annual-{unique}", known_customer(customer), line(BUSINESS_BASIC, 2, "annual"))
    await admin.clear_calls()
    await shop.place_order(annual)
    return await shop.wait_for_outcome(annual.order_id)


async def _dynamics_new_instance(
    shop: Storefront, admin: SandboxAdmin, unique: str
) -> OrderOutcome:
    customer = await admin.add_customer(f"Dynamics {unique}", f"dyn{unique}.onmicrosoft.com")
    await admin.add_subscription(customer, catalog_item(DYNAMICS_SALES), quantity=3)
    document = order(f"dyn-{unique}", known_customer(customer), line(DYNAMICS_SALES, 2))
    await admin.clear_calls()
    await shop.place_order(document)
    return await shop.wait_for_outcome(document.order_id)


async def _existing_tenant(shop: Storefront, admin: SandboxAdmin, unique: str) -> OrderOutcome:
    """The tenant's administrator accepts the invitation while the order waits; the storefront
    says so (one nudge), and the order checks once."""
    domain = f"tenant{unique}.onmicrosoft.com"
    await admin.add_tenant(domain, f"Tenant {unique}")
    document = order(f"tenant-{unique}", existing_tenant(domain), line(OFFICE_E3, 2))
    await admin.clear_calls()
    await shop.place_order(document)
    await _wait_for(shop, document.order_id, WaitingFor.RELATIONSHIP)
    await admin.accept_relationship(domain)
    await shop.relationship_accepted(document.order_id)
    return await shop.wait_for_outcome(document.order_id)


async def _tax_id_later(shop: Storefront, admin: SandboxAdmin, unique: str) -> OrderOutcome:
    document = russian_order(f"ru-{unique}", f"ru{unique}")
    await admin.clear_calls()
    await shop.place_order(document)
    await _wait_for(shop, document.order_id, WaitingFor.TAX_ID)
    await shop.provide_tax_id(document.order_id, VALID_RU_TAX_ID)
    return await shop.wait_for_outcome(document.order_id)


async def _wait_for(shop: Storefront, order_id: str, what: WaitingFor) -> None:
    for _ in range(600):
        status = await shop.status(order_id)
        if status.phase.final:
            raise AssertionError(f"order {order_id} ended ({status.phase}) instead of waiting")
        if status.waiting is not None and status.waiting.what is what:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id} did not wait for {what} within 30 s")


SCENARIOS = (
    Scenario(
        "new customer",
        (DOMAIN, CREATE_CUSTOMER, CONFIRM_AGREEMENT, *BUY),
        _new_customer,
    ),
    Scenario(
        "known customer adding licences",
        (QUALIFICATIONS, AGREEMENTS, SUBSCRIPTIONS, SUBSCRIPTION, CHANGE_QUANTITY),
        _known_customer_adds_licences,
    ),
    Scenario(
        "Business monthly, then annual",
        (QUALIFICATIONS, AGREEMENTS, SUBSCRIPTIONS, *BUY),
        _business_monthly_then_annual,
    ),
    Scenario(
        "Dynamics new instance",
        (QUALIFICATIONS, AGREEMENTS, *BUY),
        _dynamics_new_instance,
    ),
    Scenario(
        "existing tenant",
        (
            SEARCH_CUSTOMERS,
            DOMAIN,
            RELATIONSHIP_LINK,
            SEARCH_CUSTOMERS,
            QUALIFICATIONS,
            AGREEMENTS,
            CONFIRM_AGREEMENT,
            SUBSCRIPTIONS,
            *BUY,
        ),
        _existing_tenant,
    ),
    Scenario(
        "tax ID later",
        (DOMAIN, CREATE_CUSTOMER, CONFIRM_AGREEMENT, *BUY),
        _tax_id_later,
    ),
)


async def warm_up(shop: Storefront, unique: str) -> None:
    """One order with every offer the scenarios buy, in both countries they buy in: afterwards
    the worker remembers their catalog facts and the agreement's template."""
    for country, prefix in (("US", "warmus"), ("RU", "warmru")):
        customer = new_customer(f"{prefix}{unique}", country=country, tax_id=VALID_RU_TAX_ID)
        if country != "RU":
            customer.pop("tax_id")
        document = order(
            f"{prefix}-{unique}",
            customer,
            line(BUSINESS_BASIC, 1),
            line(BUSINESS_BASIC, 1, "annual"),
            line(OFFICE_E3, 1),
            line(DYNAMICS_SALES, 1),
        )
        await shop.place_order(document)
        outcome = await shop.wait_for_outcome(document.order_id)
        if outcome.phase is not Phase.COMPLETED:
            raise AssertionError(f"the warm-up order did not complete: {outcome.refusal}")
