"""The engine's configuration, as data (`data/engine.json`, or a file named by CSP_ORDERS_CONFIG).

The worker reads it once; each order records the configuration it ran with in its history (the
first step), so a change never alters an order already under way.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ordering.tax_id import TaxIdRequirement, default_requirements


class ConfigModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class SubscriptionPolicy(StrEnum):
    ONE_PER_BILLING_CYCLE = "one_per_billing_cycle"  # Business: one monthly and one annual
    NEW_PER_ORDER = "new_per_order"  # Dynamics: every order a new instance
    ONE_ACTIVE = "one_active"  # default: maintain one active subscription per product


class ProductPolicy(ConfigModel):
    policy: SubscriptionPolicy
    products: tuple[str, ...]
    note: str = ""


class SubscriptionCap(ConfigModel):
    """Microsoft's limit of concurrent subscriptions of one product per customer."""

    products: tuple[str, ...]
    max_subscriptions_per_customer: int
    note: str = ""


class SeatPool(ConfigModel):
    """Microsoft's limit of seats per customer across a family of products."""

    name: str
    title: str = Field(description="as a customer reads it, e.g. 'the Business plans'")
    products: tuple[str, ...]
    max_seats_per_customer: int
    note: str = ""


class MicrosoftLimits(ConfigModel):
    """Limits Microsoft enforces at purchase that its catalog API does not state. Statuses are
    Partner Center's subscription statuses (lowercase): a cancelled (deleted) or suspended
    subscription keeps its slot until Microsoft deprovisions it."""

    subscription_caps: tuple[SubscriptionCap, ...] = ()
    seat_pools: tuple[SeatPool, ...] = ()
    statuses_holding_a_slot: tuple[str, ...] = (
        "active",
        "pending",
        "suspended",
        "disabled",
        "deleted",
    )
    statuses_holding_seats: tuple[str, ...] = ("active", "pending", "suspended")

    def subscription_cap(self, product_id: str) -> int | None:
        for cap in self.subscription_caps:
            if product_id.upper() in cap.products:
                return cap.max_subscriptions_per_customer
        return None


class Waits(ConfigModel):
    tax_id_reminder_every: timedelta = timedelta(days=1)
    tax_id_expires_after: timedelta = timedelta(days=14)
    relationship_poll_every: timedelta = timedelta(hours=4)
    relationship_reminder_every: timedelta = timedelta(days=2)
    relationship_expires_after: timedelta = timedelta(days=30)
    # A storefront's "the customer accepted" nudge checks Partner Center at once, but no more
    # often than this per order; nudges in between are folded into one later check.
    relationship_nudge_min_gap: timedelta = timedelta(minutes=1)
    wait_for_education_vetting: bool = True
    vetting_poll_every: timedelta = timedelta(hours=6)
    vetting_expires_after: timedelta = timedelta(days=14)
    provisioning_poll_every: timedelta = timedelta(seconds=5)
    provisioning_expires_after: timedelta = timedelta(hours=2)
    customer_slot_lease: timedelta = timedelta(hours=3)


class WebhookSchedule(ConfigModel):
    """How a storefront's webhooks are delivered (workflows/webhooks.py): each attempt may take
    `attempt_timeout`; a failed one is tried again after `first_retry_after`, then twice as long
    each time, at most `longest_retry_interval` apart, until `give_up_after` from the first
    attempt: then the delivery has failed for good (operators see it)."""

    attempt_timeout: timedelta = Field(timedelta(seconds=30), gt=timedelta(0))
    first_retry_after: timedelta = Field(timedelta(seconds=10), gt=timedelta(0))
    longest_retry_interval: timedelta = Field(timedelta(hours=1), gt=timedelta(0))
    give_up_after: timedelta = Field(timedelta(days=3), gt=timedelta(0))


class EngineConfig(ConfigModel):
    product_policies: tuple[ProductPolicy, ...] = ()
    default_policy: SubscriptionPolicy = SubscriptionPolicy.ONE_ACTIVE
    discontinued_products: tuple[str, ...] = Field(
        (), description="end-of-sale products, in addition to what the catalog says"
    )
    microsoft_limits: MicrosoftLimits = Field(default_factory=MicrosoftLimits)
    billing_address_required: bool = False
    tax_id_requirements: tuple[TaxIdRequirement, ...] = Field(default_factory=default_requirements)
    waits: Waits = Field(default_factory=Waits)
    webhooks: WebhookSchedule = Field(default_factory=WebhookSchedule)
    catalog_max_age: timedelta = Field(
        timedelta(minutes=10),
        gt=timedelta(0),
        description="How long a worker answers from what Partner Center said of an offer (its "
        "SKU, its availabilities) and of the customer agreement's template before asking again; "
        "an order that waited longer than this reads them again before it buys. Microsoft "
        "changes availability ids over time (a stale one is refused, 400019, and read again).",
    )
    refund_window_notice: timedelta = Field(
        timedelta(hours=24),
        gt=timedelta(0),
        description="How long before a purchase's refund window closes its storefront is told "
        "(`subscription.cancellation_window_closing`); the window itself is Microsoft's, 168 "
        "hours from the purchase.",
    )
    reconciliation_every: timedelta = Field(
        timedelta(hours=6),
        gt=timedelta(0),
        description="How often the scheduled reconciliation compares every customer's "
        "subscriptions with what the engine's orders left on them.",
    )
    reconciliations_per_minute: float = Field(
        60.0,
        gt=0,
        description="How many customers reconciliation asks a minute (one Partner Center "
        "request each): well under the Partner Center cap, so orders keep the rest.",
    )
    accepts_unencrypted_orders: bool = Field(
        False,
        description="Set by a worker that runs with the development switch (no payload keys), "
        "never by a configuration file.",
    )

    def policy_for(self, product_id: str) -> SubscriptionPolicy:
        for rule in self.product_policies:
            if product_id.upper() in rule.products:
                return rule.policy
        return self.default_policy

    def is_discontinued(self, product_id: str) -> bool:
        return product_id.upper() in self.discontinued_products


def load_config(path: str | Path | None = None) -> EngineConfig:
    """The configuration file at `path`, `$CSP_ORDERS_CONFIG`, or the built-in one."""
    chosen = path or os.environ.get("CSP_ORDERS_CONFIG")
    if chosen:
        text = Path(chosen).read_text("utf-8")
    else:
        text = resources.files("ordering").joinpath("data/engine.json").read_text("utf-8")
    data = {k: v for k, v in json.loads(text).items() if not k.startswith("_")}
    if data.get("acceptsUnencryptedOrders") or data.get("accepts_unencrypted_orders"):
        raise ValueError(
            "acceptsUnencryptedOrders cannot be turned on in a configuration file: a worker "
            "accepts unencrypted orders only when it runs with the development switch"
        )
    return EngineConfig.model_validate(data)
