"""Who is calling: the storefront whose API key is presented (`Authorization: Bearer`).

The storefronts file is read again when it changes (checked at most once a second), so a key is
added or revoked without restarting the API; a file that became invalid is not used (the last
valid one stays, and the API logs why)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from workers.storefronts import (
    StorefrontDirectory,
    StorefrontsNotConfigured,
    key_id_of,
    load_storefronts,
)

log = structlog.get_logger("csp_orders.api")
RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Caller:
    storefront: str
    key_id: str
    rate_limit_per_minute: int


class Storefronts:
    def __init__(self, path: Path | None, directory: StorefrontDirectory | None = None) -> None:
        self._path = path
        self._directory = directory if directory is not None else load_storefronts(path or "")
        self._seen = self._stamp()
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _stamp(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            stat = os.stat(self._path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def current(self) -> StorefrontDirectory:
        if self._path is None or time.monotonic() - self._checked < RECHECK_SECONDS:
            return self._directory
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._stamp()
            if stamp != self._seen:
                self._seen = stamp
                try:
                    self._directory = load_storefronts(self._path)
                    log.info(
                        "storefronts file read again", storefronts=len(self._directory.storefronts)
                    )
                except StorefrontsNotConfigured as error:
                    log.warning(
                        "storefronts file not used; the last valid one stays", reason=str(error)
                    )
            return self._directory

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
