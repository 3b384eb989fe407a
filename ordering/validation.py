"""Turning pydantic's validation errors into 'field: reason' lines a storefront can show."""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from pydantic import BaseModel, JsonValue, RootModel, ValidationError

from ordering.document import OrderDocument

_UNION_TAGS = {"new", "existing_tenant", "known"}
M = TypeVar("M", bound=BaseModel)


class RawInput(RootModel[JsonValue]):
    """A workflow's input as plain JSON. It always deserializes, so a malformed start (say, from
    the `temporal` CLI) ends the workflow with the reasons instead of failing its tasks forever;
    the workflow validates it as its first step."""


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


def field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _UNION_TAGS and path.endswith("customer"):
            continue  # the discriminated union's tag is not a field
        elif part.startswith("function-after") or part.startswith("function-"):
            continue
        else:
            path += f".{part}" if path else part
    return path or "order"


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


def _reason(error: Any) -> str:
    kind = error["type"]
    if kind in _TYPES:
        return _TYPES[kind]
    if kind == "string_pattern_mismatch":
        name = next((p for p in reversed(error["loc"]) if isinstance(p, str)), "")
        return _FORMATS.get(name, "is not in the expected format")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def problems(exc: ValidationError) -> list[FieldProblem]:
    return [
        FieldProblem(field=field_path(tuple(e["loc"])), reason=_reason(e)) for e in exc.errors()
    ]


def parse_order(data: Any) -> OrderDocument:
    """Validate a storefront's order (a dict or JSON text); raises `InvalidOrder`."""
    if isinstance(data, str | bytes):
        try:
            return OrderDocument.model_validate_json(data)
        except ValidationError as exc:
            raise InvalidOrder(problems(exc)) from None
    return validate_input(OrderDocument, data)


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
