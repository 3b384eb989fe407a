"""Tax ID (INN): where Microsoft requires it, and whether a supplied one is valid.

Where Microsoft requires it is data (`data/tax_id_countries.json`, with effective dates).
Validation: Microsoft's rule (5 to 22 characters) always; the national format and check digit
where one is known (python-stdnum, or a format rule here). Reasons never repeat the tax ID.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field
from stdnum import exceptions as stdnum_errors
from stdnum.az import voen
from stdnum.br import cnpj
from stdnum.by import unp
from stdnum.hu import anum
from stdnum.in_ import gstin, pan
from stdnum.md import idno
from stdnum.pl import nip
from stdnum.ru import inn
from stdnum.th import tin as th_tin
from stdnum.tr import vkn
from stdnum.ua import edrpou
from stdnum.ve import rif
from stdnum.vn import mst
from stdnum.za import tin as za_tin

MIN_LENGTH, MAX_LENGTH = 5, 22


class TaxIdRequirement(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    effective_from: date = Field(alias="effectiveFrom")
    countries: tuple[str, ...]


@cache
def default_requirements() -> tuple[TaxIdRequirement, ...]:
    text = resources.files("ordering").joinpath("data/tax_id_countries.json").read_text("utf-8")
    return tuple(TaxIdRequirement.model_validate(r) for r in json.loads(text)["requirements"])


def tax_id_required(
    country: str, on: date, requirements: tuple[TaxIdRequirement, ...] | None = None
) -> bool:
    """Does Microsoft require a tax ID for a new tenant in `country` on day `on`?"""
    country = country.upper()
    return any(
        country in r.countries and r.effective_from <= on
        for r in (requirements if requirements is not None else default_requirements())
    )


def phone_missing(
    country: str,
    phone: str | None,
    on: date,
    requirements: tuple[TaxIdRequirement, ...] | None = None,
) -> bool:
    """Is a new tenant in `country` missing the phone number Microsoft requires? Where a tax ID
    is required (on day `on`), a phone number is required too."""
    return not phone and tax_id_required(country, on, requirements)


@dataclass(frozen=True)
class TaxIdVerdict:
    valid: bool
    value: str | None = None  # the normalized tax ID, when valid
    reason: str | None = None  # why not, in a sentence a customer can read


@dataclass(frozen=True)
class NationalFormat:
    name: str
    check: Callable[[str], str]  # returns the compact valid value or raises stdnum errors


def _stdnum(*modules: object) -> Callable[[str], str]:
    def check(value: str) -> str:
        error: stdnum_errors.ValidationError | None = None
        for module in modules:
            try:
                return str(module.validate(value))  # type: ignore[attr-defined]
            except stdnum_errors.ValidationError as exc:
                error = error or exc
        assert error is not None
        raise error

    return check


def _hungarian(value: str) -> str:
    """Adószám: 11 digits (8-1-2) whose first 8 are the ANUM with its check digit."""
    digits = re.sub(r"[\s-]", "", value).upper().removeprefix("HU")
    if not digits.isdigit():
        raise stdnum_errors.InvalidFormat()
    if len(digits) not in (8, 11):
        raise stdnum_errors.InvalidLength()
    anum.validate(digits[:8])
    return digits


def _digits(length: int, pattern: str | None = None) -> Callable[[str], str]:
    def check(value: str) -> str:
        digits = re.sub(r"[\s-]", "", value)
        if not digits.isdigit():
            raise stdnum_errors.InvalidFormat()
        if len(digits) != length:
            raise stdnum_errors.InvalidLength()
        if pattern and not re.fullmatch(pattern, digits):
            raise stdnum_errors.InvalidComponent()
        return digits

    return check


NATIONAL_FORMATS: dict[str, NationalFormat] = {
    "RU": NationalFormat("INN", _stdnum(inn)),
    "HU": NationalFormat("tax number (adószám)", _hungarian),
    "AM": NationalFormat("TIN", _digits(8)),
    "AZ": NationalFormat("VÖEN", _stdnum(voen)),
    "BY": NationalFormat("UNP", _stdnum(unp)),
    "KZ": NationalFormat("BIN", _digits(12)),
    "KG": NationalFormat("INN", _digits(14)),
    "MD": NationalFormat("IDNO", _stdnum(idno)),
    "TJ": NationalFormat("INN", _digits(9)),
    "UZ": NationalFormat("INN (STIR)", _digits(9)),
    "UA": NationalFormat("EDRPOU code", _stdnum(edrpou)),
    "TH": NationalFormat("tax ID", _stdnum(th_tin)),
    "VN": NationalFormat("MST", _stdnum(mst)),
    "TR": NationalFormat("VKN", _stdnum(vkn)),
    "PL": NationalFormat("NIP", _stdnum(nip)),
    "ZA": NationalFormat("tax reference number", _stdnum(za_tin)),
    "IN": NationalFormat("PAN or GSTIN", _stdnum(pan, gstin)),
    "BR": NationalFormat("CNPJ", _stdnum(cnpj)),
    "SA": NationalFormat("VAT number", _digits(15, r"3\d{13}3")),
    "AE": NationalFormat("TRN", _digits(15, r"100\d{12}")),
    "VE": NationalFormat("RIF", _stdnum(rif)),
}


def validate_tax_id(country: str, value: str) -> TaxIdVerdict:
    """Check a tax ID for a customer in `country`; the reason never contains the value."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return TaxIdVerdict(False, reason="The tax ID is empty.")
    national = NATIONAL_FORMATS.get(country.upper())
    if national is not None:
        try:
            text = national.check(text)
        except stdnum_errors.ValidationError as exc:
            return TaxIdVerdict(False, reason=_reason(country.upper(), national.name, exc))
    if not MIN_LENGTH <= len(text) <= MAX_LENGTH:
        return TaxIdVerdict(
            False,
            reason=f"A tax ID must be {MIN_LENGTH} to {MAX_LENGTH} characters long "
            f"(this one has {len(text)}).",
        )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ./-]*", text):
        return TaxIdVerdict(
            False, reason="A tax ID may contain only letters, digits, spaces, '.', '/' and '-'."
        )
    return TaxIdVerdict(True, value=text)


def _reason(country: str, name: str, error: stdnum_errors.ValidationError) -> str:
    what = f"a valid {country} {name}"
    if isinstance(error, stdnum_errors.InvalidChecksum):
        return f"The tax ID is not {what}: its check digit is wrong."
    if isinstance(error, stdnum_errors.InvalidLength):
        return f"The tax ID is not {what}: it has the wrong number of digits."
    if isinstance(error, stdnum_errors.InvalidFormat):
        return f"The tax ID is not {what}: it has characters that do not belong there."
    return f"The tax ID is not {what}."
