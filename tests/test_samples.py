"""The one set of sample offers and orders (devtools/samples.py) agrees with what it stands for:
the sandbox's catalog and the built-in engine configuration."""

from __future__ import annotations

import json
from pathlib import Path

from devtools.samples import (
    OFFERS,
    ONE_PER_BILLING_CYCLE_PRODUCTS,
    catalog_item,
    new_customer,
    order,
    russian_order,
)
from ordering.config import EngineConfig, SubscriptionPolicy
from ordering.document import NewCustomer

CATALOG = Path(__file__).parent.parent / "sandbox" / "data" / "catalog.json"
ENGINE = Path(__file__).parent.parent / "ordering" / "data" / "engine.json"


def test_every_sample_offer_is_a_catalog_item_of_the_sandbox() -> None:
    items = {
        f"{product['id']}:{sku['id']}:{availability['id']}"
        for product in json.loads(CATALOG.read_text())["products"]
        for sku in product["skus"]
        for availability in sku["availabilities"]
    }
    for offer in OFFERS:
        assert catalog_item(offer) in items, offer


def test_the_business_plans_are_those_of_the_built_in_configuration() -> None:
    data = {k: v for k, v in json.loads(ENGINE.read_text()).items() if not k.startswith("_")}
    config = EngineConfig.model_validate(data)
    products = {
        product
        for rule in config.product_policies
        if rule.policy is SubscriptionPolicy.ONE_PER_BILLING_CYCLE
        for product in rule.products
    }
    assert products == ONE_PER_BILLING_CYCLE_PRODUCTS


def test_sample_orders_are_valid_documents() -> None:
    document = order("sample-1", new_customer("contoso"))
    assert isinstance(document.customer, NewCustomer)
    assert document.customer.domain == "contoso.onmicrosoft.com"
    waiting = russian_order("sample-2", "romashka")
    assert isinstance(waiting.customer, NewCustomer)
    assert waiting.customer.billing_address is not None
    assert waiting.customer.billing_address.city == "Moscow"
    assert waiting.customer.tax_id is None
