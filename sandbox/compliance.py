"""Compliance: reseller MPA, qualifications, the Microsoft Customer Agreement, addresses."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sandbox.core import CUSTOMER_AGREEMENT_TEMPLATE_ID, Sandbox
from sandbox.customers import app_user_required, get_customer
from sandbox.errors import bad_request, missing_field
from sandbox.state import AddressVerdict, AgreementRecord, QualificationRecord

CUSTOMER_AGREEMENT = "MicrosoftCustomerAgreement"
QUALIFICATIONS = ("Education", "Nonprofit", "GovernmentCommunityCloud", "StateOwnedEntity")
EDUCATION_SEGMENTS = ("K12", "HigherEducation")


def reseller_agreement_status(sb: Sandbox, mpn_id: str | None, *, app_user: bool) -> dict[str, Any]:
    if not app_user:
        raise app_user_required()
    if not mpn_id:
        raise missing_field("mpnId")
    reseller = sb.state.resellers.get(mpn_id)
    if reseller is None:
        raise bad_request(2200, f"MPN ID {mpn_id} was not found or is not migrated.")
    if reseller.mpa_check_error == 2204:
        raise bad_request(2204, f"MPN ID {mpn_id} is not an indirect reseller.")
    if reseller.mpa_check_error == 2201:
        raise bad_request(2201, f"MPN ID {mpn_id} is not in the partner's region.")
    if not reseller.agreement_signed:
        # As Microsoft answers it: an error, not {"isAgreementSigned": false}.
        raise bad_request(2203, f"MPN ID {mpn_id} has not signed the Microsoft Partner Agreement.")
    return {"isAgreementSigned": True}


# ------------------------------------------------------------ qualifications


def qualification_json(q: QualificationRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "qualification": q.qualification,
        "vettingStatus": q.vetting_status,
        "vettingReason": q.vetting_reason or "",
        "vettingCreateDate": datetime.fromtimestamp(q.created_at, UTC).isoformat(),
    }
    if q.education_segment:
        body["educationSegment"] = q.education_segment
    if q.website:
        body["website"] = q.website
    return body


def get_qualifications(sb: Sandbox, customer_id: str) -> list[dict[str, Any]]:
    customer = get_customer(sb, customer_id)
    return [qualification_json(q) for q in customer.qualifications]


def request_qualification(
    sb: Sandbox, customer_id: str, body: dict[str, Any], *, app_user: bool
) -> dict[str, Any]:
    if not app_user:
        raise app_user_required()
    customer = get_customer(sb, customer_id)
    kind = body.get("qualification")
    if kind not in QUALIFICATIONS:
        raise bad_request(600047, f"Qualification must be one of {', '.join(QUALIFICATIONS)}.")
    if kind == "Nonprofit":
        raise bad_request(
            600046,
            "Nonprofit qualification cannot be set by a partner; the customer applies through "
            "Microsoft Nonprofit.",
        )
    if any(q.qualification == kind for q in customer.qualifications):
        raise bad_request(600048, f"The customer already has the {kind} qualification.")
    now = sb.now()
    record = QualificationRecord(qualification=str(kind), vetting_status="InReview", created_at=now)
    if kind == "Education":
        segment = body.get("educationSegment")
        if segment not in EDUCATION_SEGMENTS:
            raise bad_request(600047, "educationSegment must be K12 or HigherEducation.")
        website = body.get("website")
        if not isinstance(website, str) or not website.strip():
            raise missing_field("website")
        record.education_segment = segment
        record.website = website
    elif kind == "GovernmentCommunityCloud":
        if not body.get("validationCode"):
            raise missing_field("validationCode")
    else:  # StateOwnedEntity: no vetting
        record.vetting_status = "Approved"
    if record.vetting_status == "InReview" and sb.settings.vetting_delay_seconds is not None:
        record.decide_at = now + sb.settings.vetting_delay_seconds
    customer.qualifications.append(record)
    return qualification_json(record)


# ------------------------------------------------------------ customer agreement


def agreement_metadata() -> dict[str, Any]:
    return {
        "templateId": CUSTOMER_AGREEMENT_TEMPLATE_ID,
        "agreementType": CUSTOMER_AGREEMENT,
        "agreementLink": "https://aka.ms/customeragreement",
        "versionRank": 0,
        "retiredDate": None,
    }


def agreement_json(a: AgreementRecord) -> dict[str, Any]:
    return {
        "primaryContact": a.primary_contact,
        "templateId": a.template_id,
        "dateAgreed": a.date_agreed,
        "type": a.type,
        "agreementLink": "https://aka.ms/customeragreement",
        "userId": a.user_id,
        "attributes": {"objectType": "Agreement"},
    }


def list_agreements(
    sb: Sandbox, customer_id: str, agreement_type: str | None
) -> list[dict[str, Any]]:
    customer = get_customer(sb, customer_id)
    return [agreement_json(a) for a in customer.agreements if agreement_type in (None, "", a.type)]


def confirm_agreement(
    sb: Sandbox, customer_id: str, body: dict[str, Any], *, app_user: bool
) -> dict[str, Any]:
    if not app_user:
        raise app_user_required()
    customer = get_customer(sb, customer_id)
    contact = body.get("primaryContact")
    if not isinstance(contact, dict):
        raise missing_field("primaryContact")
    for name in ("firstName", "lastName", "email"):
        if not contact.get(name):
            raise missing_field(f"primaryContact.{name}")
    if body.get("templateId") != CUSTOMER_AGREEMENT_TEMPLATE_ID:
        raise bad_request(600059, "templateId is not the current Microsoft Customer Agreement.")
    if not body.get("dateAgreed"):
        raise missing_field("dateAgreed")
    kind = body.get("type", CUSTOMER_AGREEMENT)
    if kind != CUSTOMER_AGREEMENT:
        raise bad_request(600060, f"Agreement type {kind} is not supported.")
    contact_on_record = {
        k: contact[k] for k in ("firstName", "lastName", "email", "phoneNumber") if k in contact
    }
    # The same confirmation twice is refused; one with changed contact details is a new record.
    if any(
        a.template_id == body["templateId"] and a.primary_contact == contact_on_record
        for a in customer.agreements
    ):
        raise bad_request(
            600061,
            "PartnerConfirmedAgreementAlreadyExists: the partner has already confirmed the "
            "customer's acceptance of this agreement.",
            errorName="PartnerConfirmedAgreementAlreadyExists",
            isRetryable=False,
        )
    record = AgreementRecord(
        template_id=str(body["templateId"]),
        type=str(kind),
        date_agreed=str(body["dateAgreed"]),
        primary_contact=contact_on_record,
    )
    customer.agreements.append(record)
    return agreement_json(record)


def has_customer_agreement(sb: Sandbox, customer_id: str) -> bool:
    customer = get_customer(sb, customer_id)
    return any(a.type == CUSTOMER_AGREEMENT for a in customer.agreements)


# ------------------------------------------------------------ address validation

# Postal code formats Microsoft's validation knows; other countries are taken as they come.
_POSTAL_CODES = {
    "US": r"\d{5}(-\d{4})?",
    "CA": r"[A-Z]\d[A-Z] ?\d[A-Z]\d",
    "GB": r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}",
    "DE": r"\d{5}",
    "FR": r"\d{5}",
    "NL": r"\d{4} ?[A-Z]{2}",
    "RU": r"\d{6}",
    "PL": r"\d{2}-\d{3}",
    "UA": r"\d{5}",
    "BR": r"\d{5}-?\d{3}",
    "TR": r"\d{5}",
    "IN": r"\d{6}",
}
_ABBREVIATIONS = {"st": "Street", "st.": "Street", "ave": "Avenue", "ave.": "Avenue", "rd": "Road"}


def address_key(address: dict[str, Any]) -> str:
    parts = (address.get(k, "") for k in ("addressLine1", "city", "postalCode", "country"))
    return "|".join(str(p).strip().lower() for p in parts)


def validate_address(sb: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    original = {
        k: body[k]
        for k in ("addressLine1", "addressLine2", "city", "state", "postalCode", "country")
        if body.get(k)
    }
    for name in ("addressLine1", "city", "country"):
        if not original.get(name):
            raise missing_field(name)
    canned = sb.state.address_verdicts.get(address_key(original))
    verdict = canned or _judge(original)
    return {
        "originalAddress": original,
        "suggestedAddresses": verdict.suggested_addresses,
        "status": verdict.status,
        "validationMessage": verdict.validation_message,
    }


def _judge(address: dict[str, Any]) -> AddressVerdict:
    country = str(address["country"]).upper()
    postal = str(address.get("postalCode", "")).upper()
    pattern = _POSTAL_CODES.get(country)
    if not postal or (pattern and not re.fullmatch(pattern, postal)):
        return AddressVerdict(
            status="None",
            validation_message=f"The postal code is not valid for {country}.",
        )
    if not re.search(r"\d", str(address["addressLine1"])):
        return AddressVerdict(
            status="PremisesPartial",
            validation_message="The street address has no building number.",
        )
    suggestion = _normalized(address)
    if suggestion != address:
        return AddressVerdict(
            status="InteractionRequired",
            validation_message="The address was corrected; confirm the suggested address.",
            suggested_addresses=[suggestion],
        )
    # Microsoft lists its standardized form as a suggestion even for a verified address.
    return AddressVerdict(
        status="VerifiedShippable",
        validation_message="Address is valid.",
        suggested_addresses=[suggestion],
    )


def _normalized(address: dict[str, Any]) -> dict[str, Any]:
    line = " ".join(
        _ABBREVIATIONS.get(word.lower(), word) for word in str(address["addressLine1"]).split()
    )
    city = str(address["city"]).strip()
    normalized = {**address, "addressLine1": line, "city": city.title() if city.islower() else city}
    if "state" in normalized and len(str(normalized["state"])) <= 3:
        normalized["state"] = str(normalized["state"]).upper()  # state codes: WA, NY, ...
    normalized["country"] = str(address["country"]).upper()
    normalized["postalCode"] = str(address.get("postalCode", "")).upper()
    return normalized
