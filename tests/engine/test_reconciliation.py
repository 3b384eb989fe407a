"""The scheduled reconciliation's walk over the customers (workflows/reconciliation.py): every
running customer's subscriptions workflow of the task queue is asked, page by page, once; other
task queues' are not. (What a customer's reconciliation finds:
tests/engine/test_refund_windows.py.)"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities import messages as m
from activities.customer_subscriptions import CustomerSubscriptionsActivities
from clients.contract import coordination_task_queue
from clients.subscription_lifecycle import (
    CUSTOMER_SUBSCRIPTIONS_WORKFLOW,
    RECONCILIATION_WORKFLOW,
    ReconciliationStart,
    SubscriptionsState,
    customer_subscriptions_workflow_id,
)
from sandbox.server import SandboxServer
from tests.helpers import engine_worker, eventually


async def start_customers(client: Client, queue: str, count: int) -> list[str]:
    """`count` customers' subscriptions workflows on `queue`'s coordination queue (nothing
    recorded yet: their reconciliation reads nothing)."""
    customers = [f"recon-{uuid.uuid4().hex[:8]}" for _ in range(count)]
    for customer_id in customers:
        await client.start_workflow(
            CUSTOMER_SUBSCRIPTIONS_WORKFLOW,
            SubscriptionsState(customer_id=customer_id),
            id=customer_subscriptions_workflow_id(customer_id),
            task_queue=coordination_task_queue(queue),
        )
    return customers


async def test_the_customers_are_listed_page_by_page_and_only_this_queues(
    temporal: WorkflowEnvironment,
) -> None:
    client = temporal.client
    queue = f"recon-pages-{uuid.uuid4().hex[:8]}"
    mine = await start_customers(client, queue, 3)
    await start_customers(client, f"recon-other-{uuid.uuid4().hex[:8]}", 1)
    steps = CustomerSubscriptionsActivities(client, coordination_task_queue(queue))

    async def all_listed() -> list[str] | None:
        found: list[str] = []
        token: str | None = None
        while True:
            page = await steps.customers_to_reconcile(
                m.ReconcilePage(page_token=token, page_size=2)
            )
            assert len(page.customer_ids) <= 2
            found += page.customer_ids
            token = page.next_page_token
            if token is None:
                return found if sorted(found) == sorted(mine) else None

    await eventually(all_listed, timeout=30, what="the three customers listed in pages of two")
    for customer_id in mine:
        await client.get_workflow_handle(
            customer_subscriptions_workflow_id(customer_id)
        ).terminate()


async def test_a_reconciliation_run_asks_every_customer_once(
    temporal: WorkflowEnvironment, engine_sandbox: SandboxServer
) -> None:
    client = temporal.client
    queue = f"recon-run-{uuid.uuid4().hex[:8]}"
    customers = await start_customers(client, queue, 3)
    steps = CustomerSubscriptionsActivities(client, coordination_task_queue(queue))

    async def visible() -> bool:
        page = await steps.customers_to_reconcile(m.ReconcilePage())
        return len(page.customer_ids) == 3

    await eventually(visible, timeout=30, what="the customers visible")
    async with engine_worker(client, engine_sandbox, task_queue=queue):
        asked = await client.execute_workflow(
            RECONCILIATION_WORKFLOW,
            ReconciliationStart(per_minute=6000),
            id=f"reconciliation-{queue}",
            task_queue=coordination_task_queue(queue),
            result_type=int,
            execution_timeout=timedelta(minutes=2),
        )
        assert asked == 3
        for customer_id in customers:
            handle = client.get_workflow_handle(customer_subscriptions_workflow_id(customer_id))
            history = await handle.fetch_history()
            signals = [
                e.workflow_execution_signaled_event_attributes.signal_name
                for e in history.events
                if e.HasField("workflow_execution_signaled_event_attributes")
            ]
            assert signals == ["reconcile"]
            await handle.terminate()
