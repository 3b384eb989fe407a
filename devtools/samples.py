"""Sample offers, customers and orders: the one set the demo, the chaos harness and the tests
use (what a storefront would send, for the sandbox's catalog)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ordering.document import OrderDocument

# Offers (product:SKU) of the sandbox's catalog (sandbox/data/catalog.json).
BUSINESS_BASIC = "CFQ7TTC0LH18:0001"
BUSINESS_STANDARD = "CFQ7TTC0LDPB:0001"
OFFICE_E3 = "CFQ7TTC0LF8Q:0001"
DYNAMICS_SALES = "CFQ7TTC0LHVK:0001"
EDUCATION_A1 = "CFQ7TTC0LF8R:0001"
GOVERNMENT_G3 = "CFQ7TTC0LHWP:0001"
VOICE_END_OF_SALE = "CFQ7TTC0LGZT:0001"  # no longer sold to new customers (Partner Center 2091)
OFFERS = (
    BUSINESS_BASIC,
    BUSINESS_STANDARD,
    OFFICE_E3,
    DYNAMICS_SALES,
    EDUCATION_A1,
    VOICE_END_OF_SALE,
    GOVERNMENT_G3,
)
# Each offer's availability id: an offer and its availability make a catalog item
# (product:SKU:availability), what a cart line or a seeded subscription names.
AVAILABILITIES = {
    BUSINESS_BASIC: "CFQ7TTC0K971",
    BUSINESS_STANDARD: "CFQ7TTC0KDPB",
    OFFICE_E3: "CFQ7TTC0KF8Q",
    DYNAMICS_SALES: "CFQ7TTC0KHVK",
    EDUCATION_A1: "CFQ7TTC0KF8R",
    GOVERNMENT_G3: "CFQ7TTC0KHWP",
    VOICE_END_OF_SALE: "CFQ7TTC0KGZT",
}
# The Business plans: the built-in configuration keeps one monthly and one annual subscription
# of each (`one_per_billing_cycle` in ordering/data/engine.json).
ONE_PER_BILLING_CYCLE_PRODUCTS = frozenset(
    {"CFQ7TTC0LH18", "CFQ7TTC0LDPB", "CFQ7TTC0LCHC", "CFQ7TTC0LH1G"}
)

VALID_RU_TAX_ID = "7707083893"  # an INN with a right check digit
INVALID_RU_TAX_ID = "7707083890"  # the same, its check digit wrong

AGREEMENT = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "accepted_at": datetime(2026, 11, 20, tzinfo=UTC).isoformat(),
}
ADDRESSES = {
    "US": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address_line1": "1 Microsoft Way",
        "city": "Redmond",
        "state": "WA",
        "postal_code": "98052",
    },
    "RU": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address_line1": "1 Tverskaya",
        "city": "Moscow",
        "state": "",
        "postal_code": "125009",
    },
}


def catalog_item(offer: str) -> str:
    """The catalog item (product:SKU:availability) of one of the sample offers."""
    return f"{offer}:{AVAILABILITIES[offer]}"


def line(offer: str, quantity: int = 1, cycle: str = "monthly", **extra: Any) -> dict[str, Any]:
    return {"offer": offer, "quantity": quantity, "billing_cycle": cycle, **extra}


def new_customer(prefix: str, *, country: str = "US", **extra: Any) -> dict[str, Any]:
    """A new customer whose domain is `<prefix>.onmicrosoft.com`; `address={...}` changes
    fields of the sample billing address (Moscow's for RU, Redmond's elsewhere)."""
    address = {**ADDRESSES.get(country, ADDRESSES["US"]), "country": country}
    return {
        "kind": "new",
        "company_name": f"{prefix.title()} Ltd",
        "domain_prefix": prefix,
        "email": "it@example.com",
        "billing_address": {**address, **extra.pop("address", {})},
        "phone": "+1 425 555 0100",
        **extra,
    }


def known_customer(customer_id: str, country: str = "US") -> dict[str, Any]:
    return {"kind": "known", "customer_id": customer_id, "country": country}


def existing_tenant(domain: str, country: str = "US") -> dict[str, Any]:
    return {"kind": "existing_tenant", "domain": domain, "country": country}


def order(
    order_id: str, customer: dict[str, Any], *lines: dict[str, Any], **extra: Any
) -> OrderDocument:
    """An order document (one Office 365 E3 licence when no line is given)."""
    return OrderDocument.model_validate(
        {
            "order_id": order_id,
            "customer": customer,
            "lines": list(lines) or [line(OFFICE_E3)],
            "customer_agreement": AGREEMENT,
            **extra,
        }
    )


def russian_order(order_id: str, prefix: str, **extra: Any) -> OrderDocument:
    """A new Russian customer's order: without a tax ID (`tax_id=...` gives one) it stops and
    waits for the customer's INN."""
    return order(order_id, new_customer(prefix, country="RU", **extra), line(OFFICE_E3, 2))
