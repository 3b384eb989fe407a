"""A worker's catalog reads (activities/partner_center.py, activities/partner_center_cache.py),
against the sandbox over HTTP: orders that read one offer at the same moment on one worker (a
burst on a cold worker) send Partner Center one request, not one each; a SKU read afterwards is
answered from memory; availabilities are never answered from memory (an order reads them again
when the remembered ones were refused as stale, maybe on another worker). The Microsoft Customer
Agreement's template is shared and remembered as a SKU is."""

from __future__ import annotations

import asyncio

from activities import messages as m
from activities.partner_center import PartnerCenterActivities
from clients.partner_center import PartnerCenterClient
from ordering.config import EngineConfig
from sandbox.admin_client import SandboxAdmin

OFFER = "CFQ7TTC0LH18:0001"  # Microsoft 365 Business Basic
SKU = "GET /v1/products/{product_id}/skus/{sku_id}"
AVAILABILITIES = "GET /v1/products/{product_id}/skus/{sku_id}/availabilities"
AGREEMENT_TEMPLATE = "GET /v1/agreements"


async def test_reads_at_the_same_moment_share_one_request(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    steps = PartnerCenterActivities(pc, EngineConfig())
    await admin.clear_calls()
    skus = await asyncio.gather(
        *(steps.read_sku(m.SkuQuery(country="US", offer=OFFER)) for _ in range(20))
    )
    availabilities = await asyncio.gather(
        *(
            steps.read_availabilities(
                m.AvailabilityQuery(country="US", offer=OFFER, segment="Commercial")
            )
            for _ in range(20)
        )
    )
    calls = await admin.calls()
    assert (calls.get(SKU), calls.get(AVAILABILITIES)) == (1, 1), calls
    assert len({s.model_dump_json() for s in skus}) == 1 and skus[0].found
    assert all(a == availabilities[0] for a in availabilities)
    assert any(a.purchasable for a in availabilities[0].items)

    # Later: the SKU from memory; the availabilities asked again.
    await admin.clear_calls()
    assert await steps.read_sku(m.SkuQuery(country="us", offer=OFFER)) == skus[0]
    await steps.read_availabilities(
        m.AvailabilityQuery(country="US", offer=OFFER, segment="Commercial")
    )
    calls = await admin.calls()
    assert (calls.get(SKU), calls.get(AVAILABILITIES)) == (None, 1), calls


async def test_a_failed_read_fails_every_reader_and_is_not_remembered(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    steps = PartnerCenterActivities(pc, EngineConfig())
    unknown = m.SkuQuery(country="US", offer="NOSUCHPRODUCT:0001")
    answers = await asyncio.gather(*(steps.read_sku(unknown) for _ in range(5)))
    assert all(not a.found for a in answers)  # Partner Center's 404: "no such SKU", for all
    await admin.clear_calls()
    await asyncio.gather(*(steps.read_sku(unknown) for _ in range(3)))
    assert (await admin.calls()).get(SKU) is None  # remembered as not found, like any answer


async def test_a_read_after_a_stale_refusal_does_not_join_one_from_before(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    """Partner Center called an availability stale while a read of it was under way: a read
    asked afterwards sends its own request, and the one from before is not remembered."""
    steps = PartnerCenterActivities(pc, EngineConfig())
    query = m.AvailabilityQuery(country="US", offer=OFFER, segment="Commercial")
    await admin.clear_calls()
    before = asyncio.ensure_future(steps.read_availabilities(query))
    await asyncio.sleep(0)  # under way
    steps.cache.forget_catalog_items([f"{OFFER}:CFQ7TTC0K971"])
    after = await steps.read_availabilities(query)
    await before
    assert (await admin.calls()).get(AVAILABILITIES) == 2
    assert after.items
    assert steps.cache.availabilities("US", OFFER, None) == after.items


async def test_agreement_template_reads_at_the_same_moment_share_one_request(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    """A burst of new customers on a cold worker: every order began before any template was
    remembered, so each comes to the read; they send one request, and a later one none."""
    steps = PartnerCenterActivities(pc, EngineConfig())
    await admin.clear_calls()
    templates = await asyncio.gather(
        *(steps.read_agreement_template(m.NoInput()) for _ in range(20))
    )
    assert (await admin.calls()).get(AGREEMENT_TEMPLATE) == 1
    assert len({t.template_id for t in templates}) == 1 and templates[0].template_id
    await admin.clear_calls()
    assert await steps.read_agreement_template(m.NoInput()) == templates[0]
    assert steps.cache.agreement_template() == templates[0].template_id
    assert (await admin.calls()).get(AGREEMENT_TEMPLATE) is None
