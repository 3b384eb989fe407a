"""How every process turns data into Temporal payloads: pydantic JSON, encrypted with AES-GCM.

Built in one place (`data_converter()`) and used by the worker, the storefront SDK, the CLI, the
dev stack, the chaos harness and the tests. Orders carry personal data (tax IDs, addresses,
e-mails, phone numbers, names); encrypted, it is never readable in the server's database or in
a history fetched without the key.

Keys: `CSP_CODEC_KEYS="<key id>=<base64 of 32 bytes>[,<key id>=...]"`; new payloads use
`CSP_CODEC_ACTIVE_KEY` (default: the last key listed). Every payload records its key id, so a
key is rotated by adding a new one, making it active, and keeping the old one for reading.
Payloads that were never encrypted (e.g. a signal sent with the plain `temporal` CLI) are read
as they are.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, SecretBytes
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEYS_VARIABLE = "CSP_CODEC_KEYS"
ACTIVE_VARIABLE = "CSP_CODEC_ACTIVE_KEY"


class KeyRing(BaseModel):
    keys: dict[str, SecretBytes]
    active: str

    @classmethod
    def parse(cls, text: str, active: str | None = None) -> KeyRing:
        keys: dict[str, SecretBytes] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key_id, _, encoded = item.partition("=")
            raw = base64.b64decode(encoded)
            if not key_id or len(raw) != 32:
                raise ValueError(f"{KEYS_VARIABLE}: each key is <id>=<base64 of 32 bytes>")
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


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: KeyRing) -> None:
        self._active = keys.active
        self._ciphers = {k: AESGCM(v.get_secret_value()) for k, v in keys.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._active]
        key_id = self._active.encode()
        out = []
        for payload in payloads:
            nonce = os.urandom(12)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id)
            out.append(
                Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)  # never encrypted (e.g. plain JSON from the temporal CLI)
                continue
            key_id = payload.metadata[KEY_ID]
            cipher = self._ciphers.get(key_id.decode())
            if cipher is None:
                raise ValueError(f"no key {key_id.decode()!r} to decrypt a payload")
            data = cipher.decrypt(payload.data[:12], payload.data[12:], key_id)
            out.append(Payload.FromString(data))
        return out


def data_converter(keys: KeyRing | None = None, *, from_env: bool = True) -> DataConverter:
    """The converter: pydantic JSON, encrypted with `keys` (or the environment's key ring)."""
    ring = keys or (KeyRing.from_env() if from_env else None)
    if ring is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(ring))
