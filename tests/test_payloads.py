"""The payload codec: AES-GCM with a key id per payload, rotation; plain payloads are read and
marked; undecryptable, oversized or over-deep inputs never raise where a workflow reads them;
writers refuse to run without keys; failure messages travel encrypted."""

from __future__ import annotations

import base64
import json

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from clients.contract import Arrival, Submission, TaxIdSubmission
from clients.payloads import (
    ARRIVAL,
    ENCODING,
    MAX_INPUT_BYTES,
    PLAINTEXT_CONSENT,
    PLAINTEXT_SWITCH,
    EncryptionCodec,
    EncryptionKeysMissing,
    KeyRing,
    PlainDevelopmentCodec,
    data_converter,
    encrypts,
    writer_key_ring,
)

SECRET = b'{"tax_id": "7707083893", "email": "ada@example.com"}'


def plain(data: bytes = SECRET) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


def without_arrival(payload: Payload) -> Payload:
    copy = Payload()
    copy.CopyFrom(payload)
    del copy.metadata[ARRIVAL]
    return copy


async def test_round_trip_hides_the_content() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    [sealed] = await codec.encode([plain()])
    assert sealed.metadata["encoding"] == ENCODING
    assert b"7707083893" not in sealed.SerializeToString()
    [opened] = await codec.decode([sealed])
    assert without_arrival(opened) == plain()
    assert opened.metadata[ARRIVAL] == b"encrypted"


async def test_rotation_reads_old_keys_and_writes_with_the_new_one() -> None:
    old = KeyRing.generate("2025")
    [sealed_old] = await EncryptionCodec(old).encode([plain()])
    new_key = KeyRing.generate("2026")
    rotated = KeyRing(keys={**old.keys, **new_key.keys}, active="2026")
    codec = EncryptionCodec(rotated)
    [opened] = await codec.decode([sealed_old])
    assert without_arrival(opened) == plain()
    [sealed_new] = await codec.encode([plain()])
    assert sealed_new.metadata["encryption-key-id"] == b"2026"
    # A ring without the key reads it as an unreadable payload that says why; it never raises.
    [unread] = await EncryptionCodec(old).decode([sealed_new])
    assert unread.metadata[ARRIVAL] == b"unreadable"
    assert (
        json.loads(unread.data)
        == "unreadable payload: sealed with key '2026', not in this key ring"
    )


async def test_payloads_never_encrypted_are_read_and_marked_plain() -> None:
    [read] = await EncryptionCodec(KeyRing.generate()).decode([plain()])
    assert without_arrival(read) == plain() and read.metadata[ARRIVAL] == b"plain"
    [dev] = await PlainDevelopmentCodec().decode([plain()])
    assert dev.metadata[ARRIVAL] == b"plain"


@pytest.mark.parametrize(
    "forged",
    [
        Payload(metadata={"encoding": ENCODING}, data=b"garbage"),
        Payload(metadata={"encoding": ENCODING, "encryption-key-id": b"k1"}, data=b"x" * 64),
        Payload(metadata={"encoding": ENCODING, "encryption-key-id": b"\xff<b>"}, data=b"x"),
    ],
)
async def test_forged_encrypted_payloads_become_unreadable_inputs(forged: Payload) -> None:
    converter = data_converter(KeyRing.generate("k1"))
    [order] = await converter.decode([forged], [Submission])
    assert order.arrival is Arrival.UNREADABLE and order.root is None
    # A signal's model has no unreadable form: the SDK drops such a signal (with a log line).
    with pytest.raises(ValueError, match="unreadable TaxIdSubmission"):
        await converter.decode([forged], [TaxIdSubmission])


