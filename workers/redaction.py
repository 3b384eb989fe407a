"""Keeping personal data out of logs: a structlog processor and a logging filter.

Two layers. Values under personal-data keys (`tax_id`, `email`, `billing_address`, ...; in any
spelling: `taxId`, `tax-id`) are replaced whole. Everywhere else (messages, exception texts,
other fields) the text is scanned and these are masked:

- e-mail addresses (also URL-encoded, `ada%40example.com`);
- IBANs whose check digits are right, with or without spaces (`GB29 NWBK 6016 1331 9268 19`);
- numbers of 7 or more digits, written with spaces, dots, dashes, slashes or brackets and with
  or without a country prefix: tax IDs (`PL 526-025-02-74`, `CHE-123.456.789`, `GB123456789`,
  `ATU12345678`, `NL123456789B01`), phone numbers (`+48 (22) 123-45-67`, `022.123.45.67`,
  `(555) 123-4567`), IBANs of digits only, bank accounts;
- street addresses with a street type or a street prefix (`221B Baker Street`, `1 Microsoft Way`,
  `ul. Marszałkowska 12/4`, `Hauptstraße 5`, `12 rue de Rivoli`, `Via Roma 10`).

What operators need is left alone: order and workflow ids (`ord-2026-0001`,
`order-ord-2026-0001`), GUIDs, offer ids (`CFQ7TTC0LH18:0001`), Partner Center codes (`800090`,
six digits at most), HTTP statuses, ISO dates and times, durations (`PT30S`, `1.5s`,
`0:00:01.500000`, `1500000 ms`), counts (`3 seats`), `host:port` addresses. Values under the
identifier keys (`order_id`, `workflow_id`, `customer_id`, ...) are kept verbatim.

The masking goes by shape, so it is a safety net, not a guarantee. It cannot recognise names,
cities or postal codes in free text, numbers of fewer than 7 digits (short local phone numbers),
addresses without a street word or prefix (`Unter den Linden 77`) or written in lower case,
e-mail addresses spelled out (`ada at example dot com`), nor tax IDs with letters inside the
digits. It takes for personal data: any number of 7 or more digits that is not a date, a GUID, a
decimal or a measure (so also epoch timestamps, `127.0.0.1` without a port, numeric order ids
written alone in a message, integers of 7 or more digits in fields other than the identifier
keys), numbers side by side with only a space between them (`400 800090` reads as one), and ids
made of a country code and 7 or more digits (`DE-1234567`).
Input values are kept out of pydantic's validation errors at the source
(`hide_input_in_errors` on the models), so they never reach this net.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from pydantic import BaseModel

REDACTED = "[redacted]"


def _key(name: str) -> str:
    """A key as compared: lower case, without `_`, `-` or spaces (`taxId` == `tax_id`)."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


PERSONAL_KEYS = frozenset(
    _key(k)
    for k in (
        "tax_id",
        "tax_number",
        "vat_id",
        "vat_number",
        "organization_registration_number",
        "iban",
        "bank_account",
        "account_number",
        "email",
        "email_address",
        "phone",
        "phone_number",
        "mobile",
        "mobile_phone",
        "fax",
        "first_name",
        "last_name",
        "full_name",
        "date_of_birth",
        "address",
        "street",
        "street_address",
        "house_number",
        "address_line1",
        "address_line2",
        "address_line3",
        "city",
        "postal_code",
        "zip_code",
        "billing_address",
        "default_address",
        "primary_contact",
        "password",
    )
)
# Identifiers operators search logs by; they are the engine's own and carry no personal data.
OPERATOR_KEYS = frozenset(
    _key(k)
    for k in (
        "order_id",
        "workflow_id",
        "run_id",
        "workflow_type",
        "activity",
        "correlation_id",
        "request_id",
        "request_key",
        "customer_id",
        "subscription_id",
        "partner_center_order_id",
        "mpn_id",
        "timestamp",
        "level",
        "logger",
    )
)
# structlog's own bookkeeping in a ProcessorFormatter chain: never rendered, never touched.
_META_KEYS = frozenset({"_record", "_from_structlog"})

