"""Turning pydantic's validation errors into 'field: reason' lines a storefront can show.

The lines never repeat what was submitted: a reason is a fixed sentence or pydantic's words about
what the schema expects (never the error's `input`, nor a `ctx` value taken from the input), and
a key the input brought is named only through `safe_name` (capped, conservative characters).
They reach the Temporal UI, logs, the CLI and storefronts."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, JsonValue, RootModel, ValidationError

from ordering.document import AS_RECORDED, OrderDocument

_UNION_TAGS = {"new", "existing_tenant", "known"}
M = TypeVar("M", bound=BaseModel)


class RawInput(RootModel[JsonValue]):
    """A workflow's input as plain JSON. It always deserializes, so a malformed start (say, from
    the `temporal` CLI) ends the workflow with the reasons instead of failing its tasks forever;
    the workflow validates it as its first step."""

    model_config = ConfigDict(hide_input_in_errors=True)


class FieldProblem(BaseModel):
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class InvalidOrder(ValueError):
    """The order document is not valid; `problems` names each field and the reason."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


# A submitted key is named in a message only this long, and only with these characters: any
# other character shows as '?', so a key can carry neither markup nor a line break nor another
# script's look-alike letters into a message.
NAME_LIMIT = 40
_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9_-]")


def safe_name(name: str) -> str:
    """A submitted key as a message may name it: at most `NAME_LIMIT` characters (the last one
    an ellipsis when cut), each outside ASCII letters, digits, '_' and '-' shown as '?'."""
    if not name:
        return "(empty)"
    shown = "".join(c if _NAME_CHARACTERS.fullmatch(c) else "?" for c in name)
    return shown if len(shown) <= NAME_LIMIT else shown[: NAME_LIMIT - 1] + "\u2026"


def field_path(
    loc: tuple[int | str, ...], *, submitted_last: bool = False, whole: str = "order"
) -> str:
    """The field `loc` names, as `customer.billing_address.city` or `lines[1].quantity`.
    `submitted_last`: the last part is a key the input brought (an unknown field)."""
    path = ""
    for n, part in enumerate(loc):
        submitted = submitted_last and n == len(loc) - 1
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        if not submitted:
            if part in _UNION_TAGS and n > 0 and loc[n - 1] == "customer":
                continue  # the discriminated union's tag is not a field
            if part.startswith("function-"):
                continue
        name = safe_name(part)
        path += f".{name}" if path else name
    return path or whole


_FORMATS = {
    "order_id": "must be 1 to 64 letters, digits, '.', '_' or '-'",
    "email": "is not an e-mail address",
    "country": "must be a two-letter ISO country code such as US or PL",
    "offer": "must be a Partner Center product and SKU such as CFQ7TTC0LH18:0001",
    "tenant_id": "must be a tenant id (a GUID)",
    "customer_id": "must be a Partner Center customer id (a GUID)",
    "mpn_id": "must be a partner (MPN) id of 6 to 10 digits",
    "domain": "is not a domain name",
    "culture": "must be a culture such as en-US",
    "language": "must be a two-letter language code such as en",
    "website": "must be an http(s) address",
}


# Strict types: JSON's own types, never a string or a boolean standing in for a number.
_TYPES = {
    "int_type": "must be a whole number written as a JSON number, such as 3 (not text such as "
    '"3", not true or false)',
    "bool_type": "must be true or false (a JSON boolean, not text)",
}


# Pydantic's messages that say only what the schema expects (its limits, choices and types), never
# the submitted value or key: they are passed on as they are.
# Any other kind of error gets a fixed sentence, so no message repeats submitted text.
_SCHEMA_MESSAGES = frozenset(
    {
        "model_type",
        "model_attributes_type",
        "dict_type",
        "list_type",
        "string_type",
        "string_unicode",
        "string_too_short",
        "string_too_long",
        "float_type",
        "float_parsing",
        "int_parsing",
        "int_parsing_size",
        "int_from_float",
        "bool_parsing",
        "finite_number",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "multiple_of",
        "too_short",
        "too_long",
        "none_required",
        "enum",
        "literal_error",
        "datetime_type",
        "date_type",
        "timezone_aware",
        "timezone_naive",
    }
)
# Errors raised by this package's own validators (ordering.document): their sentences are
# written here and name fields and line numbers, never submitted text.
_OWN_MESSAGES = frozenset({"value_error", "assertion_error"})
_DATE_PARSING = frozenset(
    {"datetime_parsing", "datetime_from_date_parsing", "date_parsing", "date_from_datetime_parsing"}
)
_JSON_POSITION = re.compile(r"at line (\d+) column (\d+)")


def _reason(error: Any) -> str:
    kind = error["type"]
    if kind in _TYPES:
        return _TYPES[kind]
    if kind == "string_pattern_mismatch":
        name = next((p for p in reversed(error["loc"]) if isinstance(p, str)), "")
        return _FORMATS.get(name, "is not in the expected format")
    if kind in ("missing", "union_tag_not_found"):
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "union_tag_invalid":
        # the expected tags come from the schema ("'new', 'existing_tenant', 'known'")
        return "must be one of " + str(error["ctx"]["expected_tags"])
    if kind in _DATE_PARSING:
        return "must be a date and time in ISO 8601 form, such as 2026-11-23T07:00:00+01:00"
    if kind == "json_invalid":
        where = _JSON_POSITION.search(str(error["ctx"].get("error", "")))
        return "is not valid JSON" + (f" (at line {where[1]} column {where[2]})" if where else "")
    if kind in _SCHEMA_MESSAGES or kind in _OWN_MESSAGES:
        return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return "is not valid"


def problems(exc: ValidationError, *, whole: str = "order") -> list[FieldProblem]:
    """One 'field: reason' per error. A tagged union's bad or missing tag is its tag field's
    problem (`customer.kind`), an unknown field is named by `safe_name`."""
    return problems_of(exc.errors(), whole=whole)


def problems_of(errors: Sequence[Any], *, whole: str = "order") -> list[FieldProblem]:
    """`problems` of pydantic's error dicts (as a web framework passes them on); `whole` names
    the input itself (a problem of the whole document, such as invalid JSON)."""
    found: list[FieldProblem] = []
    for error in errors:
        loc = tuple(error["loc"])
        kind = error["type"]
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            tag = str(error["ctx"]["discriminator"]).strip("'")
            loc = (*loc, tag)
        field = field_path(loc, submitted_last=kind == "extra_forbidden", whole=whole)
        found.append(FieldProblem(field=field, reason=_reason(error)))
    return found


def parse_order(data: Any, *, as_recorded: bool = False) -> OrderDocument:
    """Validate a storefront's order (a dict or JSON text); raises `InvalidOrder`.
    `as_recorded`: the order a workflow run was started with (rules added since it was placed
    that would change its course are not applied: see `ordering.document.AS_RECORDED`)."""
    context = {AS_RECORDED: True} if as_recorded else None
    try:
        if isinstance(data, str | bytes):
            return OrderDocument.model_validate_json(data, context=context)
        return OrderDocument.model_validate(data, context=context)
    except ValidationError as exc:
        raise InvalidOrder(problems(exc)) from None


def validate_input(model: type[M], data: Any) -> M:
    """Validate any input against `model`; raises `InvalidOrder` naming fields and reasons."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidOrder(problems(exc)) from None


def canonical_sha256(model: BaseModel) -> str:
    """The SHA-256 of a validated document's canonical JSON (fields as parsed, keys sorted): the
    same order written differently hashes the same, any other content differently. A hash, so
    it can be kept beside a run without keeping the personal data it covers in the clear."""
    canonical = json.dumps(
        model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
