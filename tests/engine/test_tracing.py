"""OpenTelemetry: one trace from the storefront through the workflow and its activities down to
each Partner Center HTTP call."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from devtools.samples import OFFICE_E3, known_customer, line, order
from ordering.status import Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.helpers import connect_client, engine_worker


def exporter() -> InMemorySpanExporter:
    """Collect spans in memory, whatever tracer provider this test process already has."""
    memory = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


def chain(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = [span.name]
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return list(reversed(names))


async def test_one_trace_from_storefront_to_partner_center(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    unique: str,
) -> None:
    memory = exporter()
    client = await connect_client(temporal, interceptors=[TracingInterceptor()])
    customer_id = await admin.add_customer("Traced", f"traced{unique}.onmicrosoft.com")
    async with engine_worker(client, engine_sandbox, task_queue=f"tracing-{unique}") as shop:
        document = order(f"traced-{unique}", known_customer(customer_id), line(OFFICE_E3, 1))
        await shop.place_order(document)
        assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    spans = memory.get_finished_spans()
    start = next(s for s in spans if s.name == "StartWorkflow:OrderWorkflow")
    ours = [s for s in spans if s.context.trace_id == start.context.trace_id]
    by_id = {s.context.span_id: s for s in ours}
    http = [s for s in ours if s.name == "PartnerCenter POST"]
    assert http, "no Partner Center call in the order's trace"
    purchase = next(s for s in http if str((s.attributes or {}).get("url.path")).endswith("/carts"))
    assert chain(purchase, by_id) == [
        "StartWorkflow:OrderWorkflow",
        "StartActivity:create_cart",
        "RunActivity:create_cart",
        "PartnerCenter POST",
    ]
    assert any(s.name == "RunWorkflow:OrderWorkflow" for s in ours)
    attributes = purchase.attributes or {}
    assert attributes.get("http.response.status_code") == 201
    assert attributes.get("partner_center.correlation_id")
