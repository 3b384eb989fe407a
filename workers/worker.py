"""The worker: runs the order and licence workflows and their activities on the task queue, and
the customer-slot and Partner Center quota workflows on its coordination queue (`EngineWorker`).

Partner Center is asked at most `partner_center_requests_per_minute` times a minute by all the
workers of the task queue together: each request waits for the worker's share, leased from the
quota workflow (workers/partner_center_cap.py, workflows/partner_center_quota.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.runtime import Runtime
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
    WorkerDeploymentConfig,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.customer_slot import CustomerSlotActivities
from activities.customer_subscriptions import CustomerSubscriptionsActivities
from activities.first_release import FirstReleaseActivities
from activities.partner_center import PartnerCenterActivities
from activities.webhooks import (
    NO_STOREFRONTS,
    WebhookDelivery,
    WebhookDirectory,
    WebhookEndpoint,
)
from clients.contract import coordination_task_queue
from clients.partner_center import PartnerCenterClient
from clients.payloads import PLAINTEXT_SWITCH, KeyRing, data_converter, encrypts, writer_key_ring
from clients.temporal_connection import TemporalConnection, connect_client, connection_for
from ordering.config import EngineConfig
from workers import metrics
from workers.partner_center_cap import CapReached, SharedRequestCap
from workflows.customer_slot import CustomerSlotWorkflow
from workflows.customer_subscriptions import CustomerSubscriptionsWorkflow
from workflows.licences import LicencesWorkflow
from workflows.order import OrderWorkflow
from workflows.partner_center_quota import PartnerCenterQuotaWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.validate_order import ValidateOrderWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow

CAP_REACHED = "PartnerCenterCapReached"  # a step's failure type while the cap leaves no room
# How long a stopping worker (SIGTERM) lets its running activities finish before cancelling
# them: the longest start-to-close timeout of a step (workflows/steps.py), so a Partner Center
# request in flight is answered rather than cut. Kubernetes' terminationGracePeriodSeconds must
# be longer (deploy/k8s; tests/test_deploy.py checks it).
GRACEFUL_SHUTDOWN = timedelta(seconds=45)

# How many of the coordination queue's workflows a worker keeps in memory between their tasks
# (the SDK's default is 1,000, as for orders). Most of them are customers' subscriptions
# workflows, one per customer, idle for days between a purchase and its refund window's end:
# with the default, they cost the benchmark's parked-orders worker about 40 MB (332 MB, over
# its 300 MB target; 289 MB with this), for nothing but sparing a short replay a week later.
# The hot ones (the cap's quota workflow, the slots of customers with an order in flight) are
# the recently used, which this LRU cache keeps up to 250 at once; beyond, they replay their
# short histories (correct, only costlier).
COORDINATION_CACHED_WORKFLOWS = 250

WORKFLOWS = [
    OrderWorkflow,
    LicencesWorkflow,
    CustomerSlotWorkflow,
    PartnerCenterQuotaWorkflow,
    WebhookDeliveryWorkflow,
    ValidateOrderWorkflow,
]

# Workflows run in Temporal's sandbox, which re-imports every module it does not pass through
# for each run it starts. The rules (`ordering`), the contract and the models already pass
# through (imported in `imports_passed_through()`); passing the workflow modules too saves a
# fifth of the worker's CPU per order (docs/PERFORMANCE.md). What the sandbox would have
# caught in them (a clock, randomness, the environment, files) a static test refuses instead
# (tests/test_workflow_code.py), and the saved histories replay under the full sandbox.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows")
)


async def connect(
    address: str | TemporalConnection | None = None,
    namespace: str | None = None,
    *,
    runtime: Runtime | None = None,
    keys: KeyRing | None = None,
) -> Client:
    """A client for Temporal as Temporal's client configuration describes it
    (clients/temporal_connection.py; `address` and `namespace` override it, or a resolved
    connection replaces it, in `namespace` when one is given: `connection_for`), whose
    payloads are encrypted with `keys`, or the environment's key ring; with neither it raises
    `EncryptionKeysMissing`, unless the development switch allows plain text
    (clients/payloads.py), which it then logs loudly. Settings that cannot be used raise
    `TemporalSettingsInvalid`, a refused connection `TemporalUnreachable` (one line each)."""
    connection = connection_for(address, namespace)
    ring = writer_key_ring(connection.target_host, keys)
    if ring is None:
        structlog.get_logger("worker").warning(
            "payload encryption is off (development switch): personal data is readable in "
            "Temporal, and this worker accepts unencrypted orders",
            switch=PLAINTEXT_SWITCH,
        )
    return await connect_client(
        connection, data_converter=data_converter(ring, from_env=False), runtime=runtime
    )


class _LogContext(Interceptor):
    """Every log line of an activity carries the workflow id, run id and activity type (and so
    the order id, `workers/logs.py`); a step the Partner Center cap held back is retried when
    the cap leaves room."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _LogContextInbound(next)


