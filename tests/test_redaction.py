"""Personal data never reaches a log line."""

from __future__ import annotations

from workers.redaction import REDACTED, redact_personal_data


def test_personal_keys_and_patterns_are_masked() -> None:
    event = {
        "event": "customer created for ada@example.com, call +7 495 000 0000, INN 7707083893",
        "tax_id": "7707083893",
        "customer": {"email": "x@y.example", "billing_address": {"city": "Moscow"}, "id": "c1"},
        "workflow_id": "order-shop-1005",
        "correlation_id": "8adb746c-0466-4116-841e-e576e152bc09",
        "lines": [{"phone": "123"}],
    }
    redacted = redact_personal_data(None, "info", dict(event))
    assert redacted["tax_id"] == REDACTED
    assert redacted["customer"] == {"email": REDACTED, "billing_address": REDACTED, "id": "c1"}
    assert redacted["lines"] == [{"phone": REDACTED}]
    text = str(redacted)
    for value in ("ada@example.com", "+7 495 000 0000", "7707083893", "Moscow", "x@y.example"):
        assert value not in text
    assert redacted["workflow_id"] == "order-shop-1005"
    assert redacted["correlation_id"] == "8adb746c-0466-4116-841e-e576e152bc09"


def test_standard_library_records_are_masked_too() -> None:
    import logging

    from workers.redaction import RedactingFilter

    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "tax ID %s for %s", ("7707083893", "ada@example.com"), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "tax ID [redacted] for [redacted]"
