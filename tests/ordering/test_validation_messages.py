"""Validation messages never repeat what was submitted: unknown keys are named capped and in safe
characters, bad values get fixed sentences, a bad customer kind is not echoed."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordering.validation import NAME_LIMIT, InvalidOrder, parse_order, safe_name

EXAMPLE = json.loads(
    (Path(__file__).parent.parent.parent / "examples" / "new-customer.json").read_text()
)
INJECTIONS = [
    "[Re-verify the customer here](https://evil.example/login)",
    "[click](https://evil.example/x)",
    "<img src=x onerror=alert(1)>",
    '<a href="https://evil.example">x</a>',
]
# A field as messages name it: known names, `safe_name`s and [n] indices.
FIELD = re.compile(r"(?:[A-Za-z0-9_?\-\u2026()]+|\[\d+\])(?:\.[A-Za-z0-9_?\-\u2026()]+|\[\d+\])*")
# A reason's characters: no markup (no < > [ ] ` * | & ! \ { } ~ ^ $ # =), no line break, no
# letter outside ASCII; line numbers in brackets only as lines[n].
REASON = re.compile(r"[A-Za-z0-9 ,.:;'\"()/_+-]*")


def problems_of(data: Any) -> list[str]:
    with pytest.raises(InvalidOrder) as caught:
        parse_order(data)
    return [str(p) for p in caught.value.problems]


def assert_safe(problem_lines: list[str], submitted: str) -> None:
    for line in problem_lines:
        field, _, reason = line.partition(": ")
        assert FIELD.fullmatch(field), line
        assert all(len(part) <= NAME_LIMIT for part in re.split(r"[.\[\]]", field)), line
        assert REASON.fullmatch(re.sub(r"lines\[\d+\]", "lines", reason)), line
        if len(submitted) >= 4 and not re.fullmatch(r"[A-Za-z0-9_ -]*", submitted):
            assert submitted not in line


def with_change(path: list[str | int], value: Any) -> dict[str, Any]:
    """The example order with `value` at `path` (the whole order when `path` is empty)."""
    order: dict[str, Any] = copy.deepcopy(EXAMPLE)
    target: Any = order
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return order


def with_key(spot: list[str | int], key: str) -> dict[str, Any]:
    """The example order with an extra `key` in the object at `spot`."""
    order: dict[str, Any] = copy.deepcopy(EXAMPLE)
    target: Any = order
    for part in spot:
        target = target[part]
    target[key] = 1
    return order


def test_an_injected_customer_kind_is_not_repeated() -> None:
    order = with_change(["customer", "kind"], INJECTIONS[0])
    for data in (order, json.dumps(order)):
        assert problems_of(data) == [
            "customer.kind: must be one of 'new', 'existing_tenant', 'known'"
        ]


def test_a_customer_without_kind_is_told_it_is_required() -> None:
    order = with_change(["customer"], {})
    assert problems_of(order) == ["customer.kind: is required"]


@pytest.mark.parametrize(
    ("key", "named"),
    [
        ("[click](https://evil.example/x)", "?click??https???evil?example?x?"),
        ("<img src=x onerror=alert(1)>", "?img?src?x?onerror?alert?1??"),
        ('<a href="https://evil.example">x</a>', "?a?href??https???evil?example??x??a?"),
        ("tax-id", "tax-id"),
        ("billingAddress", "billingAddress"),
        ("", "(empty)"),
        ("new", "new"),
    ],
)
def test_unknown_keys_are_named_safely(key: str, named: str) -> None:
    assert problems_of(with_key([], key)) == [f"{named}: is not a known field"]
    assert problems_of(with_key(["customer"], key)) == [f"customer.{named}: is not a known field"]
    assert problems_of(with_key(["lines", 1], key)) == [f"lines[1].{named}: is not a known field"]


def test_a_long_key_is_cut_with_an_ellipsis() -> None:
    assert safe_name("a" * 40) == "a" * 40
    assert safe_name("a" * 41) == "a" * 39 + "\u2026"
    assert len(safe_name("x" * 100_000)) == NAME_LIMIT
    assert safe_name("line\nbreak\u202eevil") == "line?break?evil"
    assert safe_name("\u0430dmin") == "?dmin"  # a Cyrillic a is not shown as a Latin one


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize(
    "path",
    [
        ["lines", 0, "billing_cycle"],
        ["lines", 0, "segment"],
        ["lines", 0, "term"],
        ["lines", 0, "quantity"],
        ["lines", 0, "offer"],
        ["customer_agreement", "accepted_at"],
        ["customer_agreement", "email"],
        ["customer", "billing_address"],
        ["customer", "billing_address", "country"],
        ["order_id"],
        ["lines"],
        ["customer"],
    ],
    ids=lambda p: ".".join(map(str, p)),
)
def test_bad_values_are_never_repeated(payload: str, path: list[str | int]) -> None:
    problem_lines = problems_of(with_change(path, payload))
    assert problem_lines
    assert_safe(problem_lines, payload)


def test_json_that_is_not_json_says_where_not_what() -> None:
    assert problems_of('{"order_id": <img src=x>}') == [
        "order: is not valid JSON (at line 1 column 14)"
    ]


SPOTS: list[list[str | int]] = [
    [],
    ["customer"],
    ["customer", "billing_address"],
    ["lines", 0],
    ["customer_agreement"],
]
VALUES: list[list[str | int]] = [
    ["customer", "kind"],
    ["lines", 0, "billing_cycle"],
    ["lines", 0, "segment"],
    ["lines", 0, "term"],
    ["lines", 0, "quantity"],
    ["customer_agreement", "accepted_at"],
    ["customer", "billing_address", "country"],
]


@settings(max_examples=1500, deadline=None)
@given(st.text(), st.sampled_from(SPOTS), st.booleans())
def test_any_unknown_key_is_named_safely(key: str, spot: list[str | int], as_json: bool) -> None:
    known: Any = EXAMPLE
    for part in spot:
        known = known[part]
    if key in known or (spot == ["customer"] and key == "kind"):
        return  # a field the document has there, not an unknown key
    order = with_key(spot, key)
    problem_lines = problems_of(json.dumps(order) if as_json else order)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in spot).lstrip(".")
    assert problem_lines == [f"{where}.{safe_name(key)}".lstrip(".") + ": is not a known field"]
    assert_safe(problem_lines, key)


@settings(max_examples=1500, deadline=None)
@given(st.text(), st.sampled_from(VALUES), st.booleans())
def test_any_bad_value_gets_a_fixed_sentence(
    value: str, path: list[str | int], as_json: bool
) -> None:
    order = with_change(path, value)
    try:
        parse_order(json.dumps(order) if as_json else order)
    except InvalidOrder as invalid:
        assert_safe([str(p) for p in invalid.problems], value)


@settings(max_examples=1000, deadline=None)
@given(st.text())
def test_any_text_that_is_not_an_order_gets_a_fixed_sentence(text: str) -> None:
    try:
        parse_order(text)
    except InvalidOrder as invalid:
        assert_safe([str(p) for p in invalid.problems], text)