class _LogContextInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id, run_id=info.workflow_run_id, activity=info.activity_type
        ):
            try:
                return await super().execute_activity(input)
            except CapReached as reached:
                # Nothing was sent: the step is tried again once the cap leaves room.
                raise ApplicationError(
                    str(reached),
                    type=CAP_REACHED,
                    category=ApplicationErrorCategory.BENIGN,
                    next_retry_delay=timedelta(seconds=reached.retry_after),
                ) from None


def tracing_interceptors(exporter: str | None) -> list[Interceptor]:
    """OpenTelemetry tracing through workflows and activities; off unless an exporter is named:
    "console" (stdout), or "otlp" (OTLP over HTTP, configured by the standard variables:
    OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318, OTEL_EXPORTER_OTLP_HEADERS...)."""
    if not exporter:
        return []
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    from temporalio.contrib.opentelemetry import TracingInterceptor

    provider = TracerProvider()
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        raise ValueError(f"unknown trace exporter {exporter!r} (console or otlp)")
    trace.set_tracer_provider(provider)  # flushed at exit (the provider registers its shutdown)
    return [TracingInterceptor()]


def build_worker(
    client: Client,
    partner_center: PartnerCenterClient,
    config: EngineConfig,
    *,
    task_queue: str,
    interceptors: Sequence[Interceptor] = (),
    max_concurrent_activities: int = 200,
    partner_center_requests_per_minute: float | None = None,
    webhook_endpoints: WebhookDirectory | Mapping[str, WebhookEndpoint] | None = None,
    deployment: WorkerDeploymentVersion | None = None,
) -> EngineWorker:
    """The engine's worker on `task_queue`; Partner Center is asked at most
    `partner_center_requests_per_minute` times a minute by all the workers of the task queue
    together (None: no cap). `webhook_endpoints`: each storefront's webhook (by storefront id;
    workers/storefronts.py), where its orders' events are delivered. `deployment`: the Worker
    Deployment version both its workers run as, with Worker Versioning on: what runs on the
    task queue pinned to the build it started on, what runs on the coordination queue
    upgrading to the current build (docs/VERSIONING.md); None, unversioned."""
    partner_center.on_answer = partner_center.on_answer or metrics.partner_center_answered
    if partner_center_requests_per_minute is not None:
        cap = SharedRequestCap(
            client, task_queue, requests_per_minute=partner_center_requests_per_minute
        )
        partner_center.before_request = cap.acquire
    # Plain-text orders are refused unless this worker itself runs without encryption (the
    # development switch); the workflow reads this from the recorded engine configuration.
    config = config.model_copy(
        update={"accepts_unencrypted_orders": not encrypts(client.data_converter)}
    )
    pc = PartnerCenterActivities(partner_center, config)
    first_release = FirstReleaseActivities(pc, config)
    slots = CustomerSlotActivities(client, coordination_task_queue(task_queue))
    subscriptions = CustomerSubscriptionsActivities(client, coordination_task_queue(task_queue))
    # (without any: no storefront is known, and its webhooks are retried until the worker has
    # its storefronts file, then reported as failed: never dropped)
    webhooks = WebhookDelivery(
        webhook_endpoints if webhook_endpoints is not None else NO_STOREFRONTS
    )
    orders = Worker(
        client,
        task_queue=task_queue,
        # (the slot and quota workflows too: runs started on this queue before the
        # coordination queue existed finish here)
        workflows=WORKFLOWS,
        activities=[
            # What asks nobody: the worker's memory
            pc.prepare_order,
            pc.cached_catalog,
            pc.load_engine_config,
            # Partner Center, one request each
            pc.check_reseller,
            pc.check_domain,
            pc.validate_address,
            pc.create_customer,
            pc.get_relationship_link,
            pc.find_customer,
            pc.get_qualifications,
            pc.read_qualifications,
            pc.submit_education_vetting,
            pc.list_customer_agreements,
            pc.read_agreement_template,
            pc.record_customer_agreement,
            pc.read_sku,
            pc.read_availabilities,
            pc.read_subscriptions,
            pc.create_cart,
            pc.checkout_cart,
            pc.await_provisioning,
            pc.get_subscription,
            pc.read_subscription_for_change,
            pc.set_quantity,
            pc.await_quantity,
            # The customer's slot
            slots.take_customer_slot,
            slots.release_customer_slot,
            slots.request_customer_slot,
            # What an order bought, told to its customer's subscriptions workflow
            subscriptions.record_purchases,
            # Storefronts' webhooks (workflows/webhooks.py)
            webhooks.deliver_webhook,
            # The first release's steps, several requests each, for runs started before
            first_release.request_education_vetting,
            first_release.confirm_customer_agreement,
            first_release.describe_offers,
            first_release.purchase,
            first_release.change_quantity,
        ],
        interceptors=[_LogContext(), *interceptors],
        max_concurrent_activities=max_concurrent_activities,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        workflow_runner=WORKFLOW_RUNNER,
        deployment_config=versioned(deployment, VersioningBehavior.PINNED),
    )
    coordination = Worker(
        client,
        task_queue=coordination_task_queue(task_queue),
        workflows=[
            CustomerSlotWorkflow,
            PartnerCenterQuotaWorkflow,
            # After the purchase: refund windows, undo, reconciliation (and their webhooks)
            CustomerSubscriptionsWorkflow,
            ReconciliationWorkflow,
            WebhookDeliveryWorkflow,
        ],
        activities=[
            pc.load_engine_config,
            pc.read_subscriptions,
            pc.read_subscription_for_change,
            pc.set_quantity,
            pc.await_quantity,
            pc.cancel_subscription,
            slots.take_customer_slot,
            slots.release_customer_slot,
            subscriptions.customers_to_reconcile,
            subscriptions.ask_to_reconcile,
            webhooks.deliver_webhook,
        ],
        interceptors=[_LogContext(), *interceptors],
        max_concurrent_activities=max_concurrent_activities,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        workflow_runner=WORKFLOW_RUNNER,
        deployment_config=versioned(deployment, VersioningBehavior.AUTO_UPGRADE),
        max_cached_workflows=COORDINATION_CACHED_WORKFLOWS,
    )
    return EngineWorker(orders, coordination)


