"""Refusals: a stable machine code and a sentence a customer can read.

Messages never contain personal data (no tax IDs, addresses, e-mails or phone numbers); they may
name the plan, the domain the customer chose, or Partner Center's code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RefusalCode(StrEnum):
    INVALID_ORDER = "INVALID_ORDER"
    INVALID_REQUEST = "INVALID_REQUEST"
    RESELLER_UNKNOWN = "RESELLER_UNKNOWN"
    RESELLER_AGREEMENT_NOT_SIGNED = "RESELLER_AGREEMENT_NOT_SIGNED"
    RESELLER_NOT_ELIGIBLE = "RESELLER_NOT_ELIGIBLE"
    DOMAIN_TAKEN = "DOMAIN_TAKEN"
    BILLING_ADDRESS_INCOMPLETE = "BILLING_ADDRESS_INCOMPLETE"
    BILLING_ADDRESS_NOT_VERIFIED = "BILLING_ADDRESS_NOT_VERIFIED"
    TAX_ID_NOT_PROVIDED = "TAX_ID_NOT_PROVIDED"
    RELATIONSHIP_NOT_ACCEPTED = "RELATIONSHIP_NOT_ACCEPTED"
    CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"
    CUSTOMER_REJECTED = "CUSTOMER_REJECTED"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    VETTING_DENIED = "VETTING_DENIED"
    VETTING_NOT_FINISHED = "VETTING_NOT_FINISHED"
    OFFER_NOT_FOUND = "OFFER_NOT_FOUND"
    OFFER_DISCONTINUED = "OFFER_DISCONTINUED"
    QUANTITY_OUT_OF_RANGE = "QUANTITY_OUT_OF_RANGE"
    QUANTITY_REDUCTION_NOT_ALLOWED = "QUANTITY_REDUCTION_NOT_ALLOWED"
    SUBSCRIPTION_LIMIT = "SUBSCRIPTION_LIMIT"
    SEAT_LIMIT = "SEAT_LIMIT"
    LINES_CONFLICT = "LINES_CONFLICT"
    SUBSCRIPTION_NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"
    SUBSCRIPTION_NOT_ACTIVE = "SUBSCRIPTION_NOT_ACTIVE"
    CUSTOMER_AGREEMENT_REJECTED = "CUSTOMER_AGREEMENT_REJECTED"
    PARTNER_CENTER_REFUSED = "PARTNER_CENTER_REFUSED"
    PROVISIONING_FAILED = "PROVISIONING_FAILED"
    CANCELLED = "CANCELLED"
    ORDER_ID_CONFLICT = "ORDER_ID_CONFLICT"
    REQUEST_ID_CONFLICT = "REQUEST_ID_CONFLICT"
    ORDER_ABORTED = "ORDER_ABORTED"
    ORDER_NOT_ENCRYPTED = "ORDER_NOT_ENCRYPTED"
    # After the purchase (ordering/refund_windows.py)
    REFUND_WINDOW_CLOSED = "REFUND_WINDOW_CLOSED"
    NOT_CANCELLABLE = "NOT_CANCELLABLE"
    OTHER_ORDERS_LICENCES = "OTHER_ORDERS_LICENCES"
    NOTHING_TO_UNDO = "NOTHING_TO_UNDO"
    ORDER_NOT_FINISHED = "ORDER_NOT_FINISHED"
    SUBSCRIPTION_DRIFTED = "SUBSCRIPTION_DRIFTED"


class Problem(BaseModel):
    """One reason an order cannot be carried out, naming the order lines it concerns
    (0-based, as `lines[n]` of the order document)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    code: RefusalCode
    message: str
    lines: list[int] = Field(default_factory=list)

    def __str__(self) -> str:
        where = ", ".join(f"lines[{n}]" for n in self.lines)
        return f"{where}: {self.message}" if where else self.message


