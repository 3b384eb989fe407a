"""Typed Partner Center resources, as the engine reads and writes them.

On the wire Partner Center speaks camelCase JSON (Microsoft's request examples use
PascalCase; both are accepted here). In Python the fields are snake_case. Unknown fields are
kept, never rejected: Microsoft adds fields without notice.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


def _camel_keys(value: Any) -> Any:
    """Lower the first letter of PascalCase keys (`CompanyName` -> `companyName`)."""
    if isinstance(value, dict):
        return {
            (k[:1].lower() + k[1:] if isinstance(k, str) and k[:1].isupper() else k): v
            for k, v in value.items()
        }
    return value


class PartnerCenterModel(BaseModel):
    """Base of every resource: camelCase aliases, PascalCase tolerated, extra fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        hide_input_in_errors=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_pascal_case(cls, data: Any) -> Any:
        return _camel_keys(data)

    def to_wire(self) -> dict[str, Any]:
        """The JSON body Partner Center expects (camelCase, no unset optional fields)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ResourceAttributes(PartnerCenterModel):
    object_type: str | None = None
    etag: str | None = None


class Link(PartnerCenterModel):
    uri: str | None = None
    method: str | None = None
    headers: list[Any] = Field(default_factory=list)


T = TypeVar("T")


class Collection(PartnerCenterModel, Generic[T]):
    total_count: int = 0
    items: list[T] = Field(default_factory=list)
    links: dict[str, Any] | None = None
    attributes: ResourceAttributes | None = None


# ---------------------------------------------------------------- customers


class Address(PartnerCenterModel):
    first_name: str | None = None
    last_name: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    address_line3: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    region: str | None = None
    phone_number: str | None = None


class BillingProfile(PartnerCenterModel):
    id: str | None = None
    email: str | None = None
    culture: str | None = None
    language: str | None = None
    company_name: str | None = None
    default_address: Address | None = None
    attributes: ResourceAttributes | None = None


class CompanyProfile(PartnerCenterModel):
    tenant_id: str | None = None
    domain: str | None = None
    company_name: str | None = None
    organization_registration_number: str | None = None
    attributes: ResourceAttributes | None = None


class UserCredentials(PartnerCenterModel):
    user_name: str | None = None
    password: str | None = None


class Customer(PartnerCenterModel):
    id: str | None = None
    commerce_id: str | None = None
    company_profile: CompanyProfile | None = None
    billing_profile: BillingProfile | None = None
    relationship_to_partner: str | None = None
    allow_delegated_access: bool | None = None
    user_credentials: UserCredentials | None = None
    associated_partner_id: str | None = None
    custom_domains: list[str] | None = None
    attributes: ResourceAttributes | None = None


class NewCustomer(PartnerCenterModel):
    """Body of `POST /v1/customers`."""

    billing_profile: BillingProfile
    company_profile: CompanyProfile
    associated_partner_id: str | None = None


class AddressValidationStatus(StrEnum):
    VERIFIED_SHIPPABLE = "VerifiedShippable"
    VERIFIED = "Verified"
    INTERACTION_REQUIRED = "InteractionRequired"
    STREET_PARTIAL = "StreetPartial"
    PREMISES_PARTIAL = "PremisesPartial"
    MULTIPLE = "Multiple"
    NONE = "None"
    NOT_VALIDATED = "NotValidated"


class AddressValidationResult(PartnerCenterModel):
    original_address: Address | None = None
    suggested_addresses: list[Address] = Field(default_factory=list)
    status: str
    validation_message: str | None = None

    @property
    def is_verified(self) -> bool:
        return self.status in (AddressValidationStatus.VERIFIED_SHIPPABLE, "Verified")


class RelationshipRequest(PartnerCenterModel):
    url: str
    attributes: ResourceAttributes | None = None


class AgreementStatus(PartnerCenterModel):
    """The reseller's Microsoft Partner Agreement status."""

    is_agreement_signed: bool


# ---------------------------------------------------------------- qualifications


class QualificationKind(StrEnum):
    NONE = "None"
    EDUCATION = "Education"
    NONPROFIT = "Nonprofit"
    GOVERNMENT_COMMUNITY_CLOUD = "GovernmentCommunityCloud"
    STATE_OWNED_ENTITY = "StateOwnedEntity"


class VettingStatus(StrEnum):
    NONE = "None"
    IN_REVIEW = "InReview"
    APPROVED = "Approved"
    DENIED = "Denied"


class Qualification(PartnerCenterModel):
    qualification: str
    vetting_status: str | None = None
    vetting_reason: str | None = None
    # Microsoft spells it both ways in its answers.
    vetting_create_date: datetime | None = Field(
        None, validation_alias=AliasChoices("vettingCreateDate", "vettingCreatedDate")
    )
    education_segment: str | None = None
    website: str | None = None
    validation_code: str | None = None


class QualificationRequest(PartnerCenterModel):
    """Body of `POST /v1/customers/{id}/qualifications`."""

    qualification: str
    education_segment: str | None = None
    website: str | None = None
    validation_code: str | None = None


# ---------------------------------------------------------------- agreements


class AgreementMetadata(PartnerCenterModel):
    template_id: str
    agreement_type: str
    agreement_link: str | None = None
    version_rank: int | None = None


class Contact(PartnerCenterModel):
    first_name: str
    last_name: str
    email: str
    phone_number: str | None = None