_MIN_DIGITS = 7  # fewer digits than a tax ID or a phone number: a code, a status, a count

# ISO 3166-1 alpha-2, plus the VAT prefixes that are not: EL (Greece), XI (Northern Ireland),
# EU (non-Union OSS); CHE (Switzerland's UID) is allowed separately.
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
    GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
    KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
    MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
    TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
    ZW EL XI EU
"""
_COUNTRIES = frozenset(_COUNTRY_CODES.split())

# Any local part RFC 5322 allows. A log line often puts `key=` or a quote right before the
# address (`email=ada@…`, `email='ada@…'`): those stay (see `_email`).
_EMAIL = re.compile(
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+"
)

# Where a token ends: not inside a word, and not before `-x`, `.x`, `:x` or `/x` (the rest of an
# id, a GUID, a host:port, an offer id, a path).
_TOKEN_END = r"(?![\w]|[-.:/]\w)"

_IBAN = re.compile(
    r"(?<![\w.+/:-])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]{4}){2,7}(?:[ ]?[A-Za-z0-9]{1,4})?"
    + _TOKEN_END
)

# A run of digits in groups, as tax IDs, phone numbers and account numbers are written. It
# starts a token (not after a letter, a digit, `.`, `+`, `/`, `-`, nor after `12:` as in a time),
# may have a country prefix (`DE 123…`, `CHE-123…`, `GB123…`, `ATU123…`), an international
# prefix (`+48`, `+48 (22)`, `0048`) or an area code in brackets (`(555)`), and takes the letters
# glued to its end (`NL123456789B01`).
_NUMBER = re.compile(
    r"""
    (?<![\w.+/\-])(?<!\d:)
    (?:(?P<prefix>[A-Za-z]{2,4})(?P<sep>[ .\-]?))?
    (?P<body>
        (?: \+\d{1,4}(?:[ .\-]?\(\d{1,5}\))?
          | \(\d{1,5}\)
          | \d )
        (?:[ .\-/]?\d)*
    )
    (?P<tail>(?:[^\W\d]\w*)?)
    """
    + _TOKEN_END,
    re.VERBOSE,
)
_ISO_DATE = re.compile(r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])")
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_DECIMAL = re.compile(r"\d+\.\d+")
_ISO_DURATION = re.compile(r"P(?:\d+[YMWD])*(?:T(?:\d+(?:\.\d+)?[HMS])+)?", re.IGNORECASE)
_UNIT = re.compile(
    r" ?(?:ms|s|secs?|seconds?|mins?|minutes?|h|hours?|days?|us|µs|ns|bytes|B|KB|MB|GB"
    r"|seats?|licen[cs]es?|lines?)\b"
)

# Street addresses. Words of a street name start with a capital letter (checked in `_address`).
_WORD = r"[^\W\d_][\w'\u2019.\-]*"
# A word starts after none of the characters a word may hold (else every `.` of `a.a.a…` would
# start a match that runs to the end: quadratic); after a quote only if it opens (`'ul. …'`).
_WORD_START = r"(?<![\w.\-])(?<!\w['\u2019])"
_HOUSE = r"\d{1,5}[A-Za-z]?(?:[ ]?[/-][ ]?\d{1,5}[A-Za-z]?)?"
_ENGLISH_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Way|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Place|Pl|Square"
    "|Sq|Terrace|Crescent|Close|Parkway|Pkwy|Highway|Hwy|Circle|Mews|Gardens|Row|Walk|Hill|Park"
    "|Alley|Plaza|Broadway"
)
# 221B Baker Street, 1 Microsoft Way, 1600 Pennsylvania Avenue NW
_NUMBER_NAME_TYPE = re.compile(
    rf"(?<![\w./:-]){_HOUSE},?[ ]+(?P<words>(?:{_WORD}[ ]+){{1,4}}?)"
    rf"(?:{_ENGLISH_TYPES})\b\.?(?:[ ]+(?:NE|NW|SE|SW|N|S|E|W)\b)?"
)
# ul. Marszałkowska 12/4, Via Roma 10, Calle Mayor 5, Rue de Rivoli 12, ул. Тверская, д. 1
_PREFIX_NAME_NUMBER = re.compile(
    rf"{_WORD_START}(?:(?i:ul|al|pl|os|av|avda|bd|bld|ул|пр|пер)\.|"
    r"Ulica|Aleja|Plac|Osiedle|Calle|Avenida|Paseo|Plaza|Via|Viale|Piazza|Corso|Largo|Rua"
    r"|Travessa|Rue|Avenue|Boulevard|Chemin|Allée|Impasse|Quai|Route|Place|Ulitsa|Улица"
    r"|Проспект)[ ]+(?:(?:della|del|dos|das|des|de|di|da|do|du|les|la|le)[ ]+|[dl]['\u2019][ ]*)*"
    rf"(?P<words>{_WORD}(?:[ ]+{_WORD}){{0,3}}),?[ ]+(?:(?i:nr|no|n°|nº|д)\.?[ ]*)?{_HOUSE}"
    + _TOKEN_END
)
# 12 rue de Rivoli, 5 avenue des Champs-Élysées, 10 bis boulevard Haussmann
_NUMBER_TYPE_NAME = re.compile(
    rf"(?<![\w./:-]){_HOUSE}(?:[ ]+(?:bis|ter))?,?[ ]+"
    r"(?i:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|route|cours)[ ]+"
    r"(?:(?:des|de|du|les|la|le)[ ]+|[dl]['\u2019][ ]*)*"
    rf"(?P<words>{_WORD}(?:[ ]+{_WORD}){{0,3}})"
)
# Hauptstraße 5, Musterstr. 12a, Keizersgracht 123, Storgatan 1, Berliner Straße 5
_NAME_TYPE_NUMBER = re.compile(
    rf"{_WORD_START}(?P<first>{_WORD}[ ]+)?(?P<words>[^\W\d_][\w'\u2019\-]*?)"
    r"(?:straße|strasse|str\.|weg|gasse|platz|allee|damm|ufer|chaussee|steig|pfad|gracht"
    r"|straat|laan|plein|kade|singel|vej|gade|gatan|vägen|gränd|veien|gata|katu|utca|ulice"
    r"|iela|gatvė|[ ]Straße|[ ]Strasse|[ ]Str\.|[ ]Weg|[ ]Gasse|[ ]Platz|[ ]Allee|[ ]Ring"
    rf"|[ ]Damm|[ ]Ufer|[ ]gate|[ ]vei|[ ]út)[ ]+{_HOUSE}" + _TOKEN_END
)


def _email(match: re.Match[str]) -> str:
    address = match.group(0)
    lead = re.match(r"(?:.*=)?['`]*", address)
    kept = lead.group(0) if lead else ""
    return kept + REDACTED


def _capitalised(words: str) -> bool:
    return all(w[0].isupper() or w[0].isdigit() for w in words.split())


def _address(match: re.Match[str]) -> str:
    if not _capitalised(match.group("words")):
        return match.group(0)
    first = match.groupdict().get("first")
    if first and not _capitalised(first):
        return first + REDACTED  # `gave Hauptstraße 5`: the word before is not the street's
    return REDACTED


def _address_name_last(match: re.Match[str]) -> str:
    """`12 rue de Rivoli for the order`: the street's name is its capitalised words."""
    end = None
    for word in re.finditer(r"\S+", match.group("words")):
        if not (word.group()[0].isupper() or word.group()[0].isdigit()):
            break
        end = match.start("words") + word.end()
    if end is None:
        return match.group(0)
    return REDACTED + match.string[end : match.end()]


