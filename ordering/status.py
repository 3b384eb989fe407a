"""What a storefront sees of an order: its status while it runs, and its outcome."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ordering.planning import LineAction
from ordering.refusals import Refusal


class Phase(StrEnum):
    RECEIVED = "received"
    CHECKING_RESELLER = "checking_reseller"
    RESOLVING_CUSTOMER = "resolving_customer"
    CHECKING_ADDRESS = "checking_address"
    WAITING_FOR_TAX_ID = "waiting_for_tax_id"
    WAITING_FOR_RELATIONSHIP = "waiting_for_relationship"
    CHECKING_ELIGIBILITY = "checking_eligibility"
    CREATING_CUSTOMER = "creating_customer"
    WAITING_FOR_VETTING = "waiting_for_vetting"
    CONFIRMING_AGREEMENT = "confirming_agreement"
    WAITING_FOR_CUSTOMER_SLOT = "waiting_for_customer_slot"
    PLANNING = "planning"
    PURCHASING = "purchasing"
    PROVISIONING = "provisioning"
    COMPLETED = "completed"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (Phase.COMPLETED, Phase.REFUSED, Phase.CANCELLED, Phase.FAILED)


class WaitingFor(StrEnum):
    TAX_ID = "tax_id"
    RELATIONSHIP = "relationship"
    VETTING = "vetting"
    CUSTOMER_SLOT = "customer_slot"
    PROVISIONING = "provisioning"


class Waiting(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    what: WaitingFor
    since: datetime
    expires_at: datetime | None = None
    reminders_sent: int = 0
    relationship_link: str | None = Field(
        None, description="The invitation the customer's global admin must accept."
    )
    last_problem: str | None = Field(
        None, description="Why the last input was not accepted (e.g. an invalid tax ID)."
    )


class LineState(StrEnum):
    PENDING = "pending"
    PLANNED = "planned"
    ORDERED = "ordered"
    FULFILLED = "fulfilled"
    REFUSED = "refused"  # nothing was bought for this line (see its problem)
    FAILED = "failed"  # ordered at Microsoft but not fulfilled (see its problem)


class LineStatus(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    line: int
    offer: str
    title: str | None = None
    quantity: int
    state: LineState = LineState.PENDING
    action: LineAction | None = None
    subscription_id: str | None = None
    quantity_before: int | None = None
    quantity_after: int | None = None
    partner_center_order_id: str | None = None
    problem: str | None = None
    refund_window_closes_at: datetime | None = Field(
        None,
        description="Until when what the line bought can be undone (the subscription "
        "cancelled, or the licences it added taken back), as Partner Center reports it; "
        "None: not known, or nothing was bought.",
    )


class OrderStatus(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: str
    phase: Phase
    customer_id: str | None = None
    waiting: Waiting | None = None
    refusal: Refusal | None = None
    lines: list[LineStatus] = Field(default_factory=list)
    cancellable: bool = True
    updated_at: datetime | None = None
    unencrypted_inputs: list[str] = Field(
        default_factory=list,
        description="Inputs that arrived unencrypted and are readable in the order's history "
        "(e.g. a tax ID sent with the plain `temporal` CLI): 'order', 'tax_id'.",
    )


class OrderOutcome(BaseModel):
    """The result of an order: completed (every line fulfilled), refused, or cancelled."""

    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: str
    phase: Phase
    customer_id: str | None = None
    lines: list[LineStatus] = Field(default_factory=list)
    refusal: Refusal | None = None
    unencrypted_inputs: list[str] = Field(
        default_factory=list, description="As in the status: inputs that arrived unencrypted."
    )
