"""A structlog processor that keeps personal data out of logs.

Values under personal-data keys are replaced; e-mail addresses, international phone numbers and
long digit runs (tax IDs) are masked wherever else they appear in a log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

REDACTED = "[redacted]"
PERSONAL_KEYS = frozenset(
    {
        "tax_id",
        "organization_registration_number",
        "organizationregistrationnumber",
        "email",
        "phone",
        "phone_number",
        "phonenumber",
        "first_name",
        "last_name",
        "firstname",
        "lastname",
        "address",
        "address_line1",
        "address_line2",
        "address_line3",
        "addressline1",
        "addressline2",
        "addressline3",
        "city",
        "postal_code",
        "postalcode",
        "billing_address",
        "default_address",
        "primary_contact",
        "password",
    }
)
_PATTERNS = [
    re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),  # e-mail addresses
    re.compile(r"\+\d[\d ()-]{6,}\d"),  # international phone numbers
    re.compile(r"(?<![\w-])\d{8,}(?![\w-])"),  # long digit runs: tax IDs, phone numbers
]


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        for pattern in _PATTERNS:
            value = pattern.sub(REDACTED, value)
        return value
    if isinstance(value, dict):
        return {k: REDACTED if _personal(k) else _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def _personal(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "_") in PERSONAL_KEYS


def redact_personal_data(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        event_dict[key] = REDACTED if _personal(key) else _mask(value)
    return event_dict


class RedactingFilter(logging.Filter):
    """The same masking for the standard library's log records (Temporal's own logs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _mask(record.getMessage())
        record.args = None
        return True
