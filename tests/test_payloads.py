"""The payload codec: AES-GCM with a key id per payload, rotation, plain payloads passed."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import Payload

from clients.payloads import ENCODING, EncryptionCodec, KeyRing, data_converter

SECRET = b'{"tax_id": "7707083893", "email": "ada@example.com"}'


def plain() -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=SECRET)


async def test_round_trip_hides_the_content() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    [sealed] = await codec.encode([plain()])
    assert sealed.metadata["encoding"] == ENCODING
    assert b"7707083893" not in sealed.SerializeToString()
    [opened] = await codec.decode([sealed])
    assert opened == plain()


async def test_rotation_reads_old_keys_and_writes_with_the_new_one() -> None:
    old = KeyRing.generate("2025")
    [sealed_old] = await EncryptionCodec(old).encode([plain()])
    new_key = KeyRing.generate("2026")
    rotated = KeyRing(keys={**old.keys, **new_key.keys}, active="2026")
    codec = EncryptionCodec(rotated)
    assert await codec.decode([sealed_old]) == [plain()]
    [sealed_new] = await codec.encode([plain()])
    assert sealed_new.metadata["encryption-key-id"] == b"2026"
    with pytest.raises(ValueError, match="no key '2026'"):
        await EncryptionCodec(old).decode([sealed_new])


async def test_payloads_never_encrypted_are_read_as_they_are() -> None:
    assert await EncryptionCodec(KeyRing.generate()).decode([plain()]) == [plain()]


def test_key_ring_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = KeyRing(keys={**KeyRing.generate("a").keys, **KeyRing.generate("b").keys}, active="a")
    for name, value in ring.to_env().items():
        monkeypatch.setenv(name, value)
    parsed = KeyRing.from_env()
    assert parsed is not None and parsed.active == "a" and set(parsed.keys) == {"a", "b"}
    assert "SecretBytes" in repr(parsed) and ring.to_env()["CSP_CODEC_KEYS"] not in repr(parsed)
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing.parse("k=c2hvcnQ=")
    with pytest.raises(ValueError, match="no key 'z'"):
        KeyRing.parse(ring.to_env()["CSP_CODEC_KEYS"], "z")
    monkeypatch.delenv("CSP_CODEC_KEYS")
    assert KeyRing.from_env() is None
    assert data_converter().payload_codec is None
