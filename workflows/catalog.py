"""Catalog facts for an order's lines, as its workflows read them: what the worker remembers
(`activities/partner_center_cache.py`), the rest asked of Partner Center, one request per SKU
and per availability list, at once. The order reads them before its checks (and again when
they grew old or Microsoft called an availability stale); the dry run reads them the same way.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import messages as m
    from ordering.catalog import AvailabilityFacts, SkuFacts, offer_facts
    from ordering.document import OrderDocument
    from ordering.planning import OfferFacts
    from workflows import steps


def catalog_query(order: OrderDocument) -> m.CatalogQuery:
    """The order's offers, each for its line's segment, once."""
    queries: dict[tuple[str, str], m.OfferQuery] = {}
    for line in order.lines:
        queries.setdefault(
            (line.offer, line.segment.value), m.OfferQuery(offer=line.offer, segment=line.segment)
        )
    return m.CatalogQuery(country=order.country, offers=list(queries.values()))


async def read_catalog(
    order: OrderDocument, remembered: m.CachedCatalog | None, *, fresh: bool = False
) -> dict[str, OfferFacts]:
    """Catalog facts for every line: what the worker remembers (`remembered`), the rest read
    from Partner Center; `fresh` reads the availabilities again whatever is remembered
    (Microsoft said an id is stale)."""
    known = {(c.offer, c.segment): c for c in (remembered.offers if remembered else [])}
    skus: dict[str, SkuFacts] = {}
    for c in known.values():
        if c.sku is not None:
            skus[c.offer] = c.sku
    wanted = catalog_query(order).offers
    missing = sorted({q.offer for q in wanted if q.offer not in skus})
    for offer, sku in zip(
        missing,
        await asyncio.gather(
            *(
                steps.ask(m.READ_SKU, m.SkuQuery(country=order.country, offer=offer), SkuFacts)
                for offer in missing
            )
        ),
        strict=True,
    ):
        skus[offer] = sku
    availabilities: dict[tuple[str, str], list[AvailabilityFacts]] = {}
    to_read = []
    for q in wanted:
        cached = known.get((q.offer, q.segment))
        if not skus[q.offer].found:
            availabilities[(q.offer, q.segment)] = []
        elif cached is not None and cached.availabilities is not None and not fresh:
            availabilities[(q.offer, q.segment)] = cached.availabilities
        else:
            to_read.append(q)
    read = await asyncio.gather(
        *(
            steps.ask(
                m.READ_AVAILABILITIES,
                m.AvailabilityQuery(country=order.country, offer=q.offer, segment=q.segment),
                m.Availabilities,
            )
            for q in to_read
        )
    )
    for q, answer in zip(to_read, read, strict=True):
        availabilities[(q.offer, q.segment)] = answer.items
    facts = {
        line.offer: offer_facts(
            skus[line.offer], availabilities[(line.offer, line.segment)], line.segment
        )
        for line in order.lines
    }
    return facts
