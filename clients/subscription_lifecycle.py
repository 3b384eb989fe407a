"""The contract of what happens after the purchase (docs/LIFECYCLE.md): the customer's
subscriptions workflow, which watches the refund windows of its orders' purchases, undoes them
on request (cancel, reduce, payment failed) and reconciles the engine's record with Partner
Center; and the scheduled reconciliation that asks each of them in turn.

As clients/contract.py: names and models that cross a process boundary, shipped with the SDK,
importing only `ordering` (and pydantic, temporalio).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ordering.document import OrderId
from ordering.refund_windows import (
    Drift,
    ExpectedSubscription,
    PurchaseAction,
    WindowedPurchase,
)
from ordering.refusals import Refusal

CUSTOMER_SUBSCRIPTIONS_WORKFLOW = "CustomerSubscriptionsWorkflow"
CUSTOMER_SUBSCRIPTIONS_PREFIX = "subscriptions-"
RECONCILIATION_WORKFLOW = "ReconciliationWorkflow"
RECONCILIATION_SCHEDULE_PREFIX = "reconciliation-"

RECORD_PURCHASES_SIGNAL = "record_purchases"  # PurchasesRecord
RECONCILE_SIGNAL = "reconcile"  # ReconcileRequest
CANCEL_SUBSCRIPTION_UPDATE = "cancel_subscription"  # SubscriptionCancellation -> LifecycleChange
REDUCE_LICENCES_UPDATE = "reduce_licences"  # LicenceReduction -> LifecycleChange
PAYMENT_FAILED_UPDATE = "payment_failed"  # PaymentFailure -> PaymentFailedOutcome
SUBSCRIPTIONS_QUERY = "subscriptions"  # -> CustomerSubscriptionsView
ACCEPT_DRIFT_UPDATE = "accept_drift"  # DriftAcceptance -> ExpectedSubscription (operators)

# (the search attribute of drifted subscriptions, `DRIFTED_SUBSCRIPTIONS`, is with the others in
# clients/contract.py)


def customer_subscriptions_workflow_id(customer_id: str) -> str:
    return f"{CUSTOMER_SUBSCRIPTIONS_PREFIX}{customer_id}"


def reconciliation_schedule_id(task_queue: str) -> str:
    """The schedule that reconciles the customers of `task_queue`'s engine."""
    return f"{RECONCILIATION_SCHEDULE_PREFIX}{task_queue}"


class FulfilledLine(BaseModel):
    """A line an order fulfilled, with the window Partner Center reported for it."""

    model_config = ConfigDict(hide_input_in_errors=True)

    line: int
    subscription_id: str
    offer: str
    action: PurchaseAction
    seats: int
    quantity_after: int = Field(description="The subscription's total after the line.")
    window_closes_at: datetime | None = None


class PurchasesRecord(BaseModel):
    """What an order (or licence request) bought, told to its customer's subscriptions
    workflow before the order gives the customer's slot back."""

    model_config = ConfigDict(hide_input_in_errors=True)

    purchase: str = Field(description="The order's workflow id.")
    order_id: str
    storefront: str | None = None
    customer_id: str
    lines: list[FulfilledLine]


class SubscriptionCancellation(BaseModel):
    """Cancel the subscription line `line` of an order created."""

    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: OrderId
    storefront: str | None = None
    line: int = Field(ge=0, le=49)


class LicenceReduction(BaseModel):
    """Take back `quantity` of the licences line `line` of an order bought."""

    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: OrderId
    storefront: str | None = None
    line: int = Field(ge=0, le=49)
    quantity: int = Field(ge=1, le=10_000, strict=True)


class PaymentFailure(BaseModel):
    """The storefront could not collect the order's payment: undo what it bought."""

    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: OrderId
    storefront: str | None = None


class LifecycleChange(BaseModel):
    """A change made at Partner Center within a refund window."""

    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: str
    line: int
    subscription_id: str
    cancelled: bool = Field(description="True: the subscription was cancelled (deleted).")
    quantity_before: int
    quantity_after: int


class NotUndone(BaseModel):
    """A line a failed payment could not undo, and why (a refusal: code and sentence)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    line: int
    subscription_id: str | None = None
    refusal: Refusal


class PaymentFailedOutcome(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: str
    undone: list[LifecycleChange] = Field(default_factory=list)
    not_undone: list[NotUndone] = Field(default_factory=list)


class DriftAcceptance(BaseModel):
    """An operator's decision: what Partner Center holds of a drifted subscription becomes the
    engine's record (the change made there stands)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    subscription_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")


class ReconcileRequest(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    reason: str = "scheduled"


class ReconciliationStart(BaseModel):
    """The scheduled reconciliation's input (carried over by continue-as-new, page by page)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    per_minute: float = Field(60.0, gt=0, description="Customers asked to reconcile a minute.")
    page_token: str | None = None
    asked: int = 0


class CustomerSubscriptionsView(BaseModel):
    """What the customer's subscriptions workflow knows (its query; operators, storefronts)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    customer_id: str
    expected: list[ExpectedSubscription] = Field(default_factory=list)
    watched: list[WindowedPurchase] = Field(default_factory=list)
    drifts: list[Drift] = Field(default_factory=list)
    last_reconciled_at: datetime | None = None


class SubscriptionsState(BaseModel):
    """The customer's subscriptions workflow's input, carried over by continue-as-new."""

    model_config = ConfigDict(hide_input_in_errors=True)

    customer_id: str
    expected: dict[str, ExpectedSubscription] = Field(default_factory=dict)
    watched: list[WindowedPurchase] = Field(default_factory=list)
    drifts: dict[str, Drift] = Field(default_factory=dict)
    recorded: dict[str, datetime] = Field(
        default_factory=dict,
        description="Purchases recorded, and when (a record told twice counts once; forgotten "
        "after a while, so the state carried over stays small).",
    )
    last_reconciled_at: datetime | None = None
    reconcile_asked: bool = False
    payment_failures: dict[str, PaymentFailedOutcome] = Field(
        default_factory=dict,
        description="What each failed payment undid, by order (told again, the same answer).",
    )
    slot_takes: int = 0
    events_sent: int = 0
