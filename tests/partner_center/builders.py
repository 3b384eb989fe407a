"""Request bodies the tests send, built with the client's typed models."""

from __future__ import annotations

from datetime import UTC, datetime

from clients.partner_center.models import (
    Address,
    Agreement,
    BillingProfile,
    Cart,
    CartLineItem,
    CompanyProfile,
    Contact,
    NewCustomer,
    Participant,
)
from devtools import samples
from devtools.samples import catalog_item

# Catalog items (product:SKU:availability) of the sample offers, what cart lines name.
BUSINESS_BASIC = catalog_item(samples.BUSINESS_BASIC)
BUSINESS_BASIC_NONPROFIT = "CFQ7TTC0LH18:0001:CFQ7TTC0K9NP"
BUSINESS_STANDARD = catalog_item(samples.BUSINESS_STANDARD)
OFFICE_E3 = catalog_item(samples.OFFICE_E3)
DYNAMICS_SALES = catalog_item(samples.DYNAMICS_SALES)
EDUCATION_A1 = catalog_item(samples.EDUCATION_A1)
GOVERNMENT_G3 = catalog_item(samples.GOVERNMENT_G3)
END_OF_SALE_VOICE = catalog_item(samples.VOICE_END_OF_SALE)


def new_customer(
    prefix: str,
    *,
    country: str = "US",
    tax_id: str | None = None,
    phone: str | None = "+1 425 555 0100",
    reseller_tenant_id: str | None = None,
) -> NewCustomer:
    return NewCustomer(
        billing_profile=BillingProfile(
            email="it@example.com",
            culture="en-US",
            language="en",
            company_name=f"{prefix.title()} Ltd",
            default_address=Address(
                first_name="Ada",
                last_name="Lovelace",
                address_line1="1 Microsoft Way",
                city="Redmond",
                state="WA",
                postal_code="98052",
                country=country,
                phone_number=phone,
            ),
        ),
        company_profile=CompanyProfile(
            domain=f"{prefix}.onmicrosoft.com", organization_registration_number=tax_id
        ),
        associated_partner_id=reseller_tenant_id,
    )


def cart(
    *lines: tuple[str, int, str],
    term: str = "P1M",
    reseller_mpn_id: str | None = None,
) -> Cart:
    participants = (
        [Participant(key="transaction_reseller", value=reseller_mpn_id)] if reseller_mpn_id else []
    )
    return Cart(
        line_items=[
            CartLineItem(
                id=n,
                catalog_item_id=item,
                quantity=quantity,
                billing_cycle=cycle,
                term_duration=term if cycle == "monthly" else "P1Y",
                participants=participants,
            )
            for n, (item, quantity, cycle) in enumerate(lines)
        ]
    )


def customer_agreement(template_id: str) -> Agreement:
    return Agreement(
        primary_contact=Contact(
            first_name="Ada",
            last_name="Lovelace",
            email="ada@example.com",
            phone_number="+14255550100",
        ),
        template_id=template_id,
        date_agreed=datetime(2026, 11, 1, tzinfo=UTC),
    )
