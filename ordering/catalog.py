"""What Microsoft's catalog says of an offer, and what an order line makes of it.

Partner Center answers two reads per offer (product:SKU): the SKU (its title and how many seats
a subscription may hold) and the SKU's availabilities (one per segment, each with the catalog
item id a purchase names and whether it can still be bought). The engine keeps those answers
for a short while (`EngineConfig.catalog_max_age`) and turns them into `OfferFacts` for the
segment an order line asks for. Pure: the reads are the activities'.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ordering.document import Segment
from ordering.planning import OfferFacts


class SkuFacts(BaseModel):
    """Partner Center's SKU of an offer in a country; `found=False` when it has none."""

    model_config = ConfigDict(frozen=True)

    offer: str  # product:sku
    found: bool = True
    title: str = ""
    minimum_quantity: int = 1
    maximum_quantity: int = 10_000


class AvailabilityFacts(BaseModel):
    """One availability of a SKU: the segment it is sold in (in Microsoft's casing, which
    varies), whether it can be bought, and the catalog item a purchase names."""

    model_config = ConfigDict(frozen=True)

    segment: str | None
    purchasable: bool
    catalog_item_id: str


def availabilities_asked_for(segment: Segment) -> str | None:
    """The `targetSegment` to ask availabilities for: Microsoft lists non-profit ones only when
    asked for them; every other segment comes without asking."""
    return "nonprofit" if segment is Segment.NONPROFIT else None


def chosen_availability(
    availabilities: list[AvailabilityFacts], segment: Segment
) -> AvailabilityFacts | None:
    """The availability for the line's segment (Microsoft sends "commercial" where its field
    table says "Commercial": compared without case)."""
    wanted = segment.value.lower()
    return next((a for a in availabilities if (a.segment or "").lower() == wanted), None)


def offer_facts(
    sku: SkuFacts, availabilities: list[AvailabilityFacts], segment: Segment
) -> OfferFacts:
    """The facts an order line of `segment` is planned and judged with."""
    if not sku.found:
        return OfferFacts(
            offer=sku.offer, title=sku.offer, found=False, purchasable=False, sold_in_segment=False
        )
    chosen = chosen_availability(availabilities, segment)
    return OfferFacts(
        offer=sku.offer,
        title=sku.title or sku.offer,
        found=True,
        purchasable=chosen.purchasable if chosen else False,
        sold_in_segment=chosen is not None,
        minimum_quantity=sku.minimum_quantity,
        maximum_quantity=sku.maximum_quantity,
        catalog_item_id=chosen.catalog_item_id if chosen else None,
    )
