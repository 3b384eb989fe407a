"""Turning pydantic's validation errors into 'field: reason' lines a storefront can show."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from ordering.document import OrderDocument

_UNION_TAGS = {"new", "existing_tenant", "known"}


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


def _reason(error: Any) -> str:
    kind = error["type"]
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
    try:
        if isinstance(data, str | bytes):
            return OrderDocument.model_validate_json(data)
        return OrderDocument.model_validate(data)
    except ValidationError as exc:
        raise InvalidOrder(problems(exc)) from None
