"""Order documents for the engine tests (what a storefront would send)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ordering.document import OrderDocument

BUSINESS_BASIC = "CFQ7TTC0LH18:0001"
BUSINESS_STANDARD = "CFQ7TTC0LDPB:0001"
OFFICE_E3 = "CFQ7TTC0LF8Q:0001"
DYNAMICS_SALES = "CFQ7TTC0LHVK:0001"
EDUCATION_A1 = "CFQ7TTC0LF8R:0001"
GOVERNMENT_G3 = "CFQ7TTC0LHWP:0001"
VOICE_END_OF_SALE = "CFQ7TTC0LGZT:0001"

AGREEMENT = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "accepted_at": datetime(2026, 11, 20, tzinfo=UTC).isoformat(),
}


def line(offer: str, quantity: int = 1, cycle: str = "monthly", **extra: Any) -> dict[str, Any]:
    return {"offer": offer, "quantity": quantity, "billing_cycle": cycle, **extra}


def new_customer(prefix: str, *, country: str = "US", **extra: Any) -> dict[str, Any]:
    address = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address_line1": "1 Microsoft Way",
        "city": "Redmond",
        "state": "WA",
        "postal_code": "98052",
        "country": country,
    }
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
    return OrderDocument.model_validate(
        {
            "order_id": order_id,
            "customer": customer,
            "lines": list(lines) or [line(OFFICE_E3)],
            "customer_agreement": AGREEMENT,
            **extra,
        }
    )
