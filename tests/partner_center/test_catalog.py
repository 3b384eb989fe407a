"""The catalog: products, SKUs, availabilities, and unknown ids."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from clients.partner_center import PartnerCenterClient, PartnerCenterError


async def test_products_skus_and_availabilities(pc: PartnerCenterClient) -> None:
    products = await pc.list_products("US")
    titles = {p.title for p in products}
    assert {
        "Microsoft 365 Business Basic",
        "Office 365 E3",
        "Dynamics 365 Sales Enterprise",
        "Office 365 A1 for faculty",
        "Office 365 G3 GCC",
    } <= titles

    [sku] = await pc.list_skus("CFQ7TTC0LH18", "US")
    assert (sku.minimum_quantity, sku.maximum_quantity) == (1, 300)
    assert set(sku.supported_billing_cycles) == {"monthly", "annual"}
    assert (await pc.get_sku("CFQ7TTC0LH18", "0001", "US")).title == sku.title

    availabilities = await pc.list_availabilities("CFQ7TTC0LH18", "0001", "US")
    by_segment = {a.segment: a for a in availabilities}
    commercial = by_segment["commercial"]  # Microsoft's casing on the wire, not its field table's
    assert commercial.catalog_item_id == "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
    assert commercial.is_purchasable
    assert {(t.duration, t.billing_cycle) for t in commercial.terms} == {
        ("P1M", "monthly"),
        ("P1Y", "monthly"),
        ("P1Y", "annual"),
    }
    # Non-profit availabilities are listed only when asked for (as Microsoft documents).
    assert "nonprofit" not in by_segment
    [nonprofit] = await pc.list_availabilities(
        "CFQ7TTC0LH18", "0001", "US", target_segment="nonprofit"
    )
    assert nonprofit.segment == "nonprofit"


async def test_segment_filter_and_end_of_sale(pc: PartnerCenterClient) -> None:
    education = await pc.list_products("US", target_segment="Education")
    assert {p.title for p in education} == {
        "Office 365 A1 for faculty",
        "Microsoft 365 A3 for faculty",
    }
    [voice] = await pc.list_availabilities("CFQ7TTC0LGZT", "0001", "US")
    assert not voice.is_purchasable


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda pc: pc.get_product("NOPE", "US"), "400013"),
        (lambda pc: pc.get_sku("CFQ7TTC0LH18", "9999", "US"), "400018"),
        (lambda pc: pc.list_skus("NOPE", "US"), "400013"),
    ],
)
async def test_unknown_catalog_ids(
    pc: PartnerCenterClient, call: Callable[[PartnerCenterClient], Awaitable[object]], code: str
) -> None:
    with pytest.raises(PartnerCenterError) as caught:
        await call(pc)
    assert (caught.value.status, caught.value.code) == (404, code)