class Refusal(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    code: RefusalCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    partner_center_code: str | None = None
    problems: list[Problem] = Field(
        default_factory=list,
        description="Every reason the order was refused, each naming its lines; `code` and "
        "`message` are the first one's when there is only one.",
    )

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# Partner Center business codes, and what they mean for the customer.
PARTNER_CENTER_CODES: dict[str, tuple[RefusalCode, str]] = {
    "900123": (
        RefusalCode.RESELLER_AGREEMENT_NOT_SIGNED,
        "The reseller has not accepted the Microsoft Partner Agreement.",
    ),
    "1002": (RefusalCode.DOMAIN_TAKEN, "The domain is already in use."),
    "600049": (RefusalCode.CUSTOMER_REJECTED, "Microsoft requires the customer's tax ID."),
    "600050": (RefusalCode.CUSTOMER_REJECTED, "Microsoft did not accept the tax ID's format."),
    "600051": (RefusalCode.CUSTOMER_REJECTED, "Microsoft requires a phone number."),
    "800089": (
        RefusalCode.SUBSCRIPTION_LIMIT,
        "Microsoft allows no more subscriptions of this plan for the customer.",
    ),
    "800088": (
        RefusalCode.SEAT_LIMIT,
        "Microsoft allows at most 300 licences across Business plans per customer.",
    ),
    "10015": (
        RefusalCode.SEAT_LIMIT,
        "Microsoft allows at most 300 licences across Business plans per customer.",
    ),
    "2091": (RefusalCode.OFFER_DISCONTINUED, "This plan is no longer sold by Microsoft."),
    "800086": (RefusalCode.NOT_ELIGIBLE, "The customer is not qualified for this plan."),
    "2002": (RefusalCode.QUANTITY_OUT_OF_RANGE, "The quantity is outside what the plan allows."),
    "800067": (RefusalCode.QUANTITY_OUT_OF_RANGE, "The quantity exceeds the plan's maximum."),
    "800090": (
        RefusalCode.QUANTITY_REDUCTION_NOT_ALLOWED,
        "Microsoft allows licences to be reduced only within 7 days of purchase or renewal.",
    ),
    "900117": (
        RefusalCode.REFUND_WINDOW_CLOSED,
        "Microsoft allows a cancellation only within 7 days of purchase or renewal; the "
        "window has passed, so the subscription stays until its term ends.",
    ),
    "2011": (
        RefusalCode.SUBSCRIPTION_NOT_ACTIVE,
        "The subscription is cancelled; Microsoft allows no change to it.",
    ),
    "400013": (RefusalCode.OFFER_NOT_FOUND, "The plan is not in Microsoft's catalog."),
    "400018": (RefusalCode.OFFER_NOT_FOUND, "The plan is not in Microsoft's catalog."),
    "400019": (RefusalCode.OFFER_NOT_FOUND, "The plan is not available in Microsoft's catalog."),
    "13605": (
        RefusalCode.CUSTOMER_AGREEMENT_REJECTED,
        "Microsoft has no record of the customer accepting the Microsoft Customer Agreement.",
    ),
}


def from_partner_center(code: str | None, description: str) -> Refusal:
    """A Partner Center business refusal, in the engine's terms."""
    known = PARTNER_CENTER_CODES.get(code or "")
    if known is not None:
        refusal_code, message = known
    else:
        # Microsoft's own sentence says what it refused (e.g. which field is missing); its
        # descriptions name fields and codes, not the customer's data.
        reason = description.strip().rstrip(".")
        refusal_code = RefusalCode.PARTNER_CENTER_REFUSED
        message = (
            f"Microsoft refused the request: {reason}."
            if reason
            else ("Microsoft refused the request.")
        )
    return Refusal(code=refusal_code, message=message, partner_center_code=code)


def refusal_for(problems: list[Problem]) -> Refusal:
    """One refusal reporting every problem of an order together. Its code is the first
    problem's (in line order); its message has each problem's sentence, naming its lines."""
    ordered = sorted(problems, key=lambda p: (min(p.lines, default=-1), p.code.value))
    first = ordered[0]
    if len(ordered) == 1:
        message = first.message
    else:
        message = f"The order cannot be carried out ({len(ordered)} problems): " + " ".join(
            str(p) if str(p).endswith(".") else f"{p}." for p in ordered
        )
    details: dict[str, Any] = {"lines": sorted({n for p in ordered for n in p.lines})}
    if len(first.lines) == 1 and len(ordered) == 1:
        details["line"] = first.lines[0]
    return Refusal(code=first.code, message=message, details=details, problems=ordered)


# A refusal carries at most this many input problems (the rest are counted): a document with
# 100,000 unknown keys must not make a refusal too large for Temporal to record.
MAX_PROBLEMS_KEPT = 20


def invalid_input(code: RefusalCode, what: str, problems: list[Any]) -> Refusal:
    """A refusal for input that is not valid; `problems` are ordering.validation.FieldProblem."""
    kept = problems[:MAX_PROBLEMS_KEPT]
    details: dict[str, Any] = {"problems": [p.model_dump() for p in kept]}
    more = ""
    if len(problems) > len(kept):
        details["more_problems"] = len(problems) - len(kept)
        more = f" (and {len(problems) - len(kept)} more problems)"
    return Refusal(
        code=code,
        message=f"The {what} is not valid: " + "; ".join(str(p) for p in problems[:10]) + more,
        details=details,
    )


# An order or licence request whose run failed with an error of the engine's, no refusal of
# Partner Center's (what its storefront is told, e.g. by webhook).
ENGINE_FAILURE = Refusal(
    code=RefusalCode.ORDER_ABORTED,
    message="The request stopped with an error in the order engine before it finished. Some of "
    "it may have been carried out at Microsoft: check the customer's subscriptions before "
    "asking again under a new id.",
)
