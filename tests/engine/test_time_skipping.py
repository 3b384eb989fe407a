"""Day-long waits, on a dev server with per-workflow time skipping: expiries and reminders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from clients.contract import SEARCH_ATTRIBUTES
from clients.payloads import data_converter
from clients.storefront import Storefront
from devtools.samples import OFFICE_E3, existing_tenant, line, new_customer, order
from devtools.temporal_cli import temporal_binary
from ordering.config import Waits, load_config
from ordering.refusals import RefusalCode
from ordering.status import Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.engine.partner_center_state import assert_no_customer_created
from tests.helpers import engine_worker

QUEUE = "csp-orders-time-skipping"
# Real day-scale waits, shortened to a few days: each skip of the virtual clock costs about a
# second of wall time on the dev server.
WAITS = Waits(
    tax_id_reminder_every=timedelta(days=1),
    tax_id_expires_after=timedelta(days=3),
    relationship_poll_every=timedelta(days=1),
    relationship_reminder_every=timedelta(days=1),
    relationship_expires_after=timedelta(days=3),
)


@pytest.fixture(scope="module")
async def skipping_shop(engine_sandbox: SandboxServer) -> AsyncIterator[Storefront]:
    env = await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=data_converter(),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.WorkflowTimeSkippingEnabled=true",
        ],
    )
    config = load_config().model_copy(update={"waits": WAITS})
    async with engine_worker(env.client, engine_sandbox, task_queue=QUEUE, config=config) as shop:
        yield shop
    await env.shutdown()


async def test_tax_id_wait_expires_after_the_configured_days(
    skipping_shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    document = order(
        f"ts-ru-{unique}",
        new_customer(
            f"tsru{unique}",
            country="RU",
            address={"city": "Moscow", "postal_code": "125009", "state": ""},
        ),
        line(OFFICE_E3, 1),
    )
    await skipping_shop.place_order(document)
    outcome = await skipping_shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.REFUSED
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.TAX_ID_NOT_PROVIDED
    assert outcome.customer_id is None
    await assert_no_customer_created(admin, f"tsru{unique}")


async def test_relationship_wait_expires_with_a_clear_reason(
    skipping_shop: Storefront, admin: SandboxAdmin, unique: str
) -> None:
    domain = f"tsrel{unique}.onmicrosoft.com"
    await admin.add_tenant(domain, "Never Accepts Ltd")
    document = order(f"ts-rel-{unique}", existing_tenant(domain), line(OFFICE_E3, 1))
    await skipping_shop.place_order(document)
    outcome = await skipping_shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.code is RefusalCode.RELATIONSHIP_NOT_ACCEPTED
    assert "invitation" in outcome.refusal.message
    snapshot = await admin.snapshot()  # the tenant never became the partner's customer
    assert not [c for c in snapshot["customers"] if c["domain"] == domain]