async def test_oversized_and_over_deep_inputs_are_unreadable_not_errors() -> None:
    converter = data_converter(KeyRing.generate())
    deep = plain(b"[" * 5000 + b"]" * 5000)
    big = plain(json.dumps({f"k{n}": n for n in range(MAX_INPUT_BYTES // 8)}).encode())
    assert len(big.data) > MAX_INPUT_BYTES
    for payload in (deep, big):
        [order] = await converter.decode([payload], [Submission])
        assert order.arrival is Arrival.UNREADABLE


async def test_arrival_is_told_to_the_models_that_ask() -> None:
    keyed = data_converter(KeyRing.generate())
    [sealed] = await keyed.encode([TaxIdSubmission(tax_id="7707083893")])
    [read] = await keyed.decode([sealed], [TaxIdSubmission])
    assert read.arrival is Arrival.ENCRYPTED
    [plain_signal] = await keyed.decode([plain(b'{"tax_id": "7707083893"}')], [TaxIdSubmission])
    assert plain_signal.arrival is Arrival.PLAIN and plain_signal.tax_id == "7707083893"


async def test_failure_messages_travel_encrypted_and_the_summary_names_only_the_code() -> None:
    keys = KeyRing.generate()
    converter = data_converter(keys)
    error = ApplicationError(
        "contoso.onmicrosoft.com is taken; call +48 22 123 45 67 or ada@example.com",
        type="DOMAIN_TAKEN",
        non_retryable=True,
    )
    failure = Failure()
    await converter.encode_failure(error, failure)
    wire = failure.SerializeToString()
    for personal in (b"contoso", b"+48", b"ada@example.com"):
        assert personal not in wire
    assert failure.message == "DOMAIN_TAKEN (message encrypted)"
    decoded = await converter.decode_failure(failure)
    assert "contoso.onmicrosoft.com is taken" in str(decoded)


def test_key_ring_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = KeyRing(keys={**KeyRing.generate("a").keys, **KeyRing.generate("b").keys}, active="a")
    for name, value in ring.to_env().items():
        monkeypatch.setenv(name, value)
    parsed = KeyRing.from_env()
    assert parsed is not None and parsed.active == "a" and set(parsed.keys) == {"a", "b"}
    assert "SecretBytes" in repr(parsed) and ring.to_env()["CSP_CODEC_KEYS"] not in repr(parsed)
    with pytest.raises(ValueError, match="no key 'z'"):
        KeyRing.parse(ring.to_env()["CSP_CODEC_KEYS"], "z")
    monkeypatch.delenv("CSP_CODEC_KEYS")
    assert KeyRing.from_env() is None


KEY = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("k=c2hvcnQ=", "key 'k' is 5 bytes; AES-256 needs 32"),
        ("k=not*base64!", "key 'k' is not valid base64"),
        (f"k={KEY},k={KEY}", "key id 'k' is listed twice"),
        (f"={KEY}", "key 1 is not <id>=<base64 of 32 bytes>"),
        ("k", "key 1 is not <id>=<base64 of 32 bytes>"),
        (" , ", "names no key"),
    ],
)
def test_a_bad_key_ring_is_refused_with_a_sentence(text: str, sentence: str) -> None:
    with pytest.raises(ValueError) as refused:
        KeyRing.parse(text)
    message = str(refused.value)
    assert message.startswith("CSP_CODEC_KEYS") and message.endswith(sentence)
    assert KEY not in str(refused.value)


def test_writers_refuse_to_run_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSP_CODEC_KEYS", raising=False)
    monkeypatch.delenv(PLAINTEXT_SWITCH, raising=False)
    with pytest.raises(EncryptionKeysMissing, match="set CSP_CODEC_KEYS"):
        writer_key_ring("127.0.0.1:7233")
    # The development switch takes one exact value, and only with Temporal on loopback.
    monkeypatch.setenv(PLAINTEXT_SWITCH, "1")
    with pytest.raises(EncryptionKeysMissing):
        writer_key_ring("127.0.0.1:7233")
    monkeypatch.setenv(PLAINTEXT_SWITCH, PLAINTEXT_CONSENT)
    assert writer_key_ring("127.0.0.1:7233") is None
    assert writer_key_ring("localhost:7233") is None
    with pytest.raises(EncryptionKeysMissing, match="loopback"):
        writer_key_ring("temporal.example.com:7233")
    ring = KeyRing.generate()
    assert writer_key_ring("temporal.example.com:7233", ring) is ring
    assert encrypts(data_converter(ring)) and not encrypts(data_converter(from_env=False))


@pytest.mark.parametrize(
    "foreign",
    [
        Payload(metadata={"encoding": b"binary/null"}),
        Payload(metadata={"encoding": b"binary/plain"}, data=b"raw bytes"),
        Payload(metadata={"encoding": b"no/such-encoding"}, data=b"{}"),
    ],
)
async def test_inputs_that_are_not_json_are_unreadable_not_errors(foreign: Payload) -> None:
    converter = data_converter(KeyRing.generate())
    [order] = await converter.decode([foreign], [Submission])
    assert order.arrival is Arrival.UNREADABLE
    # A signal's model never receives something else in its place: the SDK drops it.
    with pytest.raises(ValueError):
        await converter.decode([foreign], [TaxIdSubmission])


async def test_a_sealed_input_read_without_keys_is_unreadable() -> None:
    [sealed] = await data_converter(KeyRing.generate()).encode([Submission({"order_id": "x"})])
    [order] = await data_converter(from_env=False).decode([sealed], [Submission])
    assert order.arrival is Arrival.UNREADABLE
