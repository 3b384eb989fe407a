"""Customers at Partner Center: domains, creation and its tax-ID rules, search, relationships."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from clients.partner_center import PartnerCenterClient, PartnerCenterError
from clients.partner_center.auth import AuthMode
from clients.partner_center.models import Address, AgreementStatus
from sandbox.admin_client import SandboxAdmin
from tests.partner_center.builders import new_customer

RESELLER_TENANT = "bbbbbbbb-0000-4000-8000-000000000002"


def tax_id_countries() -> list[str]:
    data = json.loads(resources.files("sandbox").joinpath("data/catalog.json").read_text())
    return [c for group in data["taxIdCountries"] for c in group["countries"]]


async def test_domain_is_free_until_a_customer_takes_it(pc: PartnerCenterClient) -> None:
    assert await pc.is_domain_available("contoso.onmicrosoft.com")
    created = await pc.create_customer(new_customer("contoso"), request_id="create-contoso")
    assert not await pc.is_domain_available("contoso.onmicrosoft.com")

    assert created.id is not None
    assert created.company_profile is not None
    assert created.company_profile.domain == "contoso.onmicrosoft.com"
    assert created.company_profile.tenant_id == created.id
    assert created.user_credentials is not None and created.user_credentials.password

    fetched = await pc.get_customer(created.id)
    assert fetched.billing_profile is not None
    assert fetched.billing_profile.company_name == "Contoso Ltd"
    assert fetched.user_credentials is None  # the initial password is shown once only


async def test_a_taken_domain_is_refused_not_retried(pc: PartnerCenterClient) -> None:
    await pc.create_customer(new_customer("contoso"), request_id="first")
    with pytest.raises(PartnerCenterError) as caught:
        await pc.create_customer(new_customer("contoso"), request_id="second")
    assert caught.value.code == "1002"
    assert caught.value.status == 400
    assert caught.value.is_business_refusal


async def test_an_existing_office_365_tenant_holds_its_domain(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    await admin.add_tenant("northwind.onmicrosoft.com", "Northwind Traders")
    assert not await pc.is_domain_available("northwind.onmicrosoft.com")


async def test_a_domain_stays_taken_when_creation_fails_half_way(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    await admin.set_faults(customer_partial_failure_rate=1.0)
    with pytest.raises(PartnerCenterError) as caught:
        await pc.create_customer(new_customer("halfway"), request_id="halfway-1")
    assert caught.value.status == 500 and caught.value.retryable
    await admin.set_faults()
    assert not await pc.is_domain_available("halfway.onmicrosoft.com")
    assert await pc.search_customers("Domain", "halfway") == []


@pytest.mark.parametrize("country", tax_id_countries())
async def test_tax_id_is_required_in_each_listed_country(
    pc: PartnerCenterClient, country: str
) -> None:
    with pytest.raises(PartnerCenterError) as caught:
        await pc.create_customer(new_customer("taxless", country=country), request_id="t")
    assert (caught.value.status, caught.value.code) == (400, "600049")
    assert country in caught.value.description


async def test_tax_id_format_and_phone_are_checked(pc: PartnerCenterClient) -> None:
    with pytest.raises(PartnerCenterError) as bad_format:
        await pc.create_customer(new_customer("ru1", country="RU", tax_id="77"), request_id="a")
    assert bad_format.value.code == "600050"
    with pytest.raises(PartnerCenterError) as no_phone:
        await pc.create_customer(
            new_customer("ru2", country="RU", tax_id="7707083893", phone=None), request_id="b"
        )
    assert no_phone.value.code == "600051"
    created = await pc.create_customer(
        new_customer("ru3", country="RU", tax_id="7707083893"), request_id="c"
    )
    assert created.company_profile is not None
    assert created.company_profile.organization_registration_number == "7707083893"


async def test_no_tax_id_needed_outside_the_listed_countries(pc: PartnerCenterClient) -> None:
    created = await pc.create_customer(new_customer("usco", country="US"), request_id="us")
    assert created.id


async def test_search_customers_by_domain_company_and_reseller(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    await admin.add_reseller("5555555", RESELLER_TENANT)
    await pc.create_customer(new_customer("alpha"), request_id="1")
    await pc.create_customer(new_customer("alphabet"), request_id="2")
    await pc.create_customer(
        new_customer("beta", reseller_tenant_id=RESELLER_TENANT), request_id="3"
    )
    by_domain = await pc.search_customers("Domain", "alpha")
    assert sorted(str(c.company_profile.domain) for c in by_domain if c.company_profile) == [
        "alpha.onmicrosoft.com",
        "alphabet.onmicrosoft.com",
    ]
    by_name = await pc.search_customers("CompanyName", "Beta")
    assert [c.associated_partner_id for c in by_name] == [RESELLER_TENANT]
    by_reseller = await pc.search_customers("IndirectReseller", RESELLER_TENANT)
    assert len(by_reseller) == 1
    assert len(await pc.list_customers()) == 3


async def test_indirect_reseller_without_signed_mpa_cannot_get_customers(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    await admin.add_reseller("6666666", RESELLER_TENANT, signed=False)
    with pytest.raises(PartnerCenterError) as caught:
        await pc.create_customer(
            new_customer("gamma", reseller_tenant_id=RESELLER_TENANT), request_id="g"
        )
    assert (caught.value.status, caught.value.code) == (403, "900123")


async def test_reseller_agreement_status(pc: PartnerCenterClient, admin: SandboxAdmin) -> None:
    await admin.add_reseller("1111111", RESELLER_TENANT, signed=True)
    await admin.add_reseller("2222222", "cccccccc-0000-4000-8000-000000000003", signed=False)
    assert (await pc.get_reseller_agreement_status("1111111")).is_agreement_signed
    # Microsoft answers an unsigned reseller with an error, not {"isAgreementSigned": false}.
    with pytest.raises(PartnerCenterError) as caught:
        await pc.get_reseller_agreement_status("2222222")
    assert (caught.value.status, caught.value.code) == (400, "2203")
    with pytest.raises(PartnerCenterError) as caught:
        await pc.get_reseller_agreement_status("9999999")
    assert (caught.value.status, caught.value.code) == (400, "2200")
    for code in (2204, 2201):
        await admin.add_reseller(f"33{code}", RESELLER_TENANT, mpa_check_error=code)
        with pytest.raises(PartnerCenterError) as caught:
            await pc.get_reseller_agreement_status(f"33{code}")
        assert (caught.value.status, caught.value.code) == (400, str(code))


async def test_existing_tenant_becomes_a_customer_after_accepting_the_link(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    link = await pc.get_relationship_request()
    assert link.url.startswith("https://admin.microsoft.com/")
    assert "partnerId=" in link.url
    tenant_id = await admin.add_tenant("northwind.onmicrosoft.com", "Northwind Traders")
    assert await pc.search_customers("Domain", "northwind") == []
    await admin.accept_relationship("northwind.onmicrosoft.com")
    found = await pc.search_customers("Domain", "northwind")
    assert [c.id for c in found] == [tenant_id]


async def test_unknown_customer_is_404(pc: PartnerCenterClient) -> None:
    with pytest.raises(PartnerCenterError) as caught:
        await pc.get_customer("00000000-0000-0000-0000-000000000000")
    assert caught.value.status == 404 and not caught.value.retryable


async def test_pascal_case_request_bodies_are_accepted(pc: PartnerCenterClient) -> None:
    """Microsoft's request examples are PascalCase; Partner Center takes them as they are."""
    body = new_customer("pascal").to_wire()

    def pascal(value: object) -> object:
        if isinstance(value, dict):
            return {k[:1].upper() + k[1:]: pascal(v) for k, v in value.items()}
        return value

    response = await pc._http.post(
        pc._base_url + "/v1/customers",
        json=pascal(body),
        headers={"Authorization": f"Bearer {await pc.tokens.token(pc._default_mode())}"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["companyProfile"]["domain"] == "pascal.onmicrosoft.com"


class TestAddressValidation:
    async def test_a_good_address_is_verified(self, pc: PartnerCenterClient) -> None:
        result = await pc.validate_address(
            Address(
                address_line1="1 Microsoft Way",
                city="Redmond",
                state="WA",
                postal_code="98052",
                country="US",
            )
        )
        assert result.status == "VerifiedShippable" and result.is_verified
        # Microsoft's standardized form comes back as a suggestion even when verified.
        assert [a.address_line1 for a in result.suggested_addresses] == ["1 Microsoft Way"]

    async def test_an_address_needing_correction_comes_with_suggestions(
        self, pc: PartnerCenterClient
    ) -> None:
        result = await pc.validate_address(
            Address(
                address_line1="1 Microsoft way st",
                city="redmond",
                state="wa",
                postal_code="98052",
                country="US",
            )
        )
        assert result.status == "InteractionRequired" and not result.is_verified
        assert [(a.address_line1, a.city, a.state) for a in result.suggested_addresses] == [
            ("1 Microsoft way Street", "Redmond", "WA")
        ]

    async def test_an_impossible_postal_code_is_not_validated(
        self, pc: PartnerCenterClient
    ) -> None:
        result = await pc.validate_address(
            Address(address_line1="1 Main Street", city="Moscow", postal_code="12", country="RU")
        )
        assert result.status == "None"
        assert result.validation_message and "postal code" in result.validation_message

    async def test_canned_verdicts_for_specific_addresses(
        self, pc: PartnerCenterClient, admin: SandboxAdmin
    ) -> None:
        address = {
            "addressLine1": "10 Downing Street",
            "city": "London",
            "postalCode": "SW1A 2AA",
            "country": "GB",
        }
        await admin.set_address_verdict(
            address,
            "Multiple",
            suggestedAddresses=[
                {**address, "addressLine2": "Flat 1"},
                {**address, "addressLine2": "Flat 2"},
            ],
        )
        result = await pc.validate_address(Address.model_validate(address))
        assert result.status == "Multiple"
        assert [a.address_line2 for a in result.suggested_addresses] == ["Flat 1", "Flat 2"]


async def test_query_parameter_names_in_any_casing(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    """Microsoft's examples write `mpnid` as well as `mpnId`; the sandbox reads either."""
    await admin.add_reseller("7777777", RESELLER_TENANT, signed=True)
    for name in ("mpnId", "mpnid", "MpnId"):
        status = await pc._call(  # the client itself always sends mpnId
            "GET",
            "/v1/compliance/csp/agreementstatus",
            AgreementStatus,
            params={name: "7777777"},
            mode=AuthMode.APP_USER,
        )
        assert status.is_agreement_signed
