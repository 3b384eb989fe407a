"""The client's models parse Microsoft's documented example payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from clients.partner_center.errors import error_from_response
from clients.partner_center.models import (
    AddressValidationResult,
    Agreement,
    AgreementMetadata,
    AgreementStatus,
    Availability,
    Cart,
    CheckoutResult,
    Collection,
    Customer,
    LineItemProvisioningStatus,
    Order,
    Product,
    Qualification,
    RelationshipRequest,
    Sku,
    Subscription,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "microsoft"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_customer() -> None:
    customer = Customer.model_validate(load("customer_created.json"))
    assert customer.id == "4b10bf41-ab11-40e3-8c53-cd67849b50ba"
    assert customer.company_profile is not None
    assert customer.company_profile.domain == "WingtipToys3.onmicrosoft.com"
    assert customer.billing_profile is not None and customer.billing_profile.default_address
    assert customer.billing_profile.default_address.phone_number == "4255550101"
    assert customer.user_credentials is not None and customer.user_credentials.user_name == "admin"
    assert customer.attributes is not None and customer.attributes.object_type == "Customer"
    customers = Collection[Customer].model_validate(load("customers_collection.json"))
    assert customers.total_count == 1 and customers.items[0].relationship_to_partner == "reseller"


def test_cart_checkout_order_and_provisioning() -> None:
    cart = Cart.model_validate(load("cart.json"))
    assert cart.status == "Active"
    assert cart.line_items[0].participants[0].value == "5357564"
    result = CheckoutResult.model_validate(load("cart_checkout_result.json"))
    assert [o.status for o in result.orders] == ["pending"]
    assert result.order_errors[0].code == 800002
    order = Order.model_validate(load("order.json"))
    assert order.status == "completed"
    assert order.line_items[0].subscription_id == "a1b2c3d4-0000-4e5f-8a9b-0c1d2e3f4a5b"
    assert order.creation_date is not None and order.creation_date.year == 2026
    statuses = Collection[LineItemProvisioningStatus].model_validate(
        load("provisioning_status.json")
    )
    assert [s.status for s in statuses.items] == ["Fulfilled"]


def test_subscription() -> None:
    sub = Subscription.model_validate(load("subscription.json"))
    assert (sub.offer_id, sub.quantity, sub.status, sub.billing_cycle) == (
        "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        2,
        "active",
        "monthly",
    )
    assert sub.attributes is not None and sub.attributes.etag
    # unknown fields are kept, not dropped: a PATCH sends the whole subscription back
    assert sub.to_wire()["entitlementId"] == "7f7e7d7c-1111-4222-8333-444455556666"


def test_qualifications() -> None:
    found = TypeAdapter(list[Qualification]).validate_python(load("qualifications.json"))
    assert [(q.qualification, q.vetting_status) for q in found] == [
        ("Education", "Approved"),
        ("StateOwnedEntity", None),
    ]
    review = Qualification.model_validate(load("qualification_in_review.json"))
    assert review.vetting_status == "InReview" and review.education_segment == "HigherEducation"


def test_compliance_payloads() -> None:
    result = AddressValidationResult.model_validate(load("address_validation.json"))
    assert result.status == "StreetPartial" and not result.is_verified
    assert result.suggested_addresses[0].postal_code == "98052-8300"
    assert RelationshipRequest.model_validate(load("relationship_request.json")).url.startswith(
        "https://admin.microsoft.com/"
    )
    metadata = Collection[AgreementMetadata].model_validate(load("agreement_metadata.json"))
    assert metadata.items[0].agreement_type == "MicrosoftCustomerAgreement"
    agreement = Agreement.model_validate(load("agreement_confirmed.json"))
    assert agreement.primary_contact.last_name == "Carr"
    assert AgreementStatus.model_validate(load("mpa_status.json")).is_agreement_signed


def test_catalog() -> None:
    products = Collection[Product].model_validate(load("products_collection.json"))
    assert products.items[0].id == "CFQ7TTC0LH18"
    sku = Sku.model_validate(load("sku.json"))
    assert (sku.minimum_quantity, sku.maximum_quantity) == (1, 300)
    availabilities = Collection[Availability].model_validate(load("availabilities_collection.json"))
    [availability] = availabilities.items
    assert availability.catalog_item_id == "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
    assert {t.billing_cycle for t in availability.terms} == {"Annual", "Monthly"}


def test_error_bodies() -> None:
    classic = error_from_response(
        400, (FIXTURES / "error_classic.json").read_bytes(), {}, request_id="r", correlation_id="c"
    )
    assert (classic.code, classic.retryable) == ("600049", False)
    extended = error_from_response(
        403,
        (FIXTURES / "error_extended.json").read_bytes(),
        {},
        request_id="r",
        correlation_id="c",
    )
    assert extended.code == "800089"
    assert extended.body is not None and extended.body.error_name == "AssetLimitExceeded"
    assert extended.body.error_message_extended == "InternalErrorCode=800089"
    throttled = error_from_response(
        429,
        (FIXTURES / "error_throttled.json").read_bytes(),
        {"retry-after": "23"},
        request_id="r",
        correlation_id="c",
    )
    assert (throttled.code, throttled.retryable, throttled.retry_after) == (None, True, 23.0)
    assert "Try again in 23 seconds" in throttled.description
    html = error_from_response(
        502, b"<html>Bad Gateway</html>", {}, request_id="r", correlation_id="c"
    )
    assert html.retryable and html.code is None
