"""How every process turns data into Temporal payloads: pydantic JSON, encrypted with AES-GCM.

Built in one place and used by the worker, the storefront SDK, the CLI, the dev stack, the chaos
harness and the tests. Orders carry personal data (tax IDs, addresses, e-mails, phone numbers,
names); encrypted, it is never readable in the server's database or in a history fetched
without the key.

Keys: `CSP_CODEC_KEYS="<key id>=<base64 of 32 bytes>[,<key id>=...]"`; new payloads use
`CSP_CODEC_ACTIVE_KEY` (default: the last key listed). Every payload records its key id, so a
key is rotated by adding a new one, making it active, and keeping the old one for reading.

Closed by default: a process that writes orders (storefront, CLI, worker) refuses to run without
keys (`writer_key_ring`). Plain text is only for development, with
`CSP_DEV_UNENCRYPTED_PAYLOADS=personal-data-readable` and a Temporal on a loopback address.

Failures are encoded too (`SummarizedFailureConverter`): a failure's message and stack trace
travel encrypted; what stays readable is a summary naming only the failure's kind or code.

Reading never wedges an order: a payload that claims to be encrypted but cannot be decrypted,
that is not JSON, too deep or too large, reaches a model that notes its arrival (`Arrival`) as
`unreadable`; a plain-text one arrives as `plain`. The workflow decides what that means.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from pydantic import BaseModel, SecretBytes, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
)
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    PayloadConverter,
)
from temporalio.exceptions import ApplicationError

from clients.contract import ARRIVAL_ATTRIBUTE, Arrival

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
ARRIVAL = "csp-arrival"  # metadata the reading side puts on a decoded payload
KEYS_VARIABLE = "CSP_CODEC_KEYS"
ACTIVE_VARIABLE = "CSP_CODEC_ACTIVE_KEY"
PLAINTEXT_SWITCH = "CSP_DEV_UNENCRYPTED_PAYLOADS"
PLAINTEXT_CONSENT = "personal-data-readable"
# The largest input a workflow reads; a start input or signal over it arrives `unreadable`.
MAX_INPUT_BYTES = 256 * 1024
_NONCE = 12
_TAG = 16


class EncryptionKeysMissing(ValueError):
    """A process that writes orders was started without the payload keys."""


class KeyRing(BaseModel):
    keys: dict[str, SecretBytes]
    active: str

    @classmethod
    def parse(cls, text: str, active: str | None = None) -> KeyRing:
        keys: dict[str, SecretBytes] = {}
        for n, item in enumerate(filter(None, (part.strip() for part in text.split(","))), 1):
            key_id, _, encoded = item.partition("=")
            key_id = key_id.strip()
            if not key_id or not encoded:
                raise ValueError(f"{KEYS_VARIABLE}: key {n} is not <id>=<base64 of 32 bytes>")
            if key_id in keys:
                raise ValueError(f"{KEYS_VARIABLE}: key id {key_id!r} is listed twice")
            try:
                raw = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{KEYS_VARIABLE}: key {key_id!r} is not valid base64") from None
            if len(raw) != 32:
                raise ValueError(
                    f"{KEYS_VARIABLE}: key {key_id!r} is {len(raw)} bytes; AES-256 needs 32"
                )
            keys[key_id] = SecretBytes(raw)
        if not keys:
            raise ValueError(f"{KEYS_VARIABLE} names no key")
        chosen = active or list(keys)[-1]
        if chosen not in keys:
            raise ValueError(f"{ACTIVE_VARIABLE}: no key {chosen!r}")
        return cls(keys=keys, active=chosen)

    @classmethod
    def from_env(cls) -> KeyRing | None:
        text = os.environ.get(KEYS_VARIABLE)
        return cls.parse(text, os.environ.get(ACTIVE_VARIABLE)) if text else None

    @classmethod
    def generate(cls, key_id: str = "k1") -> KeyRing:
        return cls(keys={key_id: SecretBytes(AESGCM.generate_key(bit_length=256))}, active=key_id)

    def to_env(self) -> dict[str, str]:
        """The environment variables that give another process this key ring."""
        text = ",".join(
            f"{key_id}={base64.b64encode(key.get_secret_value()).decode()}"
            for key_id, key in self.keys.items()
        )
        return {KEYS_VARIABLE: text, ACTIVE_VARIABLE: self.active}


def _is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]") if ":" in address else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def writer_key_ring(address: str, keys: KeyRing | None = None) -> KeyRing | None:
    """The key ring a process that writes orders must use: `keys`, or the environment's.

    Without one it refuses (`EncryptionKeysMissing`, a sentence naming the variables), unless
    the development switch is set to its exact value and Temporal is on a loopback address:
    then None, and payloads travel in plain text."""
    ring = keys or KeyRing.from_env()
    if ring is not None:
        return ring
    switch = os.environ.get(PLAINTEXT_SWITCH)
    if switch == PLAINTEXT_CONSENT and _is_loopback(address):
        return None
    if switch == PLAINTEXT_CONSENT:
        raise EncryptionKeysMissing(
            f"{PLAINTEXT_SWITCH} only works with a Temporal on a loopback address, not "
            f"{address}; set {KEYS_VARIABLE} (and {ACTIVE_VARIABLE}) to encrypt orders."
        )
    raise EncryptionKeysMissing(
        f"Orders carry personal data and are only sent encrypted: set {KEYS_VARIABLE} "
        f"(and optionally {ACTIVE_VARIABLE}); for the dev stack, load its codec-keys.env. "
        f"Nothing was sent."
    )


def _arrived(payload: Payload, arrival: Arrival) -> Payload:
    marked = Payload()
    marked.CopyFrom(payload)
    marked.metadata[ARRIVAL] = arrival.value.encode()
    return marked


def _unreadable(why: str) -> Payload:
    """What an undecryptable payload reads as: a JSON sentence (what the Web UI shows through
    the codec server), marked so that a workflow input becomes its model's `unreadable()`."""
    return Payload(
        metadata={"encoding": b"json/plain", ARRIVAL: Arrival.UNREADABLE.value.encode()},
        data=json.dumps(f"unreadable payload: {why}").encode(),
    )


