"""The order document: what a storefront sends, validated field by field.

`OrderDocument.model_json_schema()` is the published JSON Schema (`docs/order.schema.json`);
examples are in `examples/`. Validation errors name the field and the reason
(`ordering.validation.problems`). Numbers are strict: a quantity is a JSON integer, never a
string such as "3" or a boolean (dates stay ISO 8601 strings).
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

OrderId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    Field(description="The storefront's order id: letters, digits, '.', '_' or '-'; 1-64."),
]
CountryCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True),
    Field(description="ISO 3166-1 alpha-2 country code, e.g. US, RU, PL."),
]
TenantId = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        to_lower=True,
    ),
    Field(description="A Microsoft Entra tenant id (GUID)."),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
Offer = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9]{4,20}:[A-Za-z0-9]{4}$", to_upper=True),
    Field(description="Partner Center product and SKU, e.g. CFQ7TTC0LH18:0001."),
]


def _domain_prefix(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,25}[a-z0-9])?", value):
        raise ValueError(
            "must be 1 to 27 lowercase letters, digits or hyphens, not starting or ending "
            "with a hyphen"
        )
    return value


DomainPrefix = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True),
    AfterValidator(_domain_prefix),
    Field(
        description="The new tenant's <prefix>.onmicrosoft.com (lower-cased).",
        # what `_domain_prefix` admits, before the whitespace is stripped and the letters
        # lower-cased, so the published schema promises what validation does
        json_schema_extra={"pattern": r"^\s*[A-Za-z0-9](?:[A-Za-z0-9-]{0,25}[A-Za-z0-9])?\s*$"},
    ),
]


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Reseller(Document):
    """An indirect provider's reseller: MPN (partner) id and tenant id."""

    mpn_id: Annotated[str, StringConstraints(pattern=r"^\d{6,10}$")] = Field(
        description="The reseller's partner (MPN) id: 6 to 10 digits."
    )
    tenant_id: TenantId


class BillingAddress(Document):
    first_name: OptionalText = ""
    last_name: OptionalText = ""
    address_line1: OptionalText = ""
    address_line2: OptionalText = ""
    city: OptionalText = ""
    state: OptionalText = ""
    postal_code: OptionalText = ""
    country: CountryCode

    REQUIRED: ClassVar[tuple[str, ...]] = (
        "first_name",
        "last_name",
        "address_line1",
        "city",
        "postal_code",
    )

    def missing_fields(self) -> list[str]:
        """Fields a complete billing address needs and this one lacks."""
        return [name for name in self.REQUIRED if not getattr(self, name)]


class EducationSegment(StrEnum):
    K12 = "K12"
    HIGHER_EDUCATION = "HigherEducation"


class EducationDetails(Document):
    """What Microsoft's education vetting needs for a new customer buying education plans."""

    segment: EducationSegment
    website: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=256)]


def _kind_required(schema: dict[str, Any]) -> None:
    """`kind` has a default for Python callers, but a document must name it: it chooses the
    customer's form (the discriminator), so the published schema lists it as required."""
    required = schema.setdefault("required", [])
    if isinstance(required, list) and "kind" not in required:
        required.insert(0, "kind")


class NewCustomer(Document):
    model_config = ConfigDict(json_schema_extra=_kind_required)  # (merged with Document's)
    kind: Literal["new"] = "new"
    company_name: Text
    domain_prefix: DomainPrefix
    email: Email
    culture: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}-[A-Z]{2}$")] = "en-US"
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")] = "en"
    billing_address: BillingAddress
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None
    tax_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    education: EducationDetails | None = None

    @property
    def country(self) -> str:
        return self.billing_address.country

    @property
    def domain(self) -> str:
        return f"{self.domain_prefix}.onmicrosoft.com"


class ExistingTenant(Document):
    """A customer with its own Office 365 tenant: it must accept a reseller relationship."""

    model_config = ConfigDict(json_schema_extra=_kind_required)

    kind: Literal["existing_tenant"] = "existing_tenant"
    domain: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True,
            to_lower=True,
            max_length=253,
            pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$",
        ),
    ]
    country: CountryCode


class KnownCustomer(Document):
    """Already a customer of this partner, identified by its Partner Center id."""

    model_config = ConfigDict(json_schema_extra=_kind_required)

    kind: Literal["known"] = "known"
    customer_id: TenantId
    country: CountryCode


Customer = Annotated[NewCustomer | ExistingTenant | KnownCustomer, Field(discriminator="kind")]


class BillingCycle(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"


class Segment(StrEnum):
    COMMERCIAL = "Commercial"
    EDUCATION = "Education"
    NONPROFIT = "NonProfit"
    GOVERNMENT = "Government"


class OrderLine(Document):
    offer: Offer
    quantity: int = Field(ge=1, le=10_000, strict=True)  # a JSON integer: not "3", not true
    billing_cycle: BillingCycle
    term: Literal["P1M", "P1Y"] | None = Field(
        None, description="Commitment term; defaults to P1M for monthly, P1Y for annual."
    )
    segment: Segment = Segment.COMMERCIAL

    @model_validator(mode="after")
    def _annual_needs_a_year(self) -> OrderLine:
        if self.billing_cycle is BillingCycle.ANNUAL and self.term == "P1M":
            raise ValueError("term: annual billing needs the P1Y term")
        return self

    @property
    def term_duration(self) -> str:
        return self.term or ("P1Y" if self.billing_cycle is BillingCycle.ANNUAL else "P1M")

    @property
    def product_id(self) -> str:
        return self.offer.split(":")[0]

    @property
    def sku_id(self) -> str:
        return self.offer.split(":")[1]


AS_RECORDED = "as_recorded"


def _date_time_text(value: object, info: ValidationInfo) -> object:
    """A date and time is written as text (the schema's `date-time`): pydantic would otherwise
    read a number as seconds since 1970. Refused where an order comes in (the SDK, the API);
    a run reading the order it was started with (`AS_RECORDED` in the context) reads it as it
    always did, so that orders started before this rule replay as they ran."""
    if isinstance(value, int | float) and not (info.context or {}).get(AS_RECORDED):
        raise ValueError(
            "must be a date and time in ISO 8601 form, such as 2026-11-23T07:00:00+01:00"
        )
    return value


class AgreementAcceptance(Document):
    """Who at the customer accepted the Microsoft Customer Agreement, and when."""

    first_name: Text
    last_name: Text
    email: Email
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None
    accepted_at: Annotated[datetime, BeforeValidator(_date_time_text)]


class OrderDocument(Document):
    order_id: OrderId
    reseller: Reseller | None = Field(
        None, description="Set for an indirect provider's order: the reseller it is for."
    )
    customer: Customer
    lines: list[OrderLine] = Field(min_length=1, max_length=50)
    customer_agreement: AgreementAcceptance

    @model_validator(mode="after")
    def _no_duplicate_lines(self) -> OrderDocument:
        seen: dict[tuple[str, str, str, str], int] = {}
        for n, line in enumerate(self.lines):
            key = (line.offer, line.billing_cycle, line.term_duration, line.segment)
            if key in seen:
                raise ValueError(
                    f"lines[{n}] repeats lines[{seen[key]}] (same offer, billing cycle and term); "
                    "put the whole quantity on one line"
                )
            seen[key] = n
        return self

    @property
    def country(self) -> str:
        return self.customer.country
