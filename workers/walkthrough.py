"""A walk through Partner Center with the engine's client, against the embedded sandbox.

Shows the boundary the order engine stands on: a refused customer (tax ID missing in Russia),
the same customer created with it, the customer agreement confirmed (and a second confirmation
refused), a purchase provisioned asynchronously, a Business plan's third subscription refused,
and a retry after a lost answer creating nothing twice.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pydantic import SecretStr

from clients.partner_center import PartnerCenterClient, PartnerCenterConfig, PartnerCenterError
from clients.partner_center.models import (
    Address,
    Agreement,
    BillingProfile,
    Cart,
    CartLineItem,
    CompanyProfile,
    Contact,
    NewCustomer,
)
from sandbox.admin_client import SandboxAdmin
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from workers.logs import configure_logging

BUSINESS_BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"


def _customer(tax_id: str | None) -> NewCustomer:
    return NewCustomer(
        billing_profile=BillingProfile(
            email="it@example.com",
            culture="ru-RU",
            language="ru",
            company_name="Romashka LLC",
            default_address=Address(
                first_name="Ivan",
                last_name="Petrov",
                address_line1="1 Tverskaya",
                city="Moscow",
                postal_code="125009",
                country="RU",
                phone_number="+7 495 000 0000",
            ),
        ),
        company_profile=CompanyProfile(
            domain="romashka.onmicrosoft.com", organization_registration_number=tax_id
        ),
    )


def _cart(billing_cycle: str) -> Cart:
    term = "P1M" if billing_cycle == "monthly" else "P1Y"
    return Cart(
        line_items=[
            CartLineItem(
                id=0,
                catalog_item_id=BUSINESS_BASIC,
                quantity=5,
                billing_cycle=billing_cycle,
                term_duration=term,
            )
        ]
    )


async def walk(server: SandboxServer) -> None:
    s = server.settings
    config = PartnerCenterConfig(
        base_url=server.base_url,
        authority=server.base_url,
        tenant=s.partner_tenant_id,
        client_id=s.client_id,
        client_secret=SecretStr(s.client_secret),
        refresh_token=SecretStr(s.refresh_token),
        retries=5,
    )
    admin = SandboxAdmin(server.base_url)
    async with PartnerCenterClient.from_config(config) as pc:
        print("1. create a Russian customer without a tax ID")
        try:
            await pc.create_customer(_customer(None), request_id="walk:customer:1")
        except PartnerCenterError as e:
            print(f"   refused: {e.code} {e.description}")

        print(
            "2. the same customer with its INN; Partner Center carries it out but loses the answer"
        )
        await admin.clear_calls()
        await admin.set_faults(lost_answer_rate=1.0)
        customer = await pc.create_customer(_customer("7707083893"), request_id="walk:customer:2")
        await admin.set_faults()
        assert customer.id is not None
        sent = (await admin.calls())["POST /v1/customers"]
        print(
            f"   customer {customer.id} after {sent} requests with one MS-RequestId; "
            f"customers at Microsoft: {len(await pc.list_customers())}"
        )

        [mca] = await pc.get_agreement_metadata()
        agreement = Agreement(
            primary_contact=Contact(first_name="Ivan", last_name="Petrov", email="it@example.com"),
            template_id=mca.template_id,
            date_agreed=datetime.now(UTC),
        )
        await pc.confirm_agreement(customer.id, agreement, request_id="walk:mca:1")
        try:
            await pc.confirm_agreement(customer.id, agreement, request_id="walk:mca:2")
        except PartnerCenterError as e:
            print(f"3. customer agreement confirmed; a second confirmation: {e.code}")

        for n, cycle in enumerate(("monthly", "annual", "monthly")):
            print(f"{4 + n}. buy Microsoft 365 Business Basic, {cycle}")
            try:
                cart = await pc.create_cart(customer.id, _cart(cycle), request_id=f"walk:cart:{n}")
                assert cart.id is not None
                result = await pc.checkout_cart(
                    customer.id, cart.id, request_id=f"walk:checkout:{n}"
                )
                order = result.orders[0]
                while (await pc.get_order(customer.id, order.id)).status != "completed":
                    await asyncio.sleep(0.2)
                print(f"   order {order.id} completed")
            except PartnerCenterError as e:
                print(f"   refused: {e.code} {e.description}")

        print("\nsubscriptions at Partner Center:")
        for sub in await pc.list_subscriptions(customer.id):
            print(f"   {sub.offer_name:<32} {sub.billing_cycle:<8} x{sub.quantity:<3} {sub.status}")
    await admin.aclose()


def main() -> int:
    configure_logging(json=False, level="WARNING")
    with SandboxServer(SandboxSettings(provisioning_delay_seconds=0.5)) as server:
        print(f"Partner Center sandbox at {server.base_url}\n")
        asyncio.run(walk(server))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
