"""Activity names and their one-model inputs and outputs.

Workflows import this module (never the activity implementations, which import httpx) and call
activities by these names.

Today's Partner Center steps send one request each (an attempt, one request: what a retry
repeats is exactly that request); `PREPARE_ORDER`, `CACHED_CATALOG` and `LOAD_ENGINE_CONFIG`
answer from the worker's memory and ask nobody; the customer slot's steps talk to Temporal. The
first release's steps (several requests each) stay for orders started before.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ordering.catalog import AvailabilityFacts, SkuFacts
from ordering.config import EngineConfig
from ordering.document import (
    AgreementAcceptance,
    BillingAddress,
    EducationDetails,
    NewCustomer,
    Segment,
)
from ordering.events import StorefrontEvent
from ordering.planning import ExistingSubscription
from ordering.refund_windows import RefundWindow

LOAD_ENGINE_CONFIG = "load_engine_config"
CHECK_RESELLER = "check_reseller"
CHECK_DOMAIN = "check_domain"
VALIDATE_ADDRESS = "validate_address"
CREATE_CUSTOMER = "create_customer"
GET_RELATIONSHIP_LINK = "get_relationship_link"
FIND_CUSTOMER = "find_customer"
GET_QUALIFICATIONS = "get_qualifications"
REQUEST_EDUCATION_VETTING = "request_education_vetting"
CONFIRM_CUSTOMER_AGREEMENT = "confirm_customer_agreement"
DESCRIBE_OFFERS = "describe_offers"
READ_SUBSCRIPTIONS = "read_subscriptions"
PURCHASE = "purchase"
GET_SUBSCRIPTION = "get_subscription"
CHANGE_QUANTITY = "change_quantity"
AWAIT_PROVISIONING = "await_provisioning"
AWAIT_QUANTITY = "await_quantity"
REQUEST_CUSTOMER_SLOT = "request_customer_slot"

# One Partner Center request each.
READ_QUALIFICATIONS = "read_qualifications"
SUBMIT_EDUCATION_VETTING = "submit_education_vetting"
LIST_CUSTOMER_AGREEMENTS = "list_customer_agreements"
READ_AGREEMENT_TEMPLATE = "read_agreement_template"
RECORD_CUSTOMER_AGREEMENT = "record_customer_agreement"
READ_SKU = "read_sku"
READ_AVAILABILITIES = "read_availabilities"
CREATE_CART = "create_cart"
CHECKOUT_CART = "checkout_cart"
READ_SUBSCRIPTION_FOR_CHANGE = "read_subscription_for_change"
SET_QUANTITY = "set_quantity"
CANCEL_SUBSCRIPTION = "cancel_subscription"
# On the engine's queue, never asking Partner Center
PREPARE_ORDER = "prepare_order"
CACHED_CATALOG = "cached_catalog"
TAKE_CUSTOMER_SLOT = "take_customer_slot"
# The customer's subscriptions workflow (workflows/customer_subscriptions.py)
RECORD_PURCHASES = "record_purchases"
CUSTOMERS_TO_RECONCILE = "customers_to_reconcile"
ASK_TO_RECONCILE = "ask_to_reconcile"
RELEASE_CUSTOMER_SLOT = "release_customer_slot"

PARTNER_CENTER_STEPS = (
    CHECK_RESELLER,
    CHECK_DOMAIN,
    VALIDATE_ADDRESS,
    CREATE_CUSTOMER,
    GET_RELATIONSHIP_LINK,
    FIND_CUSTOMER,
    READ_QUALIFICATIONS,
    SUBMIT_EDUCATION_VETTING,
    LIST_CUSTOMER_AGREEMENTS,
    READ_AGREEMENT_TEMPLATE,
    RECORD_CUSTOMER_AGREEMENT,
    READ_SKU,
    READ_AVAILABILITIES,
    READ_SUBSCRIPTIONS,
    CREATE_CART,
    CHECKOUT_CART,
    AWAIT_PROVISIONING,
    GET_SUBSCRIPTION,
    READ_SUBSCRIPTION_FOR_CHANGE,
    SET_QUANTITY,
    AWAIT_QUANTITY,
    CANCEL_SUBSCRIPTION,
)

# The ApplicationError type of a Partner Center business refusal (details[0]: PartnerCenterRefusal)
PARTNER_CENTER_REFUSAL = "PartnerCenterRefusal"
# Partner Center's answer could not be read at all (larger than the client reads): the engine's
# failure, never Microsoft's refusal; retrying does not help.
ANSWER_UNUSABLE = "PartnerCenterAnswerUnusable"
# The engine's own Partner Center credentials were refused or are missing: retried until an
# operator fixes them.
CREDENTIALS_REFUSED = "PartnerCenterCredentialsRefused"
NOT_YET = "NotYet"
# Partner Center's code for an availability id that is no longer valid: read it again, retry.
STALE_AVAILABILITY = "400019"
# ... and for a catalog item it does not know (an availability id withdrawn): the same remedy.
UNKNOWN_AVAILABILITY = "400018"
STALE_CATALOG_CODES = frozenset({STALE_AVAILABILITY, UNKNOWN_AVAILABILITY})


class NoInput(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)


class PartnerCenterRefusal(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    status: int
    code: str | None
    description: str


class ResellerCheck(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    mpn_id: str


class ResellerAgreement(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    known: bool
    signed: bool
    # Why the reseller cannot be transacted for although known: not an indirect reseller
    # (2204), or another region than the provider's (2201).
    ineligible: Literal["not_indirect_reseller", "region_mismatch"] | None = None


class DomainCheck(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    domain: str


class DomainAvailability(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    available: bool


class AddressCheck(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    address: BillingAddress


class AddressVerdict(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    verified: bool
    status: str
    message: str | None = None
    suggestions: list[BillingAddress] = Field(default_factory=list)


class CreateCustomer(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: str
    customer: NewCustomer
    tax_id: str | None = None
    reseller_tenant_id: str | None = None


class CustomerRef(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    customer_id: str


class CustomerLookup(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    customer_id: str | None = None


class FindCustomer(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    domain: str | None = None
    customer_id: str | None = None


class RelationshipLink(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    url: str


class Qualifications(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    approved: list[str] = Field(default_factory=list)
    in_review: list[str] = Field(default_factory=list)
    denied: list[str] = Field(default_factory=list)
    # False when Partner Center has no such customer for this partner (404): the known
    # customer's order is refused (the read doubles as the check that the customer exists).
    customer_found: bool = True


class RequestEducationVetting(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: str
    customer_id: str
    education: EducationDetails


class ConfirmAgreement(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: str
    customer_id: str
    acceptance: AgreementAcceptance


class AgreementConfirmed(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    newly_confirmed: bool


class AgreementsOnRecord(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    on_record: bool  # the customer's acceptance of the Microsoft Customer Agreement


class AgreementTemplate(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    template_id: str  # of the current Microsoft Customer Agreement


class RecordAgreement(BaseModel):
    """Confirm the customer's acceptance, under the current agreement's template."""

    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: str
    customer_id: str
    acceptance: AgreementAcceptance
    template_id: str


class OfferQuery(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    offer: str
    segment: Segment


class DescribeOffers(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    country: str
    offers: list[OfferQuery]


class OfferDetails(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    offer: str
    segment: Segment
    found: bool
    title: str = ""
    purchasable: bool = False
    catalog_item_id: str | None = None  # for the requested segment, when offered in it
    segments: list[Segment] = Field(default_factory=list)
    minimum_quantity: int = 1
    maximum_quantity: int = 10_000


class OfferCatalog(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    offers: list[OfferDetails]


class SkuQuery(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    country: str
    offer: str  # product:sku


class AvailabilityQuery(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    country: str
    offer: str
    segment: Segment  # non-profit availabilities are listed only when asked for


class Availabilities(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    items: list[AvailabilityFacts]


class CachedOffer(BaseModel):
    """What the worker remembers of an offer for a line's segment; None where it remembers
    nothing (or nothing younger than the configuration's `catalog_max_age`)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    offer: str
    segment: Segment
    sku: SkuFacts | None = None
    availabilities: list[AvailabilityFacts] | None = None


class CatalogQuery(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    country: str
    offers: list[OfferQuery]


class CachedCatalog(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    offers: list[CachedOffer]


class PreparedOrder(BaseModel):
    """An order's first step: the engine's configuration (recorded for the order's whole life)
    and what the worker remembers of the catalog and the customer agreement's template."""

    model_config = ConfigDict(hide_input_in_errors=True)

    config: EngineConfig
    catalog: CachedCatalog
    agreement_template_id: str | None = None


class SubscriptionList(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    items: list[ExistingSubscription]


class PurchaseLine(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    line: int
    catalog_item_id: str
    quantity: int
    billing_cycle: str
    term_duration: str
    friendly_name: str


class Purchase(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: str
    customer_id: str
    reseller_mpn_id: str | None = None
    lines: list[PurchaseLine]


class PurchasedOrder(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: str
    lines: list[int]  # our line numbers in this Partner Center order, by its line item number


class RefusedPurchaseLines(BaseModel):
    """Lines of a checkout Microsoft refused (their order group, or their cart line), or lines
    not ordered because of another line's refusal: then `not_ordered` says why, in a sentence,
    and `refusal` is the other line's."""

    model_config = ConfigDict(hide_input_in_errors=True)

    lines: list[int]
    refusal: PartnerCenterRefusal
    not_ordered: str | None = None


class CartLine(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    id: int  # our line number
    order_group: str | None = None  # Microsoft's order group (one per billing cycle)


class CartAnswer(BaseModel):
    """A created cart: its lines, and the lines Microsoft named as not for sale (then the cart
    is not checked out: `refused` says why, per line)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    cart_id: str
    lines: list[CartLine]
    refused: list[RefusedPurchaseLines] = Field(default_factory=list)


class Checkout(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: str  # the purchase's (the checkout's own is derived from it)
    customer_id: str
    cart: CartAnswer
    lines: list[PurchaseLine]


class PurchaseResult(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    orders: list[PurchasedOrder]
    refused: list[RefusedPurchaseLines] = Field(default_factory=list)


class ProvisioningCheck(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    customer_id: str
    order_id: str


class ProvisionedOrder(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: str
    subscription_ids: list[str]  # by line item number; "" for a line Microsoft did not fulfil
    status: str = "completed"  # or "partial success": the lines without a subscription failed


class ChangeQuantity(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: str
    customer_id: str
    subscription_id: str
    quantity: int  # the new total, never a delta: a repeated request changes nothing


class SubscriptionState(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    subscription_id: str
    offer: str
    status: str
    quantity: int
    billing_cycle: str
    term_duration: str | None = None
    window: RefundWindow | None = None  # new commerce's refund windows, as reported


class SubscriptionForChange(BaseModel):
    """A subscription as Partner Center sent it (a change of quantity sends it back whole,
    with the new quantity), and what the engine reads of it."""

    model_config = ConfigDict(hide_input_in_errors=True)

    state: SubscriptionState
    body: dict[str, Any]


class SetQuantity(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: str
    customer_id: str
    subscription: dict[str, Any]  # as read (`SubscriptionForChange.body`)
    quantity: int  # the new total, never a delta


class QuantitySet(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    # The subscription as Partner Center answered the change; None when it accepted the change
    # without carrying it out yet (202): the new quantity is then waited for.
    state: SubscriptionState | None = None


class CancelSubscription(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: str
    customer_id: str
    subscription: dict[str, Any]  # as read (`SubscriptionForChange.body`)


class SubscriptionQuery(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    customer_id: str
    subscription_id: str
    quantity: int | None = None  # for await_quantity: the total to wait for


class ReconcilePage(BaseModel):
    """A page of the customers whose subscriptions workflow runs, after `page_token`."""

    model_config = ConfigDict(hide_input_in_errors=True)

    page_token: str | None = None  # base64 of Temporal's page token
    page_size: int = Field(100, ge=1, le=1000)


class CustomersPage(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    customer_ids: list[str] = Field(default_factory=list)
    next_page_token: str | None = None


class CustomerIds(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    customer_ids: list[str]


class CustomerSlotRequest(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    customer_id: str
    workflow_id: str  # the requesting workflow, which the slot is granted to by signal
    purpose: str  # order id or licence request id (no personal data)
    # How long the holder may keep the slot (the configuration's `customer_slot_lease`); None
    # from workflows that predate the setting: the slot's default.
    lease_seconds: float | None = None
    # The requester created this customer a moment ago (take_customer_slot only).
    created_customer: bool = False
    # Which of the requester's takes this is (0: the first; an order that gave the slot back to
    # wait takes it again): each take is its own update, answered on its own.
    take: int = 0


class CustomerSlotRelease(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    customer_id: str
    workflow_id: str  # the holder giving the slot back (or withdrawing its request)
    take: int | None = None  # the take it ends (`CustomerSlotRequest.take`)


# ---------------------------------------------------------------------- webhooks to storefronts

DELIVER_WEBHOOK = "deliver_webhook"
WEBHOOK_NOT_DELIVERED = "WebhookNotDelivered"  # a retryable failure: the attempt failed


class WebhookDeliveryRequest(BaseModel):
    """One event to POST to its storefront's webhook, under its `webhook-id` (the same on every
    attempt)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    webhook_id: str
    event: StorefrontEvent


class WebhookDeliveryResult(BaseModel):
    """Acknowledged (a 2xx answer, `status`), or not sent at all: the storefront has chosen no
    webhook (`configured` False, nothing to retry)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    configured: bool = True
    status: int | None = None
