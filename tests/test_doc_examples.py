"""The tolerant loader of Microsoft's JSON examples: it repairs comments, trailing commas,
typographic quotes and elided members, names each repair, and never changes a value."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.doc_examples import load_example


def test_strict_json_needs_no_repair() -> None:
    example = load_example('{"segment": "commercial", "items": [1, 2]}')
    assert example.value == {"segment": "commercial", "items": [1, 2]}
    assert example.repairs == []


def test_each_repair_is_named() -> None:
    text = """{
      // the customer's tenant
      "id": "4b10bf41",
      "lineItems": [ {"id": 0}, {...} ],
      "links": { "self": "/customers/4b10bf41", },
      "note": \u201cMonthly\u201d
    }"""
    example = load_example(text)
    assert example.value == {
        "id": "4b10bf41",
        "lineItems": [{"id": 0}],
        "links": {"self": "/customers/4b10bf41"},
        "note": "Monthly",
    }
    assert example.repairs == [
        "typographic quotes",
        "line comments",
        "elided members",
        "trailing commas",
    ]


def test_values_that_look_like_repairs_are_kept() -> None:
    text = '{"uri": "https://api.partnercenter.microsoft.com//v1", "text": "a, ]...", }'
    example = load_example(text)
    assert example.value == {
        "uri": "https://api.partnercenter.microsoft.com//v1",
        "text": "a, ]...",
    }
    assert example.repairs == ["trailing commas"]


def test_anything_else_stays_an_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        load_example("{id: 1}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_strict_json_round_trips_unchanged(value: object) -> None:
    example = load_example(json.dumps(value, ensure_ascii=False))
    assert example.value == value
