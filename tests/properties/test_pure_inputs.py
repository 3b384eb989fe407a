"""Thousands of generated inputs to the pure decisions: an answer or a named problem, never an
unexpected exception."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ordering.document import OrderDocument
from ordering.tax_id import validate_tax_id
from ordering.validation import InvalidOrder, parse_order
from tests.properties.strategies import COUNTRIES, orders, tax_ids


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from([*COUNTRIES, "XX", "us"]), tax_ids)
def test_tax_id_validation_always_answers(country: str, tax_id: str) -> None:
    verdict = validate_tax_id(country, tax_id)
    if verdict.valid:
        assert verdict.value and 5 <= len(verdict.value) <= 22
    else:
        assert verdict.reason and verdict.reason.endswith(".")
        # A tax ID is never repeated back. Only inputs with a digit are checked: a run of letters
        # can coincide with the sentence's own words ("EDRPO" is in "UA EDRPOU code").
        given_id = tax_id.strip()
        if len(given_id) >= 5 and any(c.isdigit() for c in given_id):
            assert given_id not in verdict.reason


@settings(max_examples=2000, deadline=None)
@given(orders("generated-1", "generatedprefix"))
def test_order_validation_accepts_or_names_every_problem(data: Any) -> None:
    try:
        document = parse_order(data)
    except InvalidOrder as invalid:
        assert invalid.problems
        for problem in invalid.problems:
            assert problem.field and problem.reason
        return
    assert isinstance(document, OrderDocument)
    assert 1 <= len(document.lines) <= 50
