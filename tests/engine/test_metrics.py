"""Prometheus metrics: the Temporal runtime's, and the engine's own counters."""

from __future__ import annotations

import httpx
from temporalio.testing import WorkflowEnvironment

from devtools.samples import EDUCATION_A1, OFFICE_E3, known_customer, line, order
from ordering.status import Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import free_port
from sandbox.server import SandboxServer
from tests.helpers import connect_client, engine_worker
from workers.metrics import prometheus_runtime


async def test_orders_phases_refusals_and_partner_center_calls_are_counted(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    unique: str,
) -> None:
    port = free_port()
    client = await connect_client(temporal, runtime=prometheus_runtime(port))
    customer_id = await admin.add_customer("Metrics", f"metrics{unique}.onmicrosoft.com")
    async with engine_worker(client, engine_sandbox, task_queue=f"metrics-{unique}") as shop:
        ok = order(f"m-ok-{unique}", known_customer(customer_id), line(OFFICE_E3, 1))
        no = order(
            f"m-no-{unique}",
            known_customer(customer_id),
            line(EDUCATION_A1, 1, segment="Education"),
        )
        for document in (ok, no):
            await shop.place_order(document)
        assert (await shop.wait_for_outcome(ok.order_id)).phase is Phase.COMPLETED
        assert (await shop.wait_for_outcome(no.order_id)).phase is Phase.REFUSED
        snapshot = await admin.snapshot()  # only the first order bought anything
        assert len([s for s in snapshot["subscriptions"] if s["customerId"] == customer_id]) == 1
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    lines = text.splitlines()
    assert any(x.startswith("csp_orders_orders") and 'phase="completed"' in x for x in lines)
    assert any(
        x.startswith("csp_orders_orders") and 'refusal_code="NOT_ELIGIBLE"' in x for x in lines
    )
    assert any(
        x.startswith("csp_orders_phase_entered") and 'phase="purchasing"' in x for x in lines
    )
    assert any(
        x.startswith("csp_orders_partner_center_calls") and 'status="201"' in x for x in lines
    )
    assert any(x.startswith("temporal_workflow_completed") for x in lines)
