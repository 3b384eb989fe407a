"""The Partner Center cap is shared by every worker of a task queue: two workers, each told the
cap is 60 requests a minute, together send no more than one cap's worth (its burst, then its
rate: workflows/partner_center_quota.py), not two; a Partner Center that throttles past 60 a
minute throttles none of them; the orders that need more wait their turn, they do not fail.
(The benchmark runs a thousand orders under a cap for minutes: docs/PERFORMANCE.md.)"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from clients.contract import order_workflow_id
from clients.partner_center import PartnerCenterClient
from clients.storefront import Storefront
from devtools.samples import BUSINESS_BASIC, line, new_customer, order
from devtools.sandbox_settings import sandbox_client_config
from ordering.config import load_config
from sandbox.admin_client import SandboxAdmin
from sandbox.core import SandboxSettings
from sandbox.faults import FaultSettings
from sandbox.server import SandboxServer
from tests.helpers import connect_client
from workers.worker import build_worker
from workflows.partner_center_quota import bucket_for

CAP = 60


@pytest.fixture
async def capped() -> AsyncIterator[SandboxServer]:
    faults = FaultSettings(rate_limit_per_minute=CAP)
    with SandboxServer(SandboxSettings(provisioning_delay_seconds=0, faults=faults)) as sandbox:
        yield sandbox


async def test_two_workers_share_one_cap_and_nothing_is_throttled(
    temporal: WorkflowEnvironment, capped: SandboxServer
) -> None:
    queue = f"capped-{uuid.uuid4().hex[:8]}"
    admin = SandboxAdmin(capped.base_url)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(2):  # two workers, as two processes would be: each a client of its own
            client = await connect_client(temporal)
            pc = await stack.enter_async_context(
                PartnerCenterClient.from_config(sandbox_client_config(capped))
            )
            await stack.enter_async_context(
                build_worker(
                    client,
                    pc,
                    load_config(),
                    task_queue=queue,
                    partner_center_requests_per_minute=CAP,
                )
            )
        shop = Storefront(temporal.client, task_queue=queue)
        unique = uuid.uuid4().hex[:8]
        documents = [
            order(f"cap-{unique}-{n}", new_customer(f"cap{unique}{n}"), line(BUSINESS_BASIC, 1))
            for n in range(12)  # 72 requests and more: over a minute's cap
        ]
        # The cap is kept in workflow time, the Temporal server's wall clock, so it is measured
        # by that clock too. By its log's timestamps, a fresh CI machine once stepped its wall
        # clock about 17 s forward mid-test; the quota rightly saw 17 s pass, and the monotonic
        # clock's 8 s called that a breach. A step backwards leaves the quota granting by the
        # time that really passed: the longer of the two measures is the bound.
        wall, monotonic = time.time(), time.monotonic()
        await asyncio.gather(*(shop.place_order(d) for d in documents))
        await asyncio.sleep(8)
        calls = await admin.calls()
        elapsed = max(time.time() - wall, time.monotonic() - monotonic)
        served = sum(n for name, n in calls.items() if not name.startswith("FAULT "))
        bucket = bucket_for(CAP)
        # One bucket's worth for both workers (two buckets would allow twice as much, and the
        # orders ask for far more than either).
        assert served <= bucket.burst + bucket.rate * elapsed, (served, elapsed)
        assert served >= bucket.burst  # and the cap's burst was used at once
        assert calls.get("FAULT throttled", 0) == 0
        statuses = [await shop.status(d.order_id) for d in documents]
        assert not any(s.phase.final for s in statuses)  # waiting their turn, not failed
        for document in documents:  # (not to be carried on by later tests' workers)
            await temporal.client.get_workflow_handle(
                order_workflow_id(document.order_id)
            ).terminate("test over")
    await admin.aclose()
