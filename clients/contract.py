"""The engine's contract: the names and messages that cross a process boundary.

A storefront (through the SDK in clients/storefront.py), an operator (the `temporal` CLI, the
web UI) and the worker's workflows and activities talk to each other only through Temporal, by
these names and with these models:

- the task queue the worker polls;
- the workflow types, and the workflow ids each run is found by;
- the signals, updates and queries of the running workflows (the order's, and the customer
  slot's, which orders and licence requests signal and are signalled by);
- the search attributes the runs carry;
- the inputs and outputs of those workflows, signals and updates.

Why it lives here, in clients/: both sides must import it, and the SDK must import nothing of
the worker (no workflow, activity or worker module: a storefront installs the SDK, not the
engine). So it cannot live in workflows/; and ordering/ is the pure order domain, which knows
nothing of Temporal. It sits beside the SDK that ships it and imports only ordering (and
pydantic, temporalio); workflows, activities, the worker and the SDK import it
(`ordering` <- contract <- workflows, activities, SDK <- worker; tests/test_layers.py checks).

The workflows register under these names (a renamed class or handler must keep its name here);
every model hides input values in its validation errors (they can carry customer data).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints
from temporalio.common import SearchAttributeKey

from ordering.document import OrderId, TenantId
from ordering.validation import RawInput

# ---------------------------------------------------------------------- where, and which types

TASK_QUEUE = "csp-orders"  # the default; a deployment may choose another (CSP_TASK_QUEUE)

ORDER_WORKFLOW = "OrderWorkflow"
LICENCES_WORKFLOW = "LicencesWorkflow"
CUSTOMER_SLOT_WORKFLOW = "CustomerSlotWorkflow"
PARTNER_CENTER_QUOTA_WORKFLOW = "PartnerCenterQuotaWorkflow"
VALIDATE_ORDER_WORKFLOW = "ValidateOrderWorkflow"  # the dry run: reads only

# ---------------------------------------------------------------------- workflow ids

ORDER_WORKFLOW_PREFIX = "order-"
LICENCES_WORKFLOW_PREFIX = "licences-"
CUSTOMER_SLOT_WORKFLOW_PREFIX = "customer-slot-"
PARTNER_CENTER_QUOTA_WORKFLOW_PREFIX = "partner-center-quota-"
WEBHOOKS_WORKFLOW_PREFIX = "webhooks-"

# Orders and licence requests placed through the HTTP API belong to a storefront (the one whose
# API key placed them). The storefront's id is part of their workflow id,
# `order-<storefront>/<order id>`, for two reasons: two storefronts may use the same order id
# (the id is theirs, not ours) and each gets its own run and its own Partner Center request
# ids; and another storefront's order is not found at all (the API derives the workflow id from
# the caller's own storefront, so it never even describes someone else's run). `/` cannot occur
# in an order id, so the id reads back unambiguously. Orders placed through the SDK without a
# storefront keep `order-<order id>`. The id is also a search attribute (`CspStorefront`), by
# which a storefront lists its orders.
STOREFRONT_SEPARATOR = "/"
StorefrontId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$"),
    Field(description="A storefront's id: lower-case letters, digits and '-'; 1-32."),
]


def scoped_id(own_id: str, storefront: str | None = None) -> str:
    """An order's (or licence request's) id within the engine: `<storefront>/<id>`, or the id
    alone when no storefront placed it."""
    return own_id if storefront is None else f"{storefront}{STOREFRONT_SEPARATOR}{own_id}"


def order_workflow_id(order_id: str, storefront: str | None = None) -> str:
    return f"{ORDER_WORKFLOW_PREFIX}{scoped_id(order_id, storefront)}"


def order_id_of(workflow_id: str) -> str | None:
    """The order id in an order workflow's id (without its storefront); None for the engine's
    other workflows."""
    if workflow_id.startswith(ORDER_WORKFLOW_PREFIX):
        return workflow_id.removeprefix(ORDER_WORKFLOW_PREFIX).rpartition(STOREFRONT_SEPARATOR)[2]
    return None


def licences_workflow_id(request_id: str, storefront: str | None = None) -> str:
    return f"{LICENCES_WORKFLOW_PREFIX}{scoped_id(request_id, storefront)}"


def storefront_of(workflow_id: str) -> str | None:
    """The storefront that placed an order or licence request, from its workflow id; None when
    none did (placed through the SDK alone)."""
    for prefix in (ORDER_WORKFLOW_PREFIX, LICENCES_WORKFLOW_PREFIX):
        if workflow_id.startswith(prefix):
            storefront, separator, _ = workflow_id.removeprefix(prefix).partition(
                STOREFRONT_SEPARATOR
            )
            return storefront if separator else None
    return None


def request_scope(workflow_id: str, own_id: str) -> str:
    """What the Partner Center request ids of an order (or licence request) `own_id`, running
    as `workflow_id`, derive from (ordering/request_ids.py): `<storefront>/<own id>` for a
    storefront's, so that two storefronts' orders of the same id never share a request id; the
    id alone otherwise, as it always was (orders under way keep their request ids)."""
    storefront = storefront_of(workflow_id)
    if storefront is not None and workflow_id.endswith(f"{STOREFRONT_SEPARATOR}{own_id}"):
        return scoped_id(own_id, storefront)
    return own_id


def webhooks_workflow_id(workflow_id: str) -> str:
    """The run that delivers the webhooks of the order or licence request `workflow_id`."""
    return f"{WEBHOOKS_WORKFLOW_PREFIX}{workflow_id}"


def slot_workflow_id(customer_id: str) -> str:
    """The customer's slot workflow (workflows/customer_slot.py)."""
    return f"{CUSTOMER_SLOT_WORKFLOW_PREFIX}{customer_id}"


