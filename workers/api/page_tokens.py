"""The order list's `next_page_token`: Temporal's token, sealed with an HMAC for the query it
belongs to (the storefront, the phase, the customer), so only a token this API gave out, for the
same query, ever reaches Temporal. Temporal does not refuse a forged token at once: its client
retries the server's error for the whole answer timeout (seconds per request), so an unsealed
token would let any caller keep Temporal busy; a sealed one that does not verify is a 422 at
once.

The key is derived from the payload key ring (`CSP_CODEC_KEYS`, the same in every API process),
so a token from one API process is good on another; without a key ring (the development switch
that stores orders unencrypted) each process draws its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from clients.payloads import KeyRing

SEPARATOR = "~"  # not in Temporal's token (URL-safe base64)
_PURPOSE = b"csp-orders api: order list page tokens"


class PageTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def for_key_ring(cls, ring: KeyRing | None) -> PageTokens:
        if ring is None:
            return cls(secrets.token_bytes(32))
        active = ring.keys[ring.active].get_secret_value()
        return cls(hmac.new(active, _PURPOSE, hashlib.sha256).digest())

    def _mac(self, query: str, token: str) -> str:
        digest = hmac.new(self._key, f"{query}\n{token}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def seal(self, query: str, token: str) -> str:
        """`token` (Temporal's, as the SDK gives it) for the list `query`."""
        return f"{token}{SEPARATOR}{self._mac(query, token)}"

    def open(self, query: str, sealed: str) -> str | None:
        """The token sealed for `query`; None for one this API did not give out for it."""
        token, separator, mac = sealed.rpartition(SEPARATOR)
        if not separator or not token:
            return None
        return token if hmac.compare_digest(mac, self._mac(query, token)) else None
