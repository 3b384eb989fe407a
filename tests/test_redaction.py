"""Personal data never reaches a log line (issue 11); what operators search by always does.

The generated cases are in tests/properties/test_log_redaction.py; these are the examples the
issue names, one by one, so a failure says which one leaked.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest
import structlog

from ordering.document import BillingAddress
from workers.redaction import REDACTED, RedactingFilter, mask_text, redact_personal_data


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
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "tax ID %s for %s", ("7707083893", "ada@example.com"), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "tax ID [redacted] for [redacted]"


# The issue's examples, and their neighbours.
TAX_IDS = [
    "PL5260250274",
    "PL 526-025-02-74",
    "DE 123 456 789",
    "DE123456789",
    "GB123456789",
    "GB 123 4567 89",
    "CHE-123.456.789",
    "CHE123456789",
    "ATU12345678",
    "NL123456789B01",
    "ESX1234567X",
    "FR 12 345678901",
    "IE1234567X",
    "pl5260250274",
    "7707083893",  # Russian INN, no prefix
    "526-025-02-74",
    "12.345.678/0001-90",  # Brazilian CNPJ
    "12-3456789",  # US EIN
]
IBANS = [
    "PL61 1090 1014 0000 0712 1981 2874",
    "PL61109010140000071219812874",
    "DE89370400440532013000",
    "DE89 3704 0044 0532 0130 00",
    "GB29 NWBK 6016 1331 9268 19",
    "GB29NWBK60161331926819",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NO93 8601 1117 947",
]
PHONES = [
    "+48 (22) 123-45-67",
    "022.123.45.67",
    "(555) 123-4567",
    "+1 (555) 123-4567",
    "555-123-4567",
    "+1.555.123.4567",
    "+44 (0)20 7946 0958",
    "+49 (0)30 123456",
    "+33 1 23 45 67 89",
    "0049 30 12345678",
    "+48221234567",
    "+7 495 000-00-00",
    "22 123 45 67",
    "123-4567",
]
ADDRESSES = [
    "ul. Marszałkowska 12/4",
    "Ul. Marszałkowska 12",
    "al. Jerozolimskie 100",
    "1 Microsoft Way",
    "221B Baker Street",
    "1600 Pennsylvania Avenue NW",
    "10 Downing St",
    "Hauptstraße 5",
    "Musterstr. 12a",
    "Berliner Straße 5",
    "Keizersgracht 123",
    "Storgatan 1",
    "12 rue de Rivoli",
    "5 avenue des Champs-Élysées",
    "Via Roma 10",
    "Calle Mayor 5",
    "ул. Тверская, д. 1",
]
EMAILS = ["ada@example.com", "ada.lovelace+orders@mail.example.co.uk", "ada%40example.com"]

SENTENCES = [
    "{}",
    "customer gave {} for the order",
    "value '{}' rejected",
    'payload {{"tax_id": "{}"}}',
    "tax_id={}, retrying",
    "(contact: {})",
    "Partner Center refused {}.",
]


@pytest.mark.parametrize("sentence", SENTENCES)
@pytest.mark.parametrize("value", TAX_IDS + IBANS + PHONES + ADDRESSES + EMAILS)
def test_the_issues_personal_data_is_masked(value: str, sentence: str) -> None:
    text = sentence.format(value)
    masked = mask_text(text)
    assert value not in masked
    assert REDACTED in masked
    # Not a fragment either: no digit of the value is left (the sentences have none), and
    # the words of an address are gone.
    assert not re.search(r"\d", masked), masked
    for word in ("Marszałkowska", "Microsoft", "Baker", "Rivoli", "Тверская", "Roma"):
        if word in value:
            assert word not in masked


OPERATOR_TEXT = [
    "order ord-2026-0001",
    "workflow order-ord-2026-0001 run 0192f1d4-6a5e-7c3b-9a1e-2f4b5c6d7e8f",
    "workflow licences-ord-2026-0001:line-2",
    "request id ord-2026-0001:purchase:cart",
    "customer 8adb746c-0466-4116-841e-e576e152bc09",
    "customer 12345678-1234-1234-1234-123456789012",
    "offer CFQ7TTC0LH18:0001",
    "catalog item DZH318Z0BQ3Q:0007:DZH318Z0D1PZ",
    "Partner Center HTTP 400 code 800090: the quantity cannot be reduced",
    "Partner Center answered 409 (800008)",
    "error 900123 then 503",
    "at 2026-03-14",
    "at 2026-03-14T10:22:33Z",
    "at 2026-03-14T10:22:33.123456+00:00",
    "at 2026-03-14 10:22:33,123",
    "since 2026-03-14, expires 2026-04-13",
    "after PT30S",
    "took 1.5s",
    "took 312.25 ms",
    "waited 0:00:01.500000",
    "timeout 1500000 ms",
    "3 seats",
    "300 licences across 2 subscriptions",
    "reminder 3 sent",
    "attempt 2/5",
    "Temporal at 127.0.0.1:7233",
    "Microsoft 365 Business Basic",
    "Dynamics 365 Sales, Office 365 E3",
    "python3.11, temporalio 1.35.0",
    'File "/work/main/workflows/order.py", line 2730, in run',
]


@pytest.mark.parametrize("text", OPERATOR_TEXT)
def test_what_operators_need_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_identifier_fields_are_kept_verbatim_even_when_numeric() -> None:
    """An order id is the storefront's choice: `100045678` is a fine order id, kept in its
    fields, though a 9-digit number in a message is taken for a tax ID."""
    event = {
        "event": "partner_center.call",
        "order_id": "100045678",
        "workflow_id": "order-100045678",
        "request_id": "100045678:purchase:cart",
        "mpn_id": "1234567",
        "status": 400,
        "ms": 312.5,
    }
    assert redact_personal_data(None, "info", dict(event)) == event


def test_personal_keys_in_any_spelling() -> None:
    event = {
        "taxId": "PL5260250274",
        "TaxID": "x",
        "tax-id": "x",
        "organizationRegistrationNumber": "x",
        "PhoneNumber": "x",
        "AddressLine1": "x",
        "postalCode": "x",
        "iban": "x",
        "vat_number": "x",
    }
    redacted = redact_personal_data(None, "info", dict(event))
    assert set(redacted.values()) == {REDACTED}


def test_numbers_models_and_other_objects_are_masked_as_rendered() -> None:
    address = BillingAddress(
        first_name="Ada",
        last_name="Lovelace",
        address_line1="1 Microsoft Way",
        city="Redmond",
        postal_code="98052",
        country="US",
    )
    event = {
        "event": "x",
        "value": 7707083893,  # a tax ID sent as a JSON number
        "count": 3,
        "ok": True,
        "suggested": [address],
        "error": ValueError("no customer for ada@example.com"),
    }
    redacted = redact_personal_data(None, "info", dict(event))
    assert redacted["value"] == REDACTED
    assert redacted["count"] == 3 and redacted["ok"] is True
    rendered = json.dumps(redacted)
    for value in ("7707083893", "Ada", "Lovelace", "Microsoft Way", "Redmond", "ada@example"):
        assert value not in rendered
    assert "US" in rendered  # the country is not personal


def test_a_record_whose_arguments_do_not_fit_never_fails_the_caller() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "tax ID %d", ("PL5260250274",), None)
    assert RedactingFilter().filter(record)
    assert "5260250274" not in record.getMessage()


def test_exception_texts_of_standard_library_records_are_masked() -> None:
    """Temporal logs failures with their traceback: the worker's formatter (configured by
    tests/conftest.py as `csp-orders worker` does) masks the exception text."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    out = io.StringIO()
    copy = logging.StreamHandler(out)
    copy.setFormatter(handler.formatter)
    for kept in handler.filters:
        copy.addFilter(kept)
    logger = logging.getLogger("temporalio.worker._workflow_instance")
    logger.addHandler(copy)
    try:
        try:
            raise ValueError("tax ID PL 526-025-02-74 of ada@example.com at 1 Microsoft Way")
        except ValueError:
            logger.exception("Failed deserializing signal input for provide_tax_id")
    finally:
        logger.removeHandler(copy)
    [line] = [json.loads(x) for x in out.getvalue().splitlines()]
    assert "ValueError" in line["exception"]
    for value in ("526-025-02-74", "ada@example.com", "Microsoft Way"):
        assert value not in out.getvalue()


@pytest.mark.parametrize(
    "text",
    [
        "a." * 50_000,  # every `.` could start a street name running to the end
        "a'" * 50_000,
        "9" * 100_000,  # a digit run that never ends a token
        "9" * 50_000 + "-x",
        "1 " * 50_000,
        "a.b+c-" * 20_000,  # an e-mail's local part without an `@`
        "Aaaa " * 20_000,
        "+1 (2) " * 20_000,
    ],
    ids=lambda text: repr(text[:8]),
)
def test_masking_a_long_line_takes_linear_time(text: str) -> None:
    """A log line can hold a whole payload; masking it must not hang the worker (a quadratic
    pattern took 37 s on the first of these)."""
    started = time.perf_counter()
    mask_text(text)
    assert time.perf_counter() - started < 3
