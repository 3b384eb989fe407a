"""Customers: domains, creation (with Microsoft's tax-ID rules), search, relationship requests."""

from __future__ import annotations

import json
import re
import secrets
from datetime import date
from typing import Any

from sandbox.core import Sandbox
from sandbox.errors import (
    PartnerCenterRefusal,
    bad_request,
    forbidden,
    missing_field,
    not_found,
)
from sandbox.links import link
from sandbox.state import CustomerRecord

ONMICROSOFT = ".onmicrosoft.com"
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,25}[a-z0-9]$|^[a-z0-9]$")
_TAX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./ -]{3,20}[A-Za-z0-9]$")

DOMAIN_TAKEN_CODE = 1002


class HalfWayFailure(Exception):
    """The tenant was created (domain taken) but the customer was not: Partner Center's 500."""


def is_domain_taken(sb: Sandbox, domain: str) -> bool:
    return domain.lower() in sb.state.taken_domains


def customer_json(
    sb: Sandbox, c: CustomerRecord, *, credentials: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": c.id,
        "commerceId": c.id,
        "companyProfile": {
            "tenantId": c.id,
            "domain": c.domain,
            "companyName": c.company_name,
            "links": {"self": link(f"/customers/{c.id}/profiles/company")},
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "billingProfile": {
            **c.billing_profile,
            "id": c.id,
            "firstName": c.billing_profile.get("defaultAddress", {}).get("firstName"),
            "lastName": c.billing_profile.get("defaultAddress", {}).get("lastName"),
            "links": {"self": link(f"/customers/{c.id}/profiles/billing")},
            "attributes": {"etag": str(int(c.created_at)), "objectType": "CustomerBillingProfile"},
        },
        "relationshipToPartner": c.relationship_to_partner,
        "allowDelegatedAccess": True,
        "customDomains": [c.domain],
        "links": {"self": link(f"/customers/{c.id}")},
        "attributes": {"objectType": "Customer"},
    }
    if c.organization_registration_number:
        body["companyProfile"]["organizationRegistrationNumber"] = (
            c.organization_registration_number
        )
    if c.associated_partner_id:
        body["associatedPartnerId"] = c.associated_partner_id
    if credentials is not None:
        body["userCredentials"] = {
            "userName": "admin",
            "password": credentials,
            "attributes": {"objectType": "UserCredentials"},
        }
    return body


def get_customer(sb: Sandbox, customer_id: str) -> CustomerRecord:
    customer = sb.state.customers.get(customer_id)
    if customer is None:
        raise not_found(60003, f"Customer {customer_id} was not found.")
    return customer


def create_customer(sb: Sandbox, body: dict[str, Any], *, app_user: bool) -> dict[str, Any]:
    billing = _required_dict(body, "billingProfile")
    company = _required_dict(body, "companyProfile")
    address = _required_dict(billing, "defaultAddress", "billingProfile.defaultAddress")
    for name in ("email", "culture", "language", "companyName"):
        _required_str(billing, name, f"billingProfile.{name}")
    for name in ("firstName", "lastName", "addressLine1", "city", "postalCode", "country"):
        _required_str(address, name, f"billingProfile.defaultAddress.{name}")
    domain = _required_str(company, "domain", "companyProfile.domain").lower()
    if not domain.endswith(ONMICROSOFT) or not _PREFIX.match(domain[: -len(ONMICROSOFT)]):
        raise bad_request(
            1001,
            "The domain must be <prefix>.onmicrosoft.com, the prefix 1 to 27 lowercase letters, "
            "digits or hyphens.",
        )

    reseller_tenant = body.get("associatedPartnerId")
    if reseller_tenant:
        if not app_user:
            raise app_user_required()
        reseller = next(
            (r for r in sb.state.resellers.values() if r.tenant_id == reseller_tenant), None
        )
        if reseller is None:
            raise bad_request(2200, f"The associated partner {reseller_tenant} is not known.")
        if not reseller.agreement_signed:
            raise mpa_not_signed(reseller.mpn_id)

    country = str(address["country"]).upper()
    registration = company.get("organizationRegistrationNumber")
    if sb.catalog.tax_id_required(country, date.fromtimestamp(sb.now())):
        if not registration:
            raise bad_request(
                600049,
                f"OrganizationRegistrationNumber is required for customers in {country}.",
            )
        if not _TAX_ID.match(str(registration)):
            raise bad_request(
                600050,
                "OrganizationRegistrationNumber must be 5 to 22 letters or digits.",
            )
        if not address.get("phoneNumber"):
            raise bad_request(600051, f"A phone number is required for customers in {country}.")

    if is_domain_taken(sb, domain):
        raise bad_request(DOMAIN_TAKEN_CODE, f"The domain {domain} is already in use.")

    sb.state.taken_domains.add(domain)
    sb.changed()
    if sb.faults.fail_customer_half_way():
        raise HalfWayFailure()

    record = CustomerRecord(
        id=sb.new_id(),
        domain=domain,
        company_name=str(billing["companyName"]),
        country=country,
        billing_profile={k: v for k, v in billing.items() if k != "attributes"},
        organization_registration_number=str(registration) if registration else None,
        associated_partner_id=reseller_tenant or None,
        created_at=sb.now(),
    )
    sb.state.customers[record.id] = record
    return customer_json(sb, record, credentials=secrets.token_urlsafe(12))


def search_customers(sb: Sandbox, size: int, filter_text: str | None) -> list[dict[str, Any]]:
    customers = list(sb.state.customers.values())
    if filter_text:
        try:
            flt = json.loads(filter_text)
            field, value = str(flt["Field"]), str(flt["Value"]).lower()
            operator = str(flt.get("Operator", "starts_with"))
        except (ValueError, KeyError, TypeError):
            raise bad_request(400, "The filter is not valid.") from None
        if operator != "starts_with":
            raise bad_request(400, f"The operator {operator} is not supported.")

        def matches(c: CustomerRecord) -> bool:
            if field == "Domain":
                return c.domain.startswith(value)
            if field == "CompanyName":
                return c.company_name.lower().startswith(value)
            if field == "IndirectReseller":
                return (c.associated_partner_id or "").lower().startswith(value)
            raise bad_request(400, f"The filter field {field} is not supported.")

        customers = [c for c in customers if matches(c)]
    customers.sort(key=lambda c: c.created_at)
    return [customer_json(sb, c) for c in customers[:size]]


def relationship_request(sb: Sandbox) -> dict[str, Any]:
    partner = sb.settings.partner_tenant_id
    return {
        "url": (
            "https://admin.microsoft.com/Adminportal/Home?invType=ResellerRelationship"
            f"&partnerId={partner}&msppId=0&DAP=true#/BillingAccounts/partner-invitation"
        ),
        "attributes": {"objectType": "RelationshipRequest"},
    }


def accept_relationship(sb: Sandbox, domain: str) -> CustomerRecord:
    """The customer's global admin accepted the invitation: the tenant becomes a customer."""
    tenant = sb.state.tenants.get(domain.lower())
    if tenant is None:
        raise not_found(60003, f"No tenant with domain {domain}.")
    existing = sb.state.customers.get(tenant.tenant_id)
    if existing is not None:
        return existing
    tenant.relationship_accepted = True
    record = CustomerRecord(
        id=tenant.tenant_id,
        domain=tenant.domain,
        company_name=tenant.company_name,
        country=tenant.country,
        billing_profile={"companyName": tenant.company_name},
        created_at=sb.now(),
    )
    sb.state.customers[record.id] = record
    sb.changed()
    return record


def app_user_required() -> PartnerCenterRefusal:
    return forbidden(900329, "This operation requires an app+user token (App+User).")


def mpa_not_signed(mpn_id: str) -> PartnerCenterRefusal:
    return forbidden(
        900123,
        f"The reseller {mpn_id} has not accepted the Microsoft Partner Agreement.",
    )


def _required_dict(body: dict[str, Any], key: str, name: str | None = None) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise missing_field(name or key)
    return value


def _required_str(body: dict[str, Any], key: str, name: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise missing_field(name)
    return value