def _shown_key_id(key_id: bytes) -> str:
    text = key_id.decode("utf-8", "replace")
    return repr(text) if re.fullmatch(r"[A-Za-z0-9._-]{1,40}", text) else "(not a key id)"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: KeyRing) -> None:
        self._active = keys.active
        self._ciphers = {k: AESGCM(v.get_secret_value()) for k, v in keys.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._active]
        key_id = self._active.encode()
        out = []
        for payload in payloads:
            nonce = os.urandom(_NONCE)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id)
            out.append(
                Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Never raises for what a sender put in a payload: a plain one is marked `plain`, one
        that cannot be decrypted (damaged, forged, or sealed with a key this ring does not
        hold) becomes `unreadable`, so a poisoned input cannot fail a workflow task forever."""
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(_arrived(payload, Arrival.PLAIN))
                continue
            out.append(self._open(payload))
        return out

    def _open(self, payload: Payload) -> Payload:
        key_id = payload.metadata.get(KEY_ID, b"")
        cipher = self._ciphers.get(key_id.decode("utf-8", "replace"))
        if cipher is None:
            return _unreadable(f"sealed with key {_shown_key_id(key_id)}, not in this key ring")
        if len(payload.data) < _NONCE + _TAG:
            return _unreadable("too short to be sealed data")
        try:
            data = cipher.decrypt(payload.data[:_NONCE], payload.data[_NONCE:], key_id)
            inner = Payload.FromString(data)
        except (InvalidTag, ValueError, DecodeError):
            return _unreadable("damaged or not sealed with this key")
        return _arrived(inner, Arrival.ENCRYPTED)


class PlainDevelopmentCodec(PayloadCodec):
    """No encryption (the development switch): payloads are only marked `plain` on reading."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            _unreadable("sealed, and this process holds no keys")
            if p.metadata.get("encoding") == ENCODING
            else _arrived(p, Arrival.PLAIN)
            for p in payloads
        ]