def coordination_task_queue(task_queue: str) -> str:
    """Where the workers of `task_queue` run the workflows that orders wait on while they hold
    a workflow task (the customers' slots, the Partner Center quota): a queue of its own, so
    that orders holding every workflow task slot of `task_queue` can never starve them. (Given
    a coordination queue, that queue.)"""
    if task_queue.endswith(COORDINATION_SUFFIX):
        return task_queue
    return f"{task_queue}{COORDINATION_SUFFIX}"


COORDINATION_SUFFIX = "-coordination"


def quota_workflow_id(task_queue: str) -> str:
    """The Partner Center request quota that the workers of `task_queue` share
    (workflows/partner_center_quota.py)."""
    return f"{PARTNER_CENTER_QUOTA_WORKFLOW_PREFIX}{task_queue}"


# ---------------------------------------------------------------------- signals, updates, queries

# The order workflow's
PROVIDE_TAX_ID = "provide_tax_id"  # signal (plain JSON: {"tax_id": "..."}) and update
RELATIONSHIP_ACCEPTED = "relationship_accepted"  # signal: check the relationship now
CANCEL = "cancel"  # update
STATUS = "status"  # query
# The type of an order's refusal of a tax ID or cancellation because it has ended (its status
# says so already, its run closes a moment later): the storefront hears that the order ended.
ORDER_ENDED_REJECTION = "OrderEnded"

# The customer slot workflow's (SlotRequest by update-with-start, or by signal-with-start from
# runs started before the update; SlotRelease; the holder's id)
TAKE_SLOT_UPDATE = "take_slot"
REQUEST_SLOT_SIGNAL = "request_slot"
RELEASE_SLOT_SIGNAL = "release_slot"
SLOT_HOLDER_QUERY = "holder"
# What the slot workflow signals to the order or licence request that now holds the slot
# (SlotGrant)
SLOT_GRANTED_SIGNAL = "customer_slot_granted"

# The Partner Center quota workflow's (QuotaLeaseRequest -> QuotaLease)
LEASE_REQUESTS_UPDATE = "lease_requests"

# ---------------------------------------------------------------------- search attributes

