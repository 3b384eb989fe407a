"""Telling a customer's subscriptions workflow what an order bought (signal-with-start), and the
scheduled reconciliation's steps: a page of the customers to reconcile (Temporal's visibility),
and asking each of them (a signal). All need a Temporal client, hence activities."""

from __future__ import annotations

import base64

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities import messages as m
from clients.subscription_lifecycle import (
    CUSTOMER_SUBSCRIPTIONS_PREFIX,
    CUSTOMER_SUBSCRIPTIONS_WORKFLOW,
    RECONCILE_SIGNAL,
    RECORD_PURCHASES_SIGNAL,
    PurchasesRecord,
    ReconcileRequest,
    SubscriptionsState,
    customer_subscriptions_workflow_id,
)

SUMMARY = "The customer's subscriptions: refund windows, undo, reconciliation"


class CustomerSubscriptionsActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue  # the coordination queue, where those workflows run

    @activity.defn(name=m.RECORD_PURCHASES)
    async def record_purchases(self, record: PurchasesRecord) -> m.NoInput:
        """Signal-with-start: the customer's workflow is started with its first purchase.
        Told twice (a retry), it counts once (the workflow remembers the order)."""
        await self._client.start_workflow(
            CUSTOMER_SUBSCRIPTIONS_WORKFLOW,
            SubscriptionsState(customer_id=record.customer_id),
            id=customer_subscriptions_workflow_id(record.customer_id),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=RECORD_PURCHASES_SIGNAL,
            start_signal_args=[record],
            static_summary=SUMMARY,
        )
        return m.NoInput()

    @activity.defn(name=m.CUSTOMERS_TO_RECONCILE)
    async def customers_to_reconcile(self, page: m.ReconcilePage) -> m.CustomersPage:
        """One page of the customers whose subscriptions workflow runs on this queue."""
        query = (
            f"WorkflowType = '{CUSTOMER_SUBSCRIPTIONS_WORKFLOW}' "
            f"AND ExecutionStatus = 'Running' AND TaskQueue = '{self._task_queue}'"
        )
        token = base64.b64decode(page.page_token) if page.page_token else None
        listing = self._client.list_workflows(
            query, page_size=page.page_size, next_page_token=token
        )
        await listing.fetch_next_page()
        ids = [
            execution.id.removeprefix(CUSTOMER_SUBSCRIPTIONS_PREFIX)
            for execution in listing.current_page or []
        ]
        following = listing.next_page_token
        return m.CustomersPage(
            customer_ids=ids,
            next_page_token=base64.b64encode(following).decode() if following else None,
        )

    @activity.defn(name=m.ASK_TO_RECONCILE)
    async def ask_to_reconcile(self, customers: m.CustomerIds) -> m.NoInput:
        """Ask each customer's workflow to reconcile (a signal; one that ended is skipped)."""
        for customer_id in customers.customer_ids:
            handle = self._client.get_workflow_handle(
                customer_subscriptions_workflow_id(customer_id)
            )
            try:
                await handle.signal(RECONCILE_SIGNAL, ReconcileRequest())
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
        return m.NoInput()