def versioned(
    deployment: WorkerDeploymentVersion | None, behaviour: VersioningBehavior
) -> WorkerDeploymentConfig | None:
    """Worker Versioning for a worker of `deployment` whose workflows are all pinned to the build
    they started on or all upgrade (`behaviour`); None: unversioned. Chosen per worker, never in
    `@workflow.defn(versioning_behavior=...)`: the SDK sends a definition's behaviour on every
    workflow task completion, and the server refuses it from an unversioned worker, which then
    completes no workflow at all (docs/VERSIONING.md)."""
    if deployment is None:
        return None
    return WorkerDeploymentConfig(
        version=deployment, use_worker_versioning=True, default_versioning_behavior=behaviour
    )


class EngineWorker:
    """The engine's worker: orders and licence requests on the task queue, and on its
    coordination queue (`clients.contract.coordination_task_queue`) what they wait on inside a
    workflow task: the customers' slots (an update answers only once the slot's own workflow
    task ran) and the Partner Center quota (every request waits for a lease). On one queue,
    a burst of orders each holding a workflow task while its step waits would take every
    workflow task slot, and the slot or quota workflow would wait behind them for none to come
    free. `async with` runs both, and stops both."""

    def __init__(self, orders: Worker, coordination: Worker) -> None:
        self.orders = orders
        self.coordination = coordination
        self._running = contextlib.AsyncExitStack()

    async def __aenter__(self) -> EngineWorker:
        async with contextlib.AsyncExitStack() as starting:
            await starting.enter_async_context(self.coordination)
            await starting.enter_async_context(self.orders)
            self._running = starting.pop_all()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        # (the exception passed on: a worker's fatal error is raised in place of the
        # cancellation it caused)
        await self._running.__aexit__(*exc)
