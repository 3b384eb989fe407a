"""What a worker remembers of Partner Center, for a short while: catalog answers (an offer's SKU,
its availabilities) and the Microsoft Customer Agreement's current template.

They are the same for every order and change seldom, so asking again for each order only spends
Partner Center's request budget (about 500 requests a minute per partner). Each worker process
keeps its own copy, written by the activities that read them and read by the order's first step
and by the SKU and template reads (activities, which record what they answered in the order's
history: a replay never asks the cache). An entry older than `max_age` is forgotten; so is an
offer's availability list once Partner Center refuses one of its ids as stale (400018/400019):
the order then reads it again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Generic, TypeVar

from ordering.catalog import AvailabilityFacts, SkuFacts

K = TypeVar("K")
V = TypeVar("V")

AGREEMENT = "MicrosoftCustomerAgreement"
MAX_ENTRIES = 10_000  # per kind: offers times countries is far less; orders of unknown offers too


class _Expiring(Generic[K, V]):
    """A bounded map whose entries expire `max_age` after they were stored."""

    def __init__(self, max_age: timedelta, clock: Callable[[], float]) -> None:
        self._max_age = max_age.total_seconds()
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        stored_at, value = found
        if self._clock() - stored_at >= self._max_age:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (self._clock(), value)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)

    def forget(self, matches: Callable[[K], bool]) -> None:
        for key in [k for k in self._entries if matches(k)]:
            del self._entries[key]


class InFlight(Generic[K, V]):
    """Reads of one key that run at the same time on this worker share one request: a burst of
    orders for one offer on a cold worker asks Partner Center once, not once per order."""

    def __init__(self) -> None:
        self._reads: dict[K, asyncio.Future[V]] = {}

    async def once(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        running = self._reads.get(key)
        if running is None:
            running = asyncio.ensure_future(read())
            self._reads[key] = running
            running.add_done_callback(lambda done: self._done(key, done))
        # (one reader cancelled, say its step timed out, does not cancel the others' read)
        return await asyncio.shield(running)

    def _done(self, key: K, done: asyncio.Future[V]) -> None:
        if self._reads.get(key) is done:
            del self._reads[key]
        if not done.cancelled():
            done.exception()  # read, even if every reader had gone


SkuKey = tuple[str, str]  # country, offer (product:sku), both upper case
AvailabilityKey = tuple[str, str, str | None]  # ... and the targetSegment asked for
# ... and the catalog's generation on this worker: a read started before Partner Center called
# an id stale is no answer for one asked after
AvailabilityRead = tuple[str, str, str | None, int]


class PartnerCenterCache:
    def __init__(self, max_age: timedelta, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._skus: _Expiring[SkuKey, SkuFacts] = _Expiring(max_age, clock)
        self._availabilities: _Expiring[AvailabilityKey, list[AvailabilityFacts]] = _Expiring(
            max_age, clock
        )
        self._agreement_template: _Expiring[str, str] = _Expiring(max_age, clock)
        self.reading_skus: InFlight[SkuKey, SkuFacts] = InFlight()
        self.reading_availabilities: InFlight[AvailabilityRead, list[AvailabilityFacts]] = (
            InFlight()
        )
        self.reading_agreement_template: InFlight[str, str] = InFlight()
        # Counts what Partner Center called stale: availabilities read in an earlier generation
        # are neither shared with a later read nor remembered.
        self.generation = 0

    def sku(self, country: str, offer: str) -> SkuFacts | None:
        return self._skus.get((country.upper(), offer.upper()))

    def remember_sku(self, country: str, sku: SkuFacts) -> None:
        self._skus.put((country.upper(), sku.offer.upper()), sku)

    def availabilities(
        self, country: str, offer: str, target_segment: str | None
    ) -> list[AvailabilityFacts] | None:
        return self._availabilities.get((country.upper(), offer.upper(), target_segment))

    def remember_availabilities(
        self,
        country: str,
        offer: str,
        target_segment: str | None,
        availabilities: list[AvailabilityFacts],
    ) -> None:
        self._availabilities.put((country.upper(), offer.upper(), target_segment), availabilities)

    def forget_catalog_items(self, catalog_item_ids: list[str]) -> None:
        """Partner Center refused one of these catalog items (product:sku:availability) as
        stale: forget the availabilities of their offers, in every country and segment."""
        offers = {":".join(item.upper().split(":")[:2]) for item in catalog_item_ids}
        self._availabilities.forget(lambda key: key[1] in offers)
        self.generation += 1

    def agreement_template(self) -> str | None:
        return self._agreement_template.get(AGREEMENT)

    def remember_agreement_template(self, template_id: str) -> None:
        self._agreement_template.put(AGREEMENT, template_id)