# Keyword attributes; never personal data.
ORDER_ID = SearchAttributeKey.for_keyword("CspOrderId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CspCustomerId")
RESELLER = SearchAttributeKey.for_keyword("CspReseller")
PHASE = SearchAttributeKey.for_keyword("CspPhase")
STOREFRONT = SearchAttributeKey.for_keyword("CspStorefront")  # the storefront's id (its API key's)
# The subscriptions Partner Center holds otherwise than the engine's orders left them, on the
# customer's subscriptions workflow (clients/subscription_lifecycle.py); unset once they agree.
DRIFTED_SUBSCRIPTIONS = SearchAttributeKey.for_keyword_list("CspDriftedSubscriptions")
SEARCH_ATTRIBUTES = (ORDER_ID, CUSTOMER_ID, RESELLER, PHASE, STOREFRONT, DRIFTED_SUBSCRIPTIONS)

# ---------------------------------------------------------------------- start inputs


class Arrival(StrEnum):
    """How an input reached the workflow, as the worker's payload codec saw it."""

    ENCRYPTED = "encrypted"
    PLAIN = "plain"  # readable in the history (e.g. sent with the plain `temporal` CLI)
    UNREADABLE = "unreadable"  # not decryptable, not JSON, too deep or too large
    UNKNOWN = "unknown"  # read without the engine's codec (e.g. by a replayer)


# The private attribute a model declares to be told its `Arrival` (clients/payloads.py).
ARRIVAL_ATTRIBUTE = "_arrival"


class Submission(RawInput):
    """A workflow's start input as plain JSON, with how it arrived."""

    model_config = ConfigDict(hide_input_in_errors=True)

    _arrival: Arrival = PrivateAttr(default=Arrival.UNKNOWN)

    @property
    def arrival(self) -> Arrival:
        return self._arrival

    @classmethod
    def unreadable(cls) -> Submission:
        return cls(None)


# ---------------------------------------------------------------------- the order's messages


