"""What the sandbox's Partner Center holds: customers, subscriptions, orders, carts, ...

Kept in memory; with a state file it is written after every change (atomically) and read back
at start, so a restarted sandbox remembers everything, including `MS-RequestId` answers.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

# New commerce: a purchase, a renewal or an addition of seats can be undone for 168 hours.
REFUND_WINDOW_SECONDS = 168 * 3600
# The sandbox's term lengths (Microsoft's run to calendar dates; these are fixed).
TERM_SECONDS = {"P1M": 30 * 86400, "P1Y": 365 * 86400, "P3Y": 3 * 365 * 86400}


def term_seconds(term_duration: str) -> int:
    return TERM_SECONDS.get(term_duration.upper(), TERM_SECONDS["P1M"])


class Clock(BaseModel):
    """Wall time plus an offset that tests can move forward (`POST /_sandbox/clock`)."""

    offset_seconds: float = 0.0

    def now(self) -> float:
        return time.time() + self.offset_seconds

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)


class QualificationRecord(BaseModel):
    qualification: str
    vetting_status: str
    vetting_reason: str | None = None
    created_at: float
    decide_at: float | None = None  # automatic verdict time (None: only an admin decides)
    verdict: str | None = None
    education_segment: str | None = None
    website: str | None = None


class AgreementRecord(BaseModel):
    user_id: str = "5b1e2c3d-0000-4a4b-9c9d-0e1f2a3b4c5d"  # the partner user who confirmed
    template_id: str
    type: str
    date_agreed: str
    primary_contact: dict[str, Any]


class CustomerRecord(BaseModel):
    id: str
    domain: str
    company_name: str
    country: str
    billing_profile: dict[str, Any] = Field(default_factory=dict)
    organization_registration_number: str | None = None
    associated_partner_id: str | None = None
    relationship_to_partner: str = "reseller"
    qualifications: list[QualificationRecord] = Field(default_factory=list)
    agreements: list[AgreementRecord] = Field(default_factory=list)
    created_at: float


class RefundBlock(BaseModel):
    """Seats bought, renewed or added together, refundable until `until`."""

    quantity: int
    until: float


class SubscriptionRecord(BaseModel):
    id: str
    customer_id: str
    offer_id: str  # product:sku:availability
    offer_name: str
    friendly_name: str
    quantity: int
    status: str
    billing_cycle: str
    term_duration: str
    order_id: str | None
    partner_id: str | None = None  # partner of record (reseller MPN id)
    created_at: float
    deprovisioned: bool = False
    etag: str
    # A change of quantity accepted (202) and not yet carried out: the new total, and when.
    pending_quantity: int | None = None
    quantity_ready_at: float | None = None
    auto_renew: bool = True
    # The current term: it renews (auto_renew) or expires when term_end passes. 0: not yet
    # set (a state file written before terms existed), filled from created_at.
    term_end: float = 0.0
    # Until when the whole subscription can be cancelled: 168 h after purchase or renewal.
    cancellation_until: float = 0.0
    # The seats that can still be taken back, per block (purchase, renewal, addition).
    refund_blocks: list[RefundBlock] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fill_term(self) -> SubscriptionRecord:
        if not self.term_end:
            self.term_end = self.created_at + term_seconds(self.term_duration)
        if not self.cancellation_until:
            self.cancellation_until = self.created_at + REFUND_WINDOW_SECONDS
        return self

    def open_blocks(self, now: float) -> list[RefundBlock]:
        return [b for b in self.refund_blocks if b.until >= now and b.quantity > 0]

    def refundable(self, now: float) -> int:
        return min(self.quantity, sum(b.quantity for b in self.open_blocks(now)))


class OrderLineRecord(BaseModel):
    line_item_number: int
    offer_id: str
    friendly_name: str
    quantity: int
    term_duration: str
    subscription_id: str
    partner_id_on_record: str | None = None


class OrderRecord(BaseModel):
    id: str
    customer_id: str
    billing_cycle: str
    line_items: list[OrderLineRecord]
    created_at: float
    ready_at: float
    status: str = "pending"


class CartRecord(BaseModel):
    id: str
    customer_id: str
    line_items: list[dict[str, Any]]
    status: str = "Active"
    created_at: float
    order_ids: list[str] = Field(default_factory=list)


class ResellerRecord(BaseModel):
    mpn_id: str
    tenant_id: str
    name: str = "Reseller"
    agreement_signed: bool = True
    # What the MPA status check answers instead, when set: 2204 (not an indirect reseller) or
    # 2201 (the reseller's region does not match the partner's).
    mpa_check_error: int | None = None


class TenantRecord(BaseModel):
    """An existing Office 365 tenant that is not (yet) a customer of this partner."""

    tenant_id: str
    domain: str
    company_name: str
    country: str = "US"
    relationship_accepted: bool = False


class AddressVerdict(BaseModel):
    status: str
    validation_message: str | None = None
    suggested_addresses: list[dict[str, Any]] = Field(default_factory=list)


class StoredAnswer(BaseModel):
    status: int
    body: bytes
    headers: dict[str, str] = Field(default_factory=dict)


class TokenRecord(BaseModel):
    mode: str
    expires_at: float


class SandboxState(BaseModel):
    clock: Clock = Field(default_factory=Clock)
    customers: dict[str, CustomerRecord] = Field(default_factory=dict)
    taken_domains: set[str] = Field(default_factory=set)
    tenants: dict[str, TenantRecord] = Field(default_factory=dict)  # by domain
    subscriptions: dict[str, SubscriptionRecord] = Field(default_factory=dict)
    orders: dict[str, OrderRecord] = Field(default_factory=dict)
    carts: dict[str, CartRecord] = Field(default_factory=dict)
    resellers: dict[str, ResellerRecord] = Field(default_factory=dict)  # by MPN id
    address_verdicts: dict[str, AddressVerdict] = Field(default_factory=dict)
    answers: dict[str, StoredAnswer] = Field(default_factory=dict)  # by request key
    tokens: dict[str, TokenRecord] = Field(default_factory=dict)
    calls: dict[str, int] = Field(default_factory=dict)

    def customer_subscriptions(self, customer_id: str) -> list[SubscriptionRecord]:
        return [s for s in self.subscriptions.values() if s.customer_id == customer_id]


class StateStore:
    """The state and, optionally, the file it is persisted to."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.state = SandboxState()
        if path is not None and path.exists():
            self.state = SandboxState.model_validate_json(path.read_bytes())

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sandbox-state-")
        with os.fdopen(fd, "wb") as f:
            f.write(self.state.model_dump_json().encode())
        os.replace(tmp, self.path)

    def reset(self) -> None:
        self.state = SandboxState()
        self.save()
