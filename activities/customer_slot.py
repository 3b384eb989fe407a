"""Asking a customer's slot workflow for the slot (signal-with-start needs a client)."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from activities import messages as m
from clients.contract import (
    CUSTOMER_SLOT_WORKFLOW,
    REQUEST_SLOT_SIGNAL,
    CustomerSlotState,
    SlotRequest,
    slot_workflow_id,
)


class CustomerSlotActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    @activity.defn(name=m.REQUEST_CUSTOMER_SLOT)
    async def request_customer_slot(self, request: m.CustomerSlotRequest) -> None:
        slot_request = SlotRequest(workflow_id=request.workflow_id, purpose=request.purpose)
        if request.lease_seconds is not None:  # else the slot's default lease
            slot_request.lease_seconds = request.lease_seconds
        await self._client.start_workflow(
            CUSTOMER_SLOT_WORKFLOW,
            CustomerSlotState(customer_id=request.customer_id),
            id=slot_workflow_id(request.customer_id),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=REQUEST_SLOT_SIGNAL,
            start_signal_args=[slot_request],
            static_summary="Serializes orders of one customer",
        )