class TaxIdSubmission(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    tax_id: str = Field(max_length=64)
    _arrival: Arrival = PrivateAttr(default=Arrival.UNKNOWN)

    @property
    def arrival(self) -> Arrival:
        return self._arrival


# What a workflow or handler gets when its input is missing altogether (e.g. `temporal workflow
# start` or `signal` without `--input`): an unreadable input, never a TypeError that would fail
# the workflow task on every retry.
MISSING_SUBMISSION = Submission(None)
MISSING_SUBMISSION._arrival = Arrival.UNREADABLE
MISSING_TAX_ID = TaxIdSubmission(tax_id="")
MISSING_TAX_ID._arrival = Arrival.UNREADABLE


class TaxIdAccepted(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    accepted: bool = True


class RelationshipNudge(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)


NO_NUDGE = RelationshipNudge()  # a nudge sent without input is still a nudge


class CancelRequest(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    reason: str = Field("", max_length=200)


class CancelAccepted(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    accepted: bool = True


# ---------------------------------------------------------------------- extra licences


class LicenceRequest(BaseModel):
    """The licences workflow's input (sent as a `Submission` of its JSON)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: OrderId = Field(description="The storefront's id for this request.")
    customer_id: TenantId
    subscription_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    quantity: int = Field(ge=1, le=10_000, strict=True, description="Licences to add.")


class LicenceOutcome(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: str
    subscription_id: str
    offer: str
    quantity_before: int
    quantity_after: int
    refund_window_closes_at: datetime | None = Field(
        None,
        description="Until when the added licences are refundable, as Partner Center reports "
        "it (None: not reported).",
    )


# ---------------------------------------------------------------------- the customer slot


class SlotRequest(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    workflow_id: str
    purpose: str
    lease_seconds: float = 3 * 3600
    take: int | None = None  # the requester's own count of its takes (its update's id)
    # The requester created the customer a moment ago, and this request started the customer's
    # first slot run ever (take_slot only): it may learn that nobody came before it.
    created_customer: bool = False


class SlotAnswer(BaseModel):
    """The slot's answer to `take_slot`: granted now (no grant signal follows), or queued (the
    grant comes by signal, `SLOT_GRANTED_SIGNAL`)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    granted: bool
    grant_number: int = 0
    # Granted to the customer's creator before anybody else ever asked for the slot: no other
    # order of the engine has read or changed the customer's subscriptions.
    undisturbed: bool = False


class SlotRelease(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    workflow_id: str
    # The take it ends (`SlotRequest.take`; None from holders that do not number their takes).
    # A release sent again after a crash names its old take, and the slot ignores it once the
    # same workflow holds (or waits for) a later one.
    take: int | None = None


class SlotGrant(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    customer_id: str
    grant_number: int


class CustomerSlotState(BaseModel):
    """The slot workflow's input: on first start, and carried over by continue-as-new."""

    model_config = ConfigDict(hide_input_in_errors=True)

    customer_id: str
    queue: list[SlotRequest] = Field(default_factory=list)
    grants: int = 0
    # The first run ever, started by the order that has just created the customer: it holds
    # the slot from the start (activities/customer_slot.py).
    creator: SlotRequest | None = None


# ---------------------------------------------------------------------- the Partner Center quota


class QuotaLeaseRequest(BaseModel):
    """A worker asks for the right to send `wanted` more Partner Center requests, under a cap of
    `requests_per_minute` for all workers of its task queue together."""

    model_config = ConfigDict(hide_input_in_errors=True)

    requests_per_minute: float = Field(ge=2)
    wanted: int = Field(ge=1, le=10_000)


class QuotaLease(BaseModel):
    """`granted` requests, to be sent from `usable_in_seconds` from now (at once, unless the
    cap's budget is spent: then the worker's turn comes later)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    granted: int
    usable_in_seconds: float = 0.0


class QuotaState(BaseModel):
    """The quota workflow's account, carried over by continue-as-new: the time (seconds since
    the epoch, the workflow's clock) up to which the cap's budget is spent; None: none is."""

    model_config = ConfigDict(hide_input_in_errors=True)

    spent_until: float | None = None


# ---------------------------------------------------------------------- webhooks to storefronts

# A storefront's orders and licence requests tell it where they stand by webhooks
# (docs/WEBHOOKS.md): the events and their body are the domain's (ordering/events.py),
# re-exported here as the contract with storefronts. The order (or licence request) hands its
# events to its webhooks workflow (`webhooks_workflow_id`, on the order's own task queue): the
# first with the start, the later ones by signal; that workflow delivers them one at a time, in
# sequence, each by an activity retried for days.
from ordering.config import WebhookSchedule  # noqa: E402
from ordering.events import EventLine as EventLine  # noqa: E402
from ordering.events import StorefrontEvent as StorefrontEvent  # noqa: E402
from ordering.events import StorefrontEventType as StorefrontEventType  # noqa: E402
from ordering.events import webhook_id as webhook_id  # noqa: E402

WEBHOOK_DELIVERY_WORKFLOW = "WebhookDeliveryWorkflow"
WEBHOOK_EVENTS_SIGNAL = "webhook_events"  # WebhookEvents


class WebhookDeliveryStart(BaseModel):
    """The webhooks workflow's input: how to deliver (the order's engine configuration), and
    the order's first events."""

    model_config = ConfigDict(hide_input_in_errors=True)

    schedule: WebhookSchedule = Field(default_factory=WebhookSchedule)
    events: list[StorefrontEvent] = Field(default_factory=list)


class WebhookEvents(BaseModel):
    """More events of the order, in sequence order (the signal's input)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    events: list[StorefrontEvent]


class FailedWebhook(BaseModel):
    """An event that was never acknowledged: every attempt failed until the schedule gave up
    (or, for a bug, it never reached the webhooks workflow)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    type: StorefrontEventType
    sequence: int
    webhook_id: str
    last_error: str


class WebhookDeliveryReport(BaseModel):
    """The webhooks workflow's result."""

    model_config = ConfigDict(hide_input_in_errors=True)

    delivered: int = 0
    failed: list[FailedWebhook] = Field(default_factory=list)
    not_sent: int = Field(0, description="Events of a storefront that has no webhook.")
    last_event_missing: bool = Field(
        False, description="No event came for a long time and the last one never did."
    )