class Agreement(PartnerCenterModel):
    primary_contact: Contact
    template_id: str
    date_agreed: datetime
    type: str = "MicrosoftCustomerAgreement"
    agreement_link: str | None = None
    user_id: str | None = None
    attributes: ResourceAttributes | None = None


# ---------------------------------------------------------------- catalog


class Product(PartnerCenterModel):
    id: str
    title: str | None = None
    description: str | None = None
    product_type: dict[str, Any] | None = None
    is_microsoft_product: bool | None = None
    publisher_name: str | None = None
    links: dict[str, Any] | None = None


class Sku(PartnerCenterModel):
    id: str
    product_id: str | None = None
    title: str | None = None
    description: str | None = None
    minimum_quantity: int = 1
    maximum_quantity: int = 300
    is_trial: bool = False
    supported_billing_cycles: list[str] = Field(default_factory=list)
    purchase_prerequisites: list[str] = Field(default_factory=list)
    dynamic_attributes: dict[str, Any] = Field(default_factory=dict)


class Term(PartnerCenterModel):
    duration: str
    billing_cycle: str | None = None
    description: str | None = None


class Availability(PartnerCenterModel):
    id: str
    product_id: str | None = None
    sku_id: str | None = None
    catalog_item_id: str
    segment: str | None = None
    country: str | None = None
    is_purchasable: bool = True
    is_renewable: bool | None = None
    terms: list[Term] = Field(default_factory=list)


# ---------------------------------------------------------------- carts and orders


class BillingCycle(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"
    TRIENNIAL = "triennial"
    NONE = "none"
    ONE_TIME = "oneTime"


class Participant(PartnerCenterModel):
    key: str
    value: str


class CartLineItemError(PartnerCenterModel):
    error_code: int | str | None = None
    error_description: str | None = None


class CartLineItem(PartnerCenterModel):
    id: int
    catalog_item_id: str
    quantity: int
    billing_cycle: str
    term_duration: str | None = None
    friendly_name: str | None = None
    participants: list[Participant] = Field(default_factory=list)
    order_group: str | None = None
    error: CartLineItemError | None = None
    provisioning_context: dict[str, str] | None = None


class Cart(PartnerCenterModel):
    id: str | None = None
    status: str | None = None
    line_items: list[CartLineItem]
    creation_timestamp: datetime | None = None
    last_modified_timestamp: datetime | None = None
    expiration_timestamp: datetime | None = None
    attributes: ResourceAttributes | None = None


class OrderLineItem(PartnerCenterModel):
    line_item_number: int
    offer_id: str | None = None
    subscription_id: str | None = None
    parent_subscription_id: str | None = None
    friendly_name: str | None = None
    quantity: int = 0
    term_duration: str | None = None
    partner_id_on_record: str | None = None
    links: dict[str, Any] | None = None


class Order(PartnerCenterModel):
    id: str
    alternate_id: str | None = None
    reference_customer_id: str | None = None
    billing_cycle: str | None = None
    currency_code: str | None = None
    line_items: list[OrderLineItem] = Field(default_factory=list)
    creation_date: datetime | None = None
    status: str | None = None
    transaction_type: str | None = None
    links: dict[str, Any] | None = None
    attributes: ResourceAttributes | None = None


class OrderError(PartnerCenterModel):
    order_group_id: str | None = None
    code: int | str | None = None
    description: str | None = None


class CheckoutResult(PartnerCenterModel):
    orders: list[Order] = Field(default_factory=list)
    order_errors: list[OrderError] = Field(default_factory=list)


class LineItemProvisioningStatus(PartnerCenterModel):
    line_item_number: int
    status: str
    quantity: int | None = None
    resource_uri: str | None = None


class ProvisioningStatus(StrEnum):
    FULFILLED = "Fulfilled"
    UNFULFILLED = "Unfulfilled"
    PREFULFILLMENT_PENDING = "PrefulfillmentPending"


# ---------------------------------------------------------------- subscriptions


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    DISABLED = "disabled"
    DELETED = "deleted"


class RefundableBlock(PartnerCenterModel):
    quantity: int
    allowed_until_date_time: datetime


class RefundableQuantity(PartnerCenterModel):
    """New commerce: the seats still refundable, per block of seats bought, renewed or added."""

    total_quantity: int = 0
    details: list[RefundableBlock] = Field(default_factory=list)


class Subscription(PartnerCenterModel):
    id: str
    offer_id: str
    offer_name: str | None = None
    friendly_name: str | None = None
    quantity: int
    unit_type: str | None = None
    status: str
    billing_cycle: str | None = None
    term_duration: str | None = None
    order_id: str | None = None
    partner_id: str | None = None
    auto_renew_enabled: bool | None = None
    creation_date: datetime | None = None
    effective_start_date: datetime | None = None
    commitment_end_date: datetime | None = None
    cancellation_allowed_until_date: datetime | None = None
    refundable_quantity: RefundableQuantity | None = None
    links: dict[str, Any] | None = None
    attributes: ResourceAttributes | None = None


# ---------------------------------------------------------------- errors


class ErrorBody(PartnerCenterModel):
    """Partner Center's error body, classic and newer fields alike."""

    code: int | str | None = None
    description: str | None = None
    message: str | None = None
    error_name: str | None = None
    is_retryable: bool | None = None
    parameters: dict[str, Any] | None = None
    error_message_extended: str | None = None
    data: list[Any] = Field(default_factory=list)
    source: str | None = None
    status_code: int | None = None
