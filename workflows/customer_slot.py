"""One workflow per customer that hands out the customer's slot, one holder at a time.

Why: lookup-or-create reads the customer's subscriptions and then buys; two orders doing that at
once for one customer could both see "no monthly Business Basic" and both create one. Every
order and every extra-licence request of a customer therefore takes the customer's slot before
it plans and gives it back only after its purchase is provisioned (so the next holder's read
sees it). The slot is a Temporal entity workflow (id `customer-slot-<customer id>`): requests
arrive by signal-with-start (an activity), grants go out by signal to the requesting workflow,
FIFO. Temporal runs at most one execution per workflow id, and signals to it are durably
ordered, so at most one holder exists at a time, across worker crashes and restarts. A holder
that vanishes (terminated by an operator) loses the slot after a lease.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import messages as m
    from clients.contract import (
        CUSTOMER_SLOT_WORKFLOW,
        RELEASE_SLOT_SIGNAL,
        REQUEST_SLOT_SIGNAL,
        SLOT_GRANTED_SIGNAL,
        SLOT_HOLDER_QUERY,
        CustomerSlotState,
        SlotGrant,
        SlotRelease,
        SlotRequest,
        slot_workflow_id,
    )
    from workflows import steps

IDLE_BEFORE_CLOSING = timedelta(minutes=10)
GRANTS_BEFORE_CONTINUE_AS_NEW = 500


@workflow.defn(name=CUSTOMER_SLOT_WORKFLOW)
class CustomerSlotWorkflow:
    def __init__(self) -> None:
        self._queue: list[SlotRequest] = []
        self._holder: SlotRequest | None = None
        self._released: set[str] = set()

    @workflow.run
    async def run(self, state: CustomerSlotState) -> None:
        # Requests that arrived (by signal) before this run started are already queued.
        self._queue = [*state.queue, *self._queue]
        grants = state.grants
        granted_this_run = 0
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self._queue), timeout=IDLE_BEFORE_CLOSING
                )
            except TimeoutError:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._queue:
                    return
            request = self._queue.pop(0)
            if request.workflow_id in self._released:  # withdrawn while queued
                self._released.discard(request.workflow_id)
                continue
            self._holder = request
            grants += 1
            granted_this_run += 1
            try:
                await workflow.get_external_workflow_handle(request.workflow_id).signal(
                    SLOT_GRANTED_SIGNAL,
                    SlotGrant(customer_id=state.customer_id, grant_number=grants),
                )
            except Exception:
                workflow.logger.warning("slot holder is gone; moving on")
                self._holder = None
                continue
            try:
                await workflow.wait_condition(
                    functools.partial(self._is_released, request.workflow_id),
                    timeout=timedelta(seconds=request.lease_seconds),
                )
            except TimeoutError:
                workflow.logger.warning("slot lease expired; granting the next request")
            self._released.discard(request.workflow_id)
            self._holder = None
            if (
                granted_this_run >= GRANTS_BEFORE_CONTINUE_AS_NEW
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    CustomerSlotState(
                        customer_id=state.customer_id, queue=self._queue, grants=grants
                    )
                )

    def _is_released(self, workflow_id: str) -> bool:
        return workflow_id in self._released

    @workflow.signal(name=REQUEST_SLOT_SIGNAL)
    def request_slot(self, request: SlotRequest) -> None:
        holder = self._holder.workflow_id if self._holder else None
        if request.workflow_id == holder or any(
            q.workflow_id == request.workflow_id for q in self._queue
        ):
            return  # a retried request: already queued or holding
        self._released.discard(request.workflow_id)
        self._queue.append(request)

    @workflow.signal(name=RELEASE_SLOT_SIGNAL)
    def release_slot(self, release: SlotRelease) -> None:
        self._released.add(release.workflow_id)

    @workflow.query(name=SLOT_HOLDER_QUERY)
    def holder(self) -> str | None:
        return self._holder.workflow_id if self._holder else None


class SlotHolder:
    """A workflow's side of the customer slot: ask, wait for the grant, give it back."""

    def __init__(self) -> None:
        self.grant: SlotGrant | None = None
        self._customer_id: str | None = None

    async def acquire(
        self,
        customer_id: str,
        purpose: str,
        *,
        lease: timedelta | None = None,
        give_up: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Wait for the slot; False if `give_up()` became true first (the request is then
        withdrawn by `release`). A holder that does not release it within `lease` (the
        configuration's `customer_slot_lease`; None: the slot's default) loses it."""
        self._customer_id = customer_id
        await steps.write(
            m.REQUEST_CUSTOMER_SLOT,
            m.CustomerSlotRequest(
                customer_id=customer_id,
                workflow_id=workflow.info().workflow_id,
                purpose=purpose,
                lease_seconds=lease.total_seconds() if lease is not None else None,
            ),
        )
        await workflow.wait_condition(lambda: self.grant is not None or give_up())
        return self.grant is not None

    def granted(self, grant: SlotGrant) -> None:
        self.grant = grant

    async def release(self) -> None:
        """Give the slot back (or withdraw the request). Safe to call more than once."""
        if self._customer_id is None:
            return
        customer_id, self._customer_id = self._customer_id, None
        await workflow.get_external_workflow_handle(slot_workflow_id(customer_id)).signal(
            RELEASE_SLOT_SIGNAL, SlotRelease(workflow_id=workflow.info().workflow_id)
        )
