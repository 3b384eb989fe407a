"""`csp-orders worker --trace-exporter otlp` sends an order's spans, down to the Partner Center
calls, to an OTLP/HTTP collector named by the standard OTEL_EXPORTER_OTLP_ENDPOINT."""

from __future__ import annotations

import asyncio
import gzip
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from temporalio.testing import WorkflowEnvironment

from clients.storefront import Storefront
from devtools.samples import OFFICE_E3, known_customer, line, order
from ordering.status import Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import BackgroundServer
from sandbox.server import SandboxServer
from tests.helpers import eventually, worker_env


class Collector:
    """A minimal OTLP/HTTP trace receiver: it keeps the names of the spans it is sent."""

    def __init__(self) -> None:
        self.span_names: list[str] = []
        self.app = Starlette(routes=[Route("/v1/traces", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        for resource in export.resource_spans:
            for scope in resource.scope_spans:
                self.span_names += [span.name for span in scope.spans]
        return Response(b"", media_type="application/x-protobuf")


@pytest.fixture
def collector() -> Iterator[tuple[Collector, str]]:
    receiver = Collector()
    with BackgroundServer(receiver.app, name="OTLP collector") as server:
        yield receiver, server.base_url


async def test_the_worker_exports_an_orders_spans_over_otlp(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    collector: tuple[Collector, str],
    unique: str,
) -> None:
    receiver, endpoint = collector
    queue = f"otlp-{unique}"
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.cli",
        "worker",
        "--trace-exporter",
        "otlp",
        env=worker_env(
            temporal.client.service_client.config.target_host,
            engine_sandbox,
            CSP_TASK_QUEUE=queue,
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_BSP_SCHEDULE_DELAY="200",
        ),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        customer_id = await admin.add_customer("Exported", f"otlp{unique}.onmicrosoft.com")
        shop = Storefront(temporal.client, task_queue=queue)
        document = order(f"otlp-{unique}", known_customer(customer_id), line(OFFICE_E3, 2))
        await shop.place_order(document)
        outcome = await asyncio.wait_for(shop.wait_for_outcome(document.order_id), 120)
        assert outcome.phase is Phase.COMPLETED
        wanted = {
            "RunActivity:read_qualifications",
            "RunActivity:create_cart",
            "PartnerCenter POST",
        }

        async def exported() -> bool:
            return wanted <= set(receiver.span_names)

        await eventually(
            exported, timeout=30, every=0.2, what=lambda: str(sorted(set(receiver.span_names)))
        )
    finally:
        worker.terminate()
        await worker.wait()
