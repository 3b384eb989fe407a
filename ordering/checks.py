"""The order's checks before its plan, as pure decisions: the reseller's Partner Agreement, the
customer (known, existing tenant, a new one's domain), a new customer's billing address and tax
ID, and education vetting still under way.

The order (workflows/order.py) asks Partner Center and refuses with these; the dry run
(workflows/validate_order.py, `ordering.dry_run`) asks the same and reports them. One copy of
each rule and each sentence. Sentences name no personal data (no address, tax ID or phone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from ordering.document import BillingAddress, NewCustomer
from ordering.refusals import Refusal, RefusalCode
from ordering.tax_id import TaxIdRequirement, phone_missing, tax_id_required, validate_tax_id

NO_SUCH_CUSTOMER = "Partner Center has no customer with this id for this partner."


def reseller_refusal(
    mpn_id: str, *, known: bool, signed: bool, ineligible: str | None
) -> Refusal | None:
    """Partner Center's answer on the reseller's Partner Agreement, judged: None when the
    reseller may be ordered for."""
    if not known:
        return Refusal(
            code=RefusalCode.RESELLER_UNKNOWN, message=f"Partner Center knows no reseller {mpn_id}."
        )
    if ineligible == "not_indirect_reseller":
        return Refusal(
            code=RefusalCode.RESELLER_NOT_ELIGIBLE,
            message=f"The partner {mpn_id} is not an indirect reseller: orders for it cannot be "
            "placed through an indirect provider.",
        )
    if ineligible == "region_mismatch":
        return Refusal(
            code=RefusalCode.RESELLER_NOT_ELIGIBLE,
            message=f"The reseller {mpn_id} is not in this provider's region: it must buy "
            "through an indirect provider of its own region.",
        )
    if not signed:
        return Refusal(
            code=RefusalCode.RESELLER_AGREEMENT_NOT_SIGNED,
            message="The reseller has not accepted the Microsoft Partner Agreement. The reseller "
            "must accept it in Partner Center (it cannot be signed through the API); then "
            "place the order again.",
        )
    return None


def customer_not_found() -> Refusal:
    """A known customer's id that Partner Center does not know for this partner."""
    return Refusal(code=RefusalCode.CUSTOMER_NOT_FOUND, message=NO_SUCH_CUSTOMER)


def domain_taken(domain: str) -> Refusal:
    """A new customer's domain that is in use already."""
    return Refusal(
        code=RefusalCode.DOMAIN_TAKEN,
        message=f"The domain {domain} is already in use. Choose another domain prefix for the "
        "new customer.",
        details={"domain": domain},
    )


def no_tenant(domain: str) -> Refusal:
    """An existing tenant's domain that no Microsoft tenant uses."""
    return Refusal(
        code=RefusalCode.CUSTOMER_NOT_FOUND,
        message=f"No Microsoft tenant uses the domain {domain}; order for a new customer instead.",
        details={"domain": domain},
    )


def billing_address_incomplete(customer: NewCustomer, *, phone_is_missing: bool) -> Refusal | None:
    """The fields a complete billing address needs and the new customer's lacks (the phone
    where Microsoft requires one); None when complete."""
    missing = customer.billing_address.missing_fields()
    if phone_is_missing:
        missing.append("phone")
    if not missing:
        return None
    return Refusal(
        code=RefusalCode.BILLING_ADDRESS_INCOMPLETE,
        message="The billing address is incomplete: " + ", ".join(missing) + ".",
        details={"missing_fields": missing},
    )


def address_not_verified(status: str, suggestions: list[BillingAddress]) -> Refusal:
    """Microsoft could not verify the billing address: its suggestions go with the refusal
    (in its details, never in its sentence)."""
    return Refusal(
        code=RefusalCode.BILLING_ADDRESS_NOT_VERIFIED,
        message="Microsoft could not verify the billing address. Ask the customer to confirm "
        "one of the suggested addresses, or to correct it.",
        details={
            "validation_status": status,
            "suggested_addresses": [s.model_dump() for s in suggestions],
        },
    )


class TaxIdStep(StrEnum):
    USE = "use"  # the tax ID to send (`value`)
    NOT_NEEDED = "not_needed"  # none given, none required
    ASK = "ask"  # Microsoft requires one and none valid was given: the order asks and waits
    REFUSE = "refuse"  # `refusal`


@dataclass(frozen=True)
class TaxIdDecision:
    step: TaxIdStep
    value: str | None = None  # the normalized tax ID to send (USE)
    problem: str | None = None  # why the order's tax ID is not valid (ASK, REFUSE)
    refusal: Refusal | None = None  # REFUSE


def tax_id_decision(
    customer: NewCustomer,
    on: date,
    requirements: tuple[TaxIdRequirement, ...] | None = None,
    *,
    supplied: str | None = None,
) -> TaxIdDecision:
    """The new customer's tax ID on day `on`: the order's when valid, else one `supplied`
    later (already validated), else asked for when Microsoft requires one; a phone number
    missing where Microsoft requires one, or an invalid tax ID where none is required, refuses
    the order."""
    if phone_missing(customer.country, customer.phone, on, requirements):
        return TaxIdDecision(
            TaxIdStep.REFUSE,
            refusal=Refusal(
                code=RefusalCode.BILLING_ADDRESS_INCOMPLETE,
                message=f"Microsoft requires a phone number for customers in {customer.country}.",
                details={"missing_fields": ["phone"]},
            ),
        )
    problem: str | None = None
    if customer.tax_id:
        verdict = validate_tax_id(customer.country, customer.tax_id)
        if verdict.valid:
            return TaxIdDecision(TaxIdStep.USE, value=verdict.value)
        problem = verdict.reason
    if supplied is not None:
        return TaxIdDecision(TaxIdStep.USE, value=supplied)
    if not tax_id_required(customer.country, on, requirements):
        if problem is not None:
            return TaxIdDecision(
                TaxIdStep.REFUSE,
                problem=problem,
                refusal=Refusal(code=RefusalCode.CUSTOMER_REJECTED, message=problem),
            )
        return TaxIdDecision(TaxIdStep.NOT_NEEDED)
    return TaxIdDecision(TaxIdStep.ASK, problem=problem)


def tax_id_not_provided(country: str) -> Refusal:
    """The wait for a required tax ID expired."""
    return Refusal(
        code=RefusalCode.TAX_ID_NOT_PROVIDED,
        message=f"Microsoft requires the customer's tax ID for {country} and none was provided "
        "in time.",
    )


def vetting_not_waited_for() -> Refusal:
    """Microsoft is vetting the customer for education plans, and the engine is configured not
    to wait for its verdict."""
    return Refusal(
        code=RefusalCode.VETTING_NOT_FINISHED,
        message="Microsoft is still vetting the customer for education plans; place the order "
        "again once it is approved.",
    )
