"""Who is calling: the storefront whose API key is presented (`Authorization: Bearer`).

The storefronts file is read again when it changes (workers/storefronts.py, `StorefrontsFile`),
so a key is added or revoked without restarting the API."""

from __future__ import annotations

from dataclasses import dataclass

from workers.storefronts import StorefrontsFile, key_id_of


@dataclass(frozen=True)
class Caller:
    storefront: str
    key_id: str
    rate_limit_per_minute: int


class Storefronts(StorefrontsFile):
    """The storefronts file, as the API reads it: who a key belongs to."""

    def caller(self, authorization: str | None) -> Caller | None:
        """The caller of a request with this `Authorization` header; None without a valid key."""
        if not authorization:
            return None
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None
        presented = presented.strip()
        directory = self.current()
        storefront = directory.storefront_of_key(presented)
        if storefront is None:
            return None
        return Caller(
            storefront=storefront,
            key_id=key_id_of(presented) or "",
            rate_limit_per_minute=directory.storefronts[storefront].rate_limit_per_minute,
        )
