"""Asking a customer's slot workflow for the slot: update-with-start (and, for runs started
before the update, signal-with-start); the customer's creator starts the first run holding it.
All start the slot workflow when it is not running; they need a Temporal client, hence an
activity."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities import messages as m
from clients.contract import (
    CUSTOMER_SLOT_WORKFLOW,
    RELEASE_SLOT_SIGNAL,
    REQUEST_SLOT_SIGNAL,
    TAKE_SLOT_UPDATE,
    CustomerSlotState,
    SlotAnswer,
    SlotRelease,
    SlotRequest,
    slot_workflow_id,
)
from clients.update_with_start import execute_update_with_start

SUMMARY = "Serializes orders of one customer"


def _slot_request(request: m.CustomerSlotRequest) -> SlotRequest:
    slot_request = SlotRequest(
        workflow_id=request.workflow_id,
        purpose=request.purpose,
        created_customer=request.created_customer,
        take=request.take,
    )
    if request.lease_seconds is not None:  # else the slot's default lease
        slot_request.lease_seconds = request.lease_seconds
    return slot_request


def _take_id(request: m.CustomerSlotRequest) -> str:
    """The update's id: the same when a take is asked again (answered the same), another for
    the requester's next take."""
    base = f"take-slot:{request.workflow_id}"
    return base if request.take == 0 else f"{base}:{request.take}"


class CustomerSlotActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    @activity.defn(name=m.TAKE_CUSTOMER_SLOT)
    async def take_customer_slot(self, request: m.CustomerSlotRequest) -> SlotAnswer:
        """Granted at once when the slot is free, else queued (the grant follows by signal).

        The customer's creator starts the first slot run ever, holding the slot from its start:
        nothing to wait for but the start itself. A start that would reuse the id of a running
        or an earlier (closed) run is refused, and then somebody asked before it (or this very
        request, asked again after a crash): it asks by update as anybody does, and the slot
        answers whether it holds it undisturbed."""
        slot_request = _slot_request(request)
        if slot_request.created_customer:
            try:
                await self._client.start_workflow(
                    CUSTOMER_SLOT_WORKFLOW,
                    CustomerSlotState(customer_id=request.customer_id, creator=slot_request),
                    id=slot_workflow_id(request.customer_id),
                    task_queue=self._task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=SUMMARY,
                    request_eager_start=True,
                )
                return SlotAnswer(granted=True, grant_number=1, undisturbed=True)
            except WorkflowAlreadyStartedError:
                slot_request.created_customer = False
        return await self._take(request.customer_id, slot_request, _take_id(request))

    async def _take(self, customer_id: str, request: SlotRequest, update_id: str) -> SlotAnswer:
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            CUSTOMER_SLOT_WORKFLOW,
            CustomerSlotState(customer_id=customer_id),
            id=slot_workflow_id(customer_id),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=SUMMARY,
        )
        return await execute_update_with_start(
            self._client,
            TAKE_SLOT_UPDATE,
            request,
            start=start,
            id=update_id,
            result_type=SlotAnswer,
        )

    @activity.defn(name=m.RELEASE_CUSTOMER_SLOT)
    async def release_customer_slot(self, release: m.CustomerSlotRelease) -> None:
        """Give the slot back (or withdraw a queued request): a signal, harmless twice. A slot
        run that has ended meanwhile (its lease ran out) needs nothing."""
        handle = self._client.get_workflow_handle(slot_workflow_id(release.customer_id))
        try:
            await handle.signal(
                RELEASE_SLOT_SIGNAL,
                SlotRelease(workflow_id=release.workflow_id, take=release.take),
            )
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise

    @activity.defn(name=m.REQUEST_CUSTOMER_SLOT)
    async def request_customer_slot(self, request: m.CustomerSlotRequest) -> None:
        """The first release's request (signal-with-start): granted later, by signal."""
        await self._client.start_workflow(
            CUSTOMER_SLOT_WORKFLOW,
            CustomerSlotState(customer_id=request.customer_id),
            id=slot_workflow_id(request.customer_id),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=REQUEST_SLOT_SIGNAL,
            start_signal_args=[_slot_request(request)],
            static_summary=SUMMARY,
        )
