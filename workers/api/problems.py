"""Errors as RFC 9457 problem details (`application/problem+json`): a stable `code`, a sentence
for the customer (`detail`), and for invalid input every field with its reason (`errors`).
Never a stack trace, never a framework's default body, never what was submitted."""

from __future__ import annotations

from enum import StrEnum
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ordering.refusals import Refusal
from ordering.validation import FieldProblem

MEDIA_TYPE = "application/problem+json"


class ApiErrorCode(StrEnum):
    """The API's own codes; a refusal of the engine keeps the engine's code
    (ordering/refusals.py: ORDER_ID_CONFLICT, REQUEST_ID_CONFLICT, ...)."""

    UNAUTHORIZED = "UNAUTHORIZED"
    NOT_FOUND = "NOT_FOUND"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    LICENCE_REQUEST_NOT_FOUND = "LICENCE_REQUEST_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    INVALID_INPUT = "INVALID_INPUT"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    TAX_ID_REJECTED = "TAX_ID_REJECTED"
    CANCEL_REJECTED = "CANCEL_REJECTED"
    ORDER_ENDED = "ORDER_ENDED"
    RATE_LIMITED = "RATE_LIMITED"
    ENGINE_UNREACHABLE = "ENGINE_UNREACHABLE"
    ENGINE_BUSY = "ENGINE_BUSY"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class FieldError(BaseModel):
    field: str = Field(description="The field, as `customer.billing_address.city` or `lines[1]`.")
    reason: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, with the engine's `code` (named apart from a refusal's
    `Problem`, ordering/refusals.py, which the order's status carries: one OpenAPI schema each)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem (its code).")
    title: str = Field(description="The HTTP status's phrase.")
    status: int
    detail: str = Field(description="A sentence for the customer.")
    code: str = Field(description="A stable code: the refusal's, or the API's own.")
    errors: list[FieldError] | None = Field(
        None, description="For invalid input: every field with its reason."
    )
    problems: list[dict[str, Any]] | None = Field(
        None, description="A refusal's problems, each with its code, sentence and lines."
    )
    last_known_phase: str | None = Field(
        None, description="When the engine did not answer: the order's phase as last recorded."
    )


def problem_type(code: str) -> str:
    return f"urn:csp-orders:problem:{code.lower().replace('_', '-')}"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # (a status Python does not name)
        return "Error"


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[FieldProblem] | None = None,
    refusal: Refusal | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = ProblemDetails(
        type=problem_type(code),
        title=_phrase(status),
        status=status,
        detail=detail,
        code=code,
        errors=[FieldError(field=e.field, reason=e.reason) for e in errors] if errors else None,
        problems=[p.model_dump(mode="json") for p in refusal.problems]
        if refusal is not None and refusal.problems
        else None,
        **extra,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def problem_schema_response(description: str) -> dict[str, Any]:
    """An OpenAPI response whose body is a `ProblemDetails`."""
    return {
        "description": description,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    }


COMMON_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: problem_schema_response("No valid API key (`Authorization: Bearer <key>`)."),
    429: {
        **problem_schema_response("Past this key's rate limit: wait `Retry-After` seconds."),
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
    500: problem_schema_response("The API failed (nothing of the cause is shown)."),
    503: {
        **problem_schema_response("Temporal cannot be reached, or no worker answered in time."),
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}


def with_problems(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """The common problems plus `statuses` (422 invalid input, 404, 409...)."""
    text = {
        404: "No such order (or not this storefront's).",
        409: "A conflict with the order's state or an id used before.",
        413: "The body is too large.",
        415: "The body is not JSON.",
        422: "Invalid input: every field with its reason.",
    }
    return {
        **COMMON_PROBLEMS,
        **{s: problem_schema_response(described.get(f"s{s}", text[s])) for s in statuses},
    }
