"""The sandbox's catalog and Microsoft's data-driven rules (tax-ID countries, segments)."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

from pydantic import BaseModel, Field

from sandbox.errors import not_found
from sandbox.links import link


class ProductRules(BaseModel):
    max_subscriptions_per_customer: int | None = Field(None, alias="maxSubscriptionsPerCustomer")
    seat_pool: str | None = Field(None, alias="seatPool")
    end_of_sale: bool = Field(False, alias="endOfSale")


class AvailabilityData(BaseModel):
    id: str
    segment: str


class SkuData(BaseModel):
    id: str
    title: str
    minimum_quantity: int = Field(alias="minimumQuantity")
    maximum_quantity: int = Field(alias="maximumQuantity")
    availabilities: list[AvailabilityData]


class ProductData(BaseModel):
    id: str
    title: str
    family: str
    rules: ProductRules
    skus: list[SkuData]


class TermData(BaseModel):
    duration: str
    billing_cycle: str = Field(alias="billingCycle")
    description: str


class TaxIdCountries(BaseModel):
    effective_from: date = Field(alias="effectiveFrom")
    countries: list[str]


class CatalogData(BaseModel):
    products: list[ProductData]
    terms: list[TermData]
    tax_id_countries: list[TaxIdCountries] = Field(alias="taxIdCountries")


# Who may buy which segment, by the customer's approved qualification (Partner Center's table).
SEGMENTS_BY_QUALIFICATION: dict[str, frozenset[str]] = {
    "None": frozenset({"Commercial"}),
    "Nonprofit": frozenset({"Commercial", "NonProfit"}),
    "Education": frozenset({"Commercial", "Education"}),
    "GovernmentCommunityCloud": frozenset({"Government"}),
    "StateOwnedEntity": frozenset({"Commercial"}),
}


class Catalog:
    def __init__(self, data: CatalogData) -> None:
        self.data = data
        self._products = {p.id: p for p in data.products}
        # Availability ids Microsoft replaced (old -> new): existing subscriptions keep working,
        # a purchase with an old one is refused (400019), as with a stale id at Microsoft.
        self.replaced: dict[str, str] = {}

    @classmethod
    def load(cls) -> Catalog:
        text = resources.files("sandbox").joinpath("data/catalog.json").read_text("utf-8")
        return cls(CatalogData.model_validate(json.loads(text)))

    @property
    def products(self) -> list[ProductData]:
        return self.data.products

    def product(self, product_id: str) -> ProductData:
        found = self._products.get(product_id.upper())
        if found is None:
            raise not_found(400013, f"Product with id {product_id} was not found.")
        return found

    def sku(self, product_id: str, sku_id: str) -> SkuData:
        for sku in self.product(product_id).skus:
            if sku.id == sku_id:
                return sku
        raise not_found(400018, f"Sku with id {sku_id} was not found for product {product_id}.")

    def availability(
        self, product_id: str, sku_id: str, availability_id: str, *, purchase: bool = False
    ) -> AvailabilityData:
        wanted = availability_id.upper()
        if not purchase:
            wanted = self.replaced.get(wanted, wanted)
        for availability in self.sku(product_id, sku_id).availabilities:
            if availability.id == wanted:
                return availability
        raise not_found(
            400019,
            f"Availability with id {availability_id} was not found for "
            f"product {product_id} and sku {sku_id}.",
        )

    def resolve(
        self, catalog_item_id: str, *, purchase: bool = False
    ) -> tuple[ProductData, SkuData, AvailabilityData]:
        """`purchase`: for a cart or a checkout, where a replaced availability id is stale."""
        parts = catalog_item_id.split(":")
        if len(parts) != 3 or not all(parts):
            raise not_found(400013, f"Catalog item {catalog_item_id} was not found.")
        product = self.product(parts[0])
        sku = self.sku(product.id, parts[1])
        return product, sku, self.availability(product.id, sku.id, parts[2], purchase=purchase)

    def replace_availability(self, catalog_item_id: str) -> str:
        """Microsoft publishes a new availability id for an offer; the old one goes stale."""
        product, sku, availability = self.resolve(catalog_item_id, purchase=True)
        old = availability.id
        new = old[:-1] + ("Z" if old[-1] != "Z" else "Y")
        availability.id = new
        self.replaced[old] = new
        return f"{product.id}:{sku.id}:{new}"

    def tax_id_required(self, country: str, on: date) -> bool:
        return any(
            country.upper() in group.countries and group.effective_from <= on
            for group in self.data.tax_id_countries
        )

    # ------------------------------------------------------------ wire shapes

    def product_json(self, product: ProductData) -> dict[str, Any]:
        return {
            "id": product.id,
            "title": product.title,
            "description": product.title,
            "productType": {"id": "OnlineServices", "displayName": "OnlineServices"},
            "isMicrosoftProduct": True,
            "publisherName": "Microsoft Corporation",
            "links": {"skus": link(f"/products/{product.id}/skus?country=US")},
            "attributes": {"objectType": "Product"},
        }

    def sku_json(self, product: ProductData, sku: SkuData) -> dict[str, Any]:
        return {
            "id": sku.id,
            "productId": product.id,
            "title": sku.title,
            "description": sku.title,
            "minimumQuantity": sku.minimum_quantity,
            "maximumQuantity": sku.maximum_quantity,
            "isTrial": False,
            "supportedBillingCycles": sorted({t.billing_cycle for t in self.data.terms}),
            "purchasePrerequisites": [],
            "dynamicAttributes": {"isAddon": False, "hasAddOns": False, "isMicrosoftProduct": True},
            "links": {
                "availabilities": link(
                    f"/products/{product.id}/skus/{sku.id}/availabilities?country=US"
                ),
                "self": link(f"/products/{product.id}/skus/{sku.id}?country=US"),
            },
            "attributes": {"objectType": "Sku"},
        }

    def availability_json(
        self, product: ProductData, sku: SkuData, availability: AvailabilityData, country: str
    ) -> dict[str, Any]:
        return {
            "id": availability.id,
            "productId": product.id,
            "skuId": sku.id,
            "catalogItemId": f"{product.id}:{sku.id}:{availability.id}",
            "segment": availability.segment.lower(),  # as Microsoft sends it: "commercial"
            "country": country.upper(),
            "defaultCurrency": {"code": "USD", "symbol": "$"},
            "isPurchasable": not product.rules.end_of_sale,
            "isRenewable": True,
            "terms": [
                {
                    "duration": t.duration,
                    "billingCycle": t.billing_cycle,
                    "description": t.description,
                    "cancellationPolicies": [],
                }
                for t in self.data.terms
            ],
            "attributes": {"objectType": "Availability"},
        }

    def supports_term(self, billing_cycle: str, term_duration: str) -> bool:
        return any(
            t.billing_cycle == billing_cycle and t.duration == term_duration
            for t in self.data.terms
        )