_ADDRESSES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (_NUMBER_NAME_TYPE, _address),
    (_PREFIX_NAME_NUMBER, _address),
    (_NUMBER_TYPE_NAME, _address_name_last),
    (_NAME_TYPE_NUMBER, _address),
]


def _iban_valid(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or compact[:2] not in _COUNTRIES:
        return False
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def _iban(match: re.Match[str]) -> str:
    text = match.group(0)
    groups = text.split(" ")
    # A spaced IBAN may have swallowed a following short word: drop groups until it checks.
    for n in range(len(groups), 0, -1):
        candidate = " ".join(groups[:n])
        if _iban_valid(candidate):
            return REDACTED + text[len(candidate) :]
    return text


def _is_country_prefix(prefix: str, glued: bool) -> bool:
    upper = prefix.upper()
    if upper == "CHE" or (len(upper) == 2 and upper in _COUNTRIES):
        return True
    # Glued, a country may carry one more letter: ATU12345678 (Austria), ESX1234567X (Spain).
    return glued and len(upper) == 3 and upper[:2] in _COUNTRIES


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _number(match: re.Match[str]) -> str:
    prefix, sep = match.group("prefix"), match.group("sep") or ""
    body, tail = match.group("body"), match.group("tail")
    whole = match.group(0)
    if _ISO_DURATION.fullmatch(whole) or _GUID.fullmatch(whole):
        return whole  # PT1000000S (Portugal's prefix is PT, too), a GUID of mostly digits
    if prefix is not None and sep != " ":
        if _is_country_prefix(prefix, glued=not sep):
            return REDACTED if _digits(body + tail) >= _MIN_DIGITS else whole
        return whole  # letters glued or joined to the digits: an id (ORD-2026-0001)
    # A word before the number (`DE 123 456 789`, `tax ID 7707083893`) stays: a country or a
    # word is not personal; the number is judged alone.
    lead = "" if prefix is None else prefix + sep
    return lead + _plain_number(body, tail, match.string, match.end())


def _plain_number(body: str, tail: str, text: str, end: int) -> str:
    """A run of digits without a country prefix: dates, GUIDs, decimals and measures are kept;
    what else has 7 or more digits is masked, with the letters glued to it."""
    if _GUID.fullmatch(body) or _DECIMAL.fullmatch(body):
        return body + tail
    if body.isdigit() and (_UNIT.match(tail) or (not tail and _UNIT.match(text, end))):
        return body + tail  # 1500000 ms, 86400s: a measure
    if body[0] in "+(":
        return REDACTED if _digits(body + tail) >= _MIN_DIGITS else body + tail
    # Split around ISO dates written between the groups (`800090 2026-03-14 10`).
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            chunk = " ".join(pending)
            out.append(REDACTED if _digits(chunk) >= _MIN_DIGITS else chunk)
            pending.clear()

    parts = body.split(" ")
    for part in parts:
        if _ISO_DATE.fullmatch(part):
            flush()
            out.append(part)
        else:
            pending.append(part)
    flush()
    masked = " ".join(out)
    if tail and masked.endswith(REDACTED):
        return masked  # NL123456789B01, 12345678abc: the glued letters go with the number
    return masked + tail


def mask_text(text: str) -> str:
    """The text with e-mail addresses, IBANs, street addresses and long numbers masked."""
    text = _EMAIL.sub(_email, text)
    text = _IBAN.sub(_iban, text)
    for pattern, replace in _ADDRESSES:
        text = pattern.sub(replace, text)
    return _NUMBER.sub(_number, text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return REDACTED if len(str(abs(value))) >= _MIN_DIGITS else value
    if isinstance(value, Mapping):
        return {k: _field(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask(v) for v in value]
    if isinstance(value, BaseModel):
        return _mask(value.model_dump(mode="json"))
    # Anything else is rendered with repr() by the renderers: mask what they would print.
    return mask_text(repr(value))


def _field(key: object, value: Any) -> Any:
    if not isinstance(key, str):
        return _mask(value)
    name = _key(key)
    if name in PERSONAL_KEYS:
        return REDACTED
    if name in OPERATOR_KEYS and isinstance(value, str | int) and not isinstance(value, bool):
        return value
    return _mask(value)


def redact_personal_data(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask personal data in every field of the event."""
    for key, value in list(event_dict.items()):
        if key in _META_KEYS:
            continue
        event_dict[key] = _field(key, value)
    return event_dict


class RedactingFilter(logging.Filter):
    """The same masking for the standard library's log records (Temporal's own logs); their
    exception texts are masked when the formatter renders them (`redact_personal_data` runs in
    its chain)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: never fail the caller
            message = f"{record.msg!s} {record.args!r}"
        record.msg = mask_text(message)
        record.args = None
        return True
