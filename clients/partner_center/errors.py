"""The one exception every Partner Center call raises, and when a retry can help."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from clients.partner_center.models import ErrorBody

# Conflicts that clear by themselves: another order or cart of the customer is being processed.
RETRYABLE_CONFLICT_CODES = frozenset({"800060", "800064"})
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# Codes the engine reacts to by name (Partner Center's own numbers). What a business refusal's
# code means for the customer is the ordering's table (`ordering.refusals`).
AGREEMENT_ALREADY_CONFIRMED = "600061"
# The MPA status check's answers, as errors, when the reseller's agreement is not signed or not
# eligible.
UNKNOWN_MPN_ID = "2200"  # unknown or not migrated
MPA_REGION_MISMATCH = "2201"
MPA_NOT_SIGNED_STATUS = "2203"  # the MPA status check's answer for an unsigned reseller
NOT_AN_INDIRECT_RESELLER = "2204"


class PartnerCenterError(Exception):
    """A Partner Center call that did not succeed.

    `status` is the HTTP status (0 when no answer arrived: connection error or timeout),
    `code` Partner Center's error code as a string, `retryable` whether sending the same request
    again (same `MS-RequestId`) can succeed, `retry_after` the seconds Partner Center asked to
    wait, `credentials` whether the engine's own credentials were refused or are missing (a
    401 from Partner Center after a fresh token, the token endpoint refusing the app's
    credentials, no refresh token configured): nothing about the request, and the same request
    succeeds once an operator fixes them, `unreadable` whether the answer could not be read at
    all (larger than the client reads): whatever its status, it says nothing of the request.
    The message never contains request bodies (personal data) or credentials.
    """

    def __init__(
        self,
        status: int,
        code: str | None,
        description: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
        body: ErrorBody | None = None,
        credentials: bool = False,
        unreadable: bool = False,
    ) -> None:
        self.status = status
        self.credentials = credentials
        self.unreadable = unreadable
        self.code = code
        self.description = description
        self.retryable = retryable
        self.retry_after = retry_after
        self.request_id = request_id
        self.correlation_id = correlation_id
        self.body = body
        super().__init__(self._summary())

    def _summary(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no answer"
        code = f" code {self.code}" if self.code else ""
        return f"Partner Center {where}{code}: {self.description}"

    @property
    def is_business_refusal(self) -> bool:
        """True when Partner Center refused the request on its merits (a retry will not change
        it); a refusal of the engine's own credentials is none."""
        return (
            not self.retryable
            and not self.credentials
            and not self.unreadable
            and 400 <= self.status < 500
        )

    @property
    def is_not_found(self) -> bool:
        """Partner Center said that what was asked for does not exist (a 404 of its own, not
        the token endpoint's nor an answer it could not read)."""
        return self.status == 404 and self.is_business_refusal


def is_retryable(status: int, code: str | None) -> bool:
    if status == 409:
        return code in RETRYABLE_CONFLICT_CODES
    return status in RETRYABLE_STATUSES


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(
    status: int,
    content: bytes,
    headers: dict[str, str],
    *,
    request_id: str | None,
    correlation_id: str | None,
) -> PartnerCenterError:
    """Build the typed error from any answer: JSON error body, HTML page or nothing at all."""
    body: ErrorBody | None = None
    raw: Any = None
    try:
        raw = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        raw = None
    if isinstance(raw, dict):
        try:
            body = ErrorBody.model_validate(raw)
        except ValidationError:
            body = None
    code = str(body.code) if body is not None and body.code is not None else None
    if code == str(status):
        code = None  # throttling bodies carry the HTTP status as "statusCode", not a code
    description = _describe(status, body)
    retry_after = parse_retry_after(headers.get("retry-after"))
    return PartnerCenterError(
        status,
        code,
        description,
        retryable=is_retryable(status, code),
        retry_after=retry_after,
        request_id=request_id,
        correlation_id=correlation_id,
        body=body,
        credentials=status == 401,  # (the client has already fetched a fresh token once)
    )


def _describe(status: int, body: ErrorBody | None) -> str:
    if body is not None:
        for text in (body.description, body.message):
            if text:
                return text[:500]
    return {
        401: "authentication failed",
        403: "forbidden",
        404: "not found",
        408: "request timeout",
        429: "rate limit is exceeded",
    }.get(status, "unexpected answer" if status < 500 else "server error")
