"""Qualifications (segment vetting) and the Microsoft Customer Agreement."""

from __future__ import annotations

import pytest

from clients.partner_center import PartnerCenterClient, PartnerCenterError
from clients.partner_center.models import Contact, QualificationRequest
from devtools.sandbox_settings import sandbox_client_config
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.helpers import SandboxFactory
from tests.partner_center.builders import customer_agreement

EDUCATION = QualificationRequest(
    qualification="Education", education_segment="HigherEducation", website="https://uni.example"
)


async def test_new_customer_has_no_qualification(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer("Plain", "plain.onmicrosoft.com")
    assert await pc.get_qualifications(customer_id) == []


async def test_education_vetting_is_in_review_until_microsoft_decides(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer("School", "school.onmicrosoft.com")
    requested = await pc.request_qualification(customer_id, EDUCATION, request_id="edu-1")
    assert (requested.qualification, requested.vetting_status) == ("Education", "InReview")
    await admin.set_vetting(customer_id, "Education", "Approved")
    [q] = await pc.get_qualifications(customer_id)
    assert (q.qualification, q.vetting_status) == ("Education", "Approved")


async def test_vetting_decides_itself_after_the_configured_delay(
    make_sandbox: SandboxFactory,
) -> None:
    server = make_sandbox(vetting_delay_seconds=3 * 86400, vetting_verdict="Denied")
    admin = SandboxAdmin(server.base_url)
    async with PartnerCenterClient.from_config(sandbox_client_config(server)) as pc:
        customer_id = await admin.add_customer("School", "school.onmicrosoft.com")
        await pc.request_qualification(customer_id, EDUCATION, request_id="edu")
        await admin.advance_clock(2 * 86400)
        assert [q.vetting_status for q in await pc.get_qualifications(customer_id)] == ["InReview"]
        await admin.advance_clock(1 * 86400 + 1)
        assert [q.vetting_status for q in await pc.get_qualifications(customer_id)] == ["Denied"]
    await admin.aclose()


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (QualificationRequest(qualification="Education", education_segment="K12"), "website"),
        (QualificationRequest(qualification="GovernmentCommunityCloud"), "validationCode"),
        (
            QualificationRequest(
                qualification="Education",
                website="https://x.example",
                education_segment="Kindergarten",
            ),
            "educationSegment",
        ),
    ],
)
async def test_incomplete_qualification_requests_name_the_field(
    pc: PartnerCenterClient, admin: SandboxAdmin, request_: QualificationRequest, field: str
) -> None:
    customer_id = await admin.add_customer("School", "school.onmicrosoft.com")
    with pytest.raises(PartnerCenterError) as caught:
        await pc.request_qualification(customer_id, request_, request_id="q")
    assert caught.value.status == 400
    assert field in caught.value.description


async def test_partners_cannot_set_nonprofit(pc: PartnerCenterClient, admin: SandboxAdmin) -> None:
    customer_id = await admin.add_customer("Charity", "charity.onmicrosoft.com")
    with pytest.raises(PartnerCenterError) as caught:
        await pc.request_qualification(
            customer_id, QualificationRequest(qualification="Nonprofit"), request_id="np"
        )
    assert caught.value.status == 400 and not caught.value.retryable
    assert "Nonprofit" in caught.value.description


async def test_customer_agreement_is_confirmed_once(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    [metadata] = await pc.get_agreement_metadata()
    assert metadata.agreement_type == "MicrosoftCustomerAgreement"
    customer_id = await admin.add_customer(
        "Contoso", "contoso.onmicrosoft.com", customer_agreement=False
    )
    assert await pc.list_agreements(customer_id) == []
    confirmed = await pc.confirm_agreement(
        customer_id, customer_agreement(metadata.template_id), request_id="mca-1"
    )
    assert confirmed.template_id == metadata.template_id
    [listed] = await pc.list_agreements(customer_id)
    assert listed.primary_contact.email == "ada@example.com"

    with pytest.raises(PartnerCenterError) as caught:
        await pc.confirm_agreement(
            customer_id, customer_agreement(metadata.template_id), request_id="mca-2"
        )
    assert caught.value.code == "600061" and not caught.value.retryable
    assert caught.value.body is not None
    assert caught.value.body.error_name == "PartnerConfirmedAgreementAlreadyExists"
    # Confirming again with changed contact details is accepted (a new record).
    changed = customer_agreement(metadata.template_id).model_copy(
        update={
            "primary_contact": Contact(
                first_name="Grace", last_name="Hopper", email="grace@example.com"
            )
        }
    )
    await pc.confirm_agreement(customer_id, changed, request_id="mca-3")
    assert len(await pc.list_agreements(customer_id)) == 2


async def test_confirmation_with_an_unknown_template_is_refused(
    pc: PartnerCenterClient, admin: SandboxAdmin, sandbox: SandboxServer
) -> None:
    customer_id = await admin.add_customer(
        "Contoso", "contoso.onmicrosoft.com", customer_agreement=False
    )
    with pytest.raises(PartnerCenterError) as caught:
        await pc.confirm_agreement(
            customer_id, customer_agreement("not-a-template"), request_id="mca"
        )
    assert caught.value.status == 400 and "templateId" in caught.value.description