class _ArrivalNotingJSON(PydanticJSONPlainPayloadConverter):
    """Pydantic JSON that tells a model which declares `_arrival` how its payload arrived, and
    turns an unreadable, oversized or too deeply nested input into the model's `unreadable()`
    instead of an exception (for models that have one)."""

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        if not _notes_arrival(type_hint):
            return super().from_payload(payload, type_hint)
        assert type_hint is not None
        arrival = _arrival_of(payload)
        if arrival is not Arrival.UNREADABLE and len(payload.data) > MAX_INPUT_BYTES:
            arrival = Arrival.UNREADABLE
        value: Any = None
        if arrival is not Arrival.UNREADABLE:
            try:
                value = super().from_payload(payload, type_hint)
            except ValidationError as error:
                if not any(e["type"] == "json_invalid" for e in error.errors()):
                    raise
                arrival = Arrival.UNREADABLE
        if arrival is Arrival.UNREADABLE:
            unreadable = getattr(type_hint, "unreadable", None)
            if unreadable is None:
                raise ValueError(f"an unreadable {type_hint.__name__} was dropped")
            value = unreadable()
        setattr(value, ARRIVAL_ATTRIBUTE, arrival)
        return value


def _arrival_of(payload: Payload) -> Arrival:
    try:
        return Arrival(payload.metadata.get(ARRIVAL, b"").decode())
    except ValueError:
        return Arrival.UNKNOWN


def _notes_arrival(hint: object) -> bool:
    return (
        isinstance(hint, type)
        and issubclass(hint, BaseModel)
        and ARRIVAL_ATTRIBUTE in hint.__private_attributes__
    )


class _PayloadConverter(CompositePayloadConverter):
    """Pydantic's converters, with the arrival-noting JSON one. A payload for a model that notes
    its arrival but is not JSON at all (`binary/null`, `binary/plain`, an unknown encoding) reads
    as unreadable; a payload for any model that decodes to something else is an error (the SDK
    then drops the signal or rejects the update) rather than a value a handler would trip on."""

    def __init__(self) -> None:
        converters = [
            _ArrivalNotingJSON() if isinstance(c, PydanticJSONPlainPayloadConverter) else c
            for c in PydanticPayloadConverter().converters.values()
        ]
        super().__init__(*converters)

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        hints: list[type | None] = (
            list(type_hints)
            if type_hints is not None and len(type_hints) == len(payloads)
            else [None] * len(payloads)
        )
        payloads = [
            _unreadable("not JSON")
            if _notes_arrival(hint) and p.metadata.get("encoding") != b"json/plain"
            else p
            for p, hint in zip(payloads, hints, strict=True)
        ]
        values = super().from_payloads(payloads, type_hints)
        for value, hint in zip(values, hints, strict=True):
            is_model = isinstance(hint, type) and issubclass(hint, BaseModel)
            if is_model and hint is not None and not isinstance(value, hint):
                raise ValueError(f"a {hint.__name__} payload holds other data")
        return values


class SummarizedFailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """Failure messages and stack traces travel encrypted (they can name a domain, or carry
    Partner Center's description of a refusal); the readable message names only the kind of
    failure: its code, or the exception's class."""

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        failure.message = failure_summary(exception)


def failure_summary(exception: BaseException) -> str:
    if isinstance(exception, ApplicationError) and exception.type:
        kind = exception.type
    else:
        kind = type(exception).__name__
    return f"{kind} (message encrypted)"


def data_converter(keys: KeyRing | None = None, *, from_env: bool = True) -> DataConverter:
    """The converter: pydantic JSON, encrypted with `keys` (or the environment's key ring), with
    encoded failures. With no key ring at all, payloads are plain text (development only; the
    processes that write orders get their ring from `writer_key_ring`, which refuses that)."""
    ring = keys or (KeyRing.from_env() if from_env else None)
    codec: PayloadCodec = EncryptionCodec(ring) if ring else PlainDevelopmentCodec()
    return DataConverter(
        payload_converter_class=_PayloadConverter,
        payload_codec=codec,
        failure_converter_class=SummarizedFailureConverter,
    )


def encrypts(converter: DataConverter) -> bool:
    return isinstance(converter.payload_codec, EncryptionCodec)
