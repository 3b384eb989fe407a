"""Tax ID policy (countries and dates, as data) and validation."""

from __future__ import annotations

from datetime import date

import pytest

from ordering.tax_id import (
    TaxIdRequirement,
    default_requirements,
    phone_missing,
    tax_id_required,
    validate_tax_id,
)

FIRST = ["RU", "HU", "AM", "AZ", "BY", "KZ", "KG", "MD", "TJ", "UZ", "UA"]
SECOND = ["TH", "VN", "TR", "PL", "ZA", "IN", "BR", "IQ", "MM", "SS", "SA", "AE", "VE"]


@pytest.mark.parametrize("country", FIRST)
def test_first_wave_from_november_2020(country: str) -> None:
    assert not tax_id_required(country, date(2020, 10, 31))
    assert tax_id_required(country, date(2020, 11, 1))


@pytest.mark.parametrize("country", SECOND)
def test_second_wave_from_march_2021(country: str) -> None:
    assert not tax_id_required(country, date(2021, 2, 28))
    assert tax_id_required(country, date(2021, 3, 1))


def test_twenty_four_countries_and_no_others() -> None:
    listed = {c for r in default_requirements() for c in r.countries}
    assert listed == set(FIRST) | set(SECOND)
    assert not tax_id_required("US", date(2026, 1, 1))
    assert not tax_id_required("DE", date(2026, 1, 1))


def test_a_phone_number_is_required_where_a_tax_id_is() -> None:
    assert phone_missing("RU", None, date(2026, 1, 1))
    assert phone_missing("ru", "", date(2026, 1, 1))
    assert not phone_missing("RU", "+7 495 000 00 00", date(2026, 1, 1))
    assert not phone_missing("RU", None, date(2020, 10, 31))  # before the requirement
    assert not phone_missing("US", None, date(2026, 1, 1))
    # The requirement is the configuration's, as for the tax ID.
    german = (TaxIdRequirement(effective_from=date(2025, 1, 1), countries=("DE",)),)
    assert phone_missing("DE", None, date(2026, 1, 1), german)
    assert not phone_missing("RU", None, date(2026, 1, 1), german)


@pytest.mark.parametrize(
    ("country", "value"),
    [
        ("RU", "7707083893"),
        ("RU", "500100732259"),
        ("PL", "526-025-02-74"),
        ("BR", "11.222.333/0001-81"),
        ("TR", "4540536920"),
        ("UA", "32855961"),
        ("HU", "12892312-2-41"),
        ("IN", "AAAPL1234C"),
        ("SA", "300000000000003"),
        ("AE", "100123456789012"),
        ("KZ", "123456789012"),
        ("IQ", "ABC-12345"),
        ("US", "12-3456789"),
    ],
)
def test_valid_tax_ids(country: str, value: str) -> None:
    verdict = validate_tax_id(country, value)
    assert verdict.valid, verdict.reason


@pytest.mark.parametrize(
    ("country", "value", "reason"),
    [
        ("RU", "7707083890", "The tax ID is not a valid RU INN: its check digit is wrong."),
        ("RU", "77070", "The tax ID is not a valid RU INN: it has the wrong number of digits."),
        ("PL", "5260250275", "The tax ID is not a valid PL NIP: its check digit is wrong."),
        ("BR", "11222333000182", "The tax ID is not a valid BR CNPJ: its check digit is wrong."),
        ("KZ", "12345", "The tax ID is not a valid KZ BIN: it has the wrong number of digits."),
        ("IQ", "1234", "A tax ID must be 5 to 22 characters long (this one has 4)."),
        ("MM", "X" * 23, "A tax ID must be 5 to 22 characters long (this one has 23)."),
        ("US", "12#456", "A tax ID may contain only letters, digits, spaces, '.', '/' and '-'."),
        ("RU", "   ", "The tax ID is empty."),
    ],
)
def test_invalid_tax_ids_say_why_without_repeating_the_value(
    country: str, value: str, reason: str
) -> None:
    verdict = validate_tax_id(country, value)
    assert not verdict.valid
    assert verdict.reason == reason
    assert value.strip() == "" or value not in str(verdict.reason)
