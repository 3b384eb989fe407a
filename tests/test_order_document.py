"""The order document: examples parse, the published schema is current, errors name fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.contract import LicenceRequest
from ordering.document import OrderDocument
from ordering.validation import InvalidOrder, parse_order, validate_input

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_valid_orders(path: Path) -> None:
    assert parse_order(path.read_text()).order_id.startswith("shop-")


def test_published_schema_matches_the_model() -> None:
    published = json.loads((ROOT / "docs" / "order.schema.json").read_text())
    assert published == OrderDocument.model_json_schema(), (
        "docs/order.schema.json is stale: csp-orders schema > docs/order.schema.json"
    )


def test_every_problem_names_the_field_and_the_reason() -> None:
    bad = json.loads((ROOT / "examples" / "new-customer.json").read_text())
    bad["order_id"] = "has spaces"
    bad["customer"]["domain_prefix"] = "-bad-"
    bad["customer"]["billing_address"]["country"] = "USA"
    bad["lines"][0]["quantity"] = 0
    bad["lines"][1]["billing_cycle"] = "weekly"
    del bad["customer_agreement"]["accepted_at"]
    with pytest.raises(InvalidOrder) as caught:
        parse_order(bad)
    assert [str(p) for p in caught.value.problems] == [
        "order_id: must be 1 to 64 letters, digits, '.', '_' or '-'",
        "customer.domain_prefix: must be 1 to 27 lowercase letters, digits or hyphens, not "
        "starting or ending with a hyphen",
        "customer.billing_address.country: must be a two-letter ISO country code such as US or PL",
        "lines[0].quantity: Input should be greater than or equal to 1",
        "lines[1].billing_cycle: Input should be 'monthly' or 'annual'",
        "customer_agreement.accepted_at: is required",
    ]


def test_repeated_lines_and_annual_monthly_terms_are_refused() -> None:
    order = json.loads((ROOT / "examples" / "new-customer.json").read_text())
    order["lines"] = [order["lines"][0], dict(order["lines"][0])]
    with pytest.raises(InvalidOrder) as repeated:
        parse_order(order)
    assert "lines[1] repeats lines[0]" in str(repeated.value)
    order["lines"] = [
        {"offer": "CFQ7TTC0LH18:0001", "quantity": 1, "billing_cycle": "annual", "term": "P1M"}
    ]
    with pytest.raises(InvalidOrder) as term:
        parse_order(order)
    assert "annual billing needs the P1Y term" in str(term.value)


def test_json_text_that_is_not_json_is_a_clear_problem() -> None:
    with pytest.raises(InvalidOrder) as caught:
        parse_order("{not json")
    assert caught.value.problems[0].field == "order"


@pytest.mark.parametrize("quantity", [True, False, "3", 3.5, None, [3]], ids=repr)
@pytest.mark.parametrize("form", ["dict", "json"])
def test_a_quantity_is_a_json_integer_never_text_or_a_boolean(quantity: object, form: str) -> None:
    order = json.loads((ROOT / "examples" / "new-customer.json").read_text())
    order["lines"][1]["quantity"] = quantity
    with pytest.raises(InvalidOrder) as caught:
        parse_order(order if form == "dict" else json.dumps(order))
    [problem] = caught.value.problems
    assert problem.field == "lines[1].quantity"
    assert "whole number" in problem.reason


def test_a_strict_document_still_reads_iso_dates_and_plain_integers() -> None:
    order = json.loads((ROOT / "examples" / "new-customer.json").read_text())
    order["lines"][0]["quantity"] = 3
    order["customer_agreement"]["accepted_at"] = "2026-11-23T07:00:00+01:00"
    document = parse_order(json.dumps(order))
    assert document.lines[0].quantity == 3
    assert document.customer_agreement.accepted_at.isoformat() == "2026-11-23T07:00:00+01:00"
    assert parse_order(order) == document


@pytest.mark.parametrize("quantity", [True, "5", 5.0], ids=repr)
def test_a_licence_request_quantity_is_strict_too(quantity: object) -> None:
    request = {
        "request_id": "r-1",
        "customer_id": "7d2c5b6c-0000-4e7a-9a1a-5a7c0de5a11d",
        "subscription_id": "sub-1",
        "quantity": quantity,
    }
    with pytest.raises(InvalidOrder) as caught:
        validate_input(LicenceRequest, request)
    assert [p.field for p in caught.value.problems] == ["quantity"]
    assert validate_input(LicenceRequest, {**request, "quantity": 5}).quantity == 5
