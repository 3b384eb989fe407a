"""The sandbox's core: settings, state, catalog, faults, and time moving things along."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sandbox import lifecycle
from sandbox.catalog import Catalog
from sandbox.faults import FaultInjector, FaultSettings
from sandbox.holds import Holds
from sandbox.scripted import ScriptedRefusals
from sandbox.state import SandboxState, StateStore

CUSTOMER_AGREEMENT_TEMPLATE_ID = "117a69a9-2f3c-4b9b-9b9e-2a6e1b1c9f00"


class SandboxSettings(BaseModel):
    """How the sandbox's Partner Center and Entra ID behave."""

    partner_tenant_id: str = "7d2c5b6c-0000-4e7a-9a1a-5a7c0de5a11d"
    partner_mpn_id: str = "4848484"
    client_id: str = "csp-orders-sandbox-app"
    client_secret: str = "sandbox-secret"
    refresh_token: str = "sandbox-refresh-token"
    token_lifetime_seconds: int = Field(3599, ge=1)
    provisioning_delay_seconds: float = Field(1.0, ge=0)
    quantity_change_delay_seconds: float = Field(
        0.0,
        ge=0,
        description="above 0, a change of quantity is accepted (202) and carried out this "
        "many seconds later, as Partner Center does with changes it runs in the background",
    )
    vetting_delay_seconds: float | None = Field(
        None, ge=0, description="automatic education/GCC verdict after this many seconds"
    )
    vetting_verdict: str = "Approved"
    state_file: Path | None = None
    faults: FaultSettings = Field(default_factory=FaultSettings)
    max_stored_answers: int = 50_000


class Sandbox:
    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self.store = StateStore(self.settings.state_file)
        self.catalog = Catalog.load()
        self.faults = FaultInjector(self.settings.faults)
        self.holds = Holds()
        self.scripted_refusals = ScriptedRefusals()
        self.dirty = False

    @property
    def state(self) -> SandboxState:
        return self.store.state

    def now(self) -> float:
        return self.state.clock.now()

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def changed(self) -> None:
        self.dirty = True

    def persist(self) -> None:
        if self.dirty:
            answers = self.state.answers
            overflow = len(answers) - self.settings.max_stored_answers
            if overflow > 0:
                for key in list(answers)[:overflow]:
                    del answers[key]
            self.store.save()
            self.dirty = False

    def advance(self) -> None:
        """Let time do its work: finish provisioning, changes of quantity and vetting that are
        due; renew (or expire) subscriptions whose term ended."""
        now = self.now()
        for order in self.state.orders.values():
            if order.status == "pending" and order.ready_at <= now:
                order.status = "completed"
                for line in order.line_items:
                    sub = self.state.subscriptions.get(line.subscription_id)
                    if sub is not None and sub.status == "pending":
                        sub.status = "active"
                        sub.etag = self.new_id()
                self.changed()
        for sub in self.state.subscriptions.values():
            if sub.pending_quantity is not None and (sub.quantity_ready_at or 0) <= now:
                done_at = sub.quantity_ready_at or now
                lifecycle.change_quantity(sub, sub.pending_quantity, done_at)
                sub.pending_quantity, sub.quantity_ready_at = None, None
                sub.etag = self.new_id()
                self.changed()
            if lifecycle.renew_or_expire(sub, now):
                self.changed()
        for customer in self.state.customers.values():
            for q in customer.qualifications:
                if (
                    q.vetting_status == "InReview"
                    and q.decide_at is not None
                    and q.decide_at <= now
                ):
                    q.vetting_status = q.verdict or self.settings.vetting_verdict
                    self.changed()


def camelize(value: Any) -> Any:
    """Accept Microsoft's PascalCase request examples: lower the first letter of every key."""
    if isinstance(value, dict):
        return {
            (k[:1].lower() + k[1:] if isinstance(k, str) else k): camelize(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value
