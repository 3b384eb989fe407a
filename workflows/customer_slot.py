"""One workflow per customer that hands out the customer's slot, one holder at a time.

Why: lookup-or-create reads the customer's subscriptions and then buys; two orders doing that at
once for one customer could both see "no monthly Business Basic" and both create one. Every
order and every extra-licence request of a customer therefore takes the customer's slot before
it plans and gives it back only after its purchase is provisioned (so the next holder's read
sees it). The slot is a Temporal entity workflow (id `customer-slot-<customer id>`): requests
arrive by update-with-start (an activity; runs started before the update use signal-with-start),
FIFO. A request that finds the slot free is granted in the update's answer; a queued one is
granted later by signal to the requesting workflow. Temporal runs at most one execution per
workflow id, and signals and updates to it are durably ordered, so at most one holder exists at
a time, across worker crashes and restarts. A holder that vanishes (terminated by an operator)
loses the slot after a lease. Once nobody holds or waits for it, the run ends (earlier runs
waited ten idle minutes first); the next request starts a new one.

An order that has just created its customer starts the slot's first run itself, holding the
slot from its start (`CustomerSlotState.creator`; a start that would reuse the id of a running
or an earlier run is refused: activities/customer_slot.py). Started so, or granted by update
while it holds it that way (its request asked again), it is `undisturbed`: no other order of the
engine has asked for the customer's slot, so none has read or bought anything for it, and the
creator may plan against the empty customer it created without reading its subscriptions again.
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
        TAKE_SLOT_UPDATE,
        CustomerSlotState,
        SlotAnswer,
        SlotGrant,
        SlotRelease,
        SlotRequest,
        coordination_task_queue,
        slot_workflow_id,
    )
    from workflows import steps

IDLE_BEFORE_CLOSING = timedelta(minutes=10)  # runs started before CLOSES_WHEN_IDLE
GRANTS_BEFORE_CONTINUE_AS_NEW = 500
# Since this change, a run ends as soon as nobody holds or waits for the slot.
CLOSES_WHEN_IDLE = "slot-closes-when-idle"
# Since this change, a holder that gives the slot back and takes it again within one workflow
# task of the slot's gets a new take (before, the take was answered as a retry of the old one).
RETAKEN_AFTER_RELEASE = "slot-retaken-after-release"


# Versioned deploys: upgrades, as the coordination queue's worker does; its changes go behind
# `workflow.patched` (docs/VERSIONING.md).
@workflow.defn(name=CUSTOMER_SLOT_WORKFLOW)
class CustomerSlotWorkflow:
    @workflow.init
    def __init__(self, state: CustomerSlotState) -> None:
        # What the run before left (continue-as-new), before any signal or update is applied
        # (they can come before the run method): those queued before come first.
        self._queue: list[SlotRequest] = list(state.queue)
        self._holder: SlotRequest | None = None
        self._released: set[str] = set()
        self._customer_id = state.customer_id
        self._grants = state.grants  # over the chain of runs
        self._granted_this_run = 0
        if state.creator is not None:  # held from the start, before any update is applied
            self._holder = state.creator
            self._count_grant()

    @workflow.run
    async def run(self, state: CustomerSlotState) -> None:
        # Requests that arrived (by signal or update) before this run started are already
        # queued, or granted.
        while True:
            if self._holder is None:
                request = await self._next_request()
                if request is not None and not await self._grant_by_signal(request):
                    continue
                if self._holder is None:
                    return  # nobody holds or waits for the slot
            holder = self._holder
            assert holder is not None
            try:
                await workflow.wait_condition(
                    functools.partial(self._given_back_or_retaken, holder),
                    timeout=timedelta(seconds=holder.lease_seconds),
                )
            except TimeoutError:
                workflow.logger.warning("slot lease expired; granting the next request")
            if self._holder is not holder:
                continue  # given back and taken anew in one task (`take_slot`): a new hold
            self._released.discard(holder.workflow_id)
            self._holder = None
            if (
                self._granted_this_run >= GRANTS_BEFORE_CONTINUE_AS_NEW
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    # (a run started on the orders' queue before there was a coordination queue
                    # moves to it)
                    task_queue=coordination_task_queue(workflow.info().task_queue),
                    arg=CustomerSlotState(
                        customer_id=state.customer_id, queue=self._queue, grants=self._grants
                    ),
                )

    async def _next_request(self) -> SlotRequest | None:
        """The next queued request, to be granted by signal; None when an update granted the
        slot meanwhile (then `_holder` is set) or when nobody asks (the run ends)."""
        while not self._queue:
            if self._holder is not None:
                return None
            if workflow.patched(CLOSES_WHEN_IDLE):
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._queue or self._holder is not None:
                    continue
                return None
            try:
                await workflow.wait_condition(
                    lambda: bool(self._queue) or self._holder is not None,
                    timeout=IDLE_BEFORE_CLOSING,
                )
            except TimeoutError:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._queue and self._holder is None:
                    return None
        return self._queue.pop(0)

    async def _grant_by_signal(self, request: SlotRequest) -> bool:
        """Make `request` the holder and tell it by signal; False if it was withdrawn or its
        workflow is gone."""
        if request.workflow_id in self._released:  # withdrawn while queued
            self._released.discard(request.workflow_id)
            return False
        self._holder = request
        self._count_grant()
        try:
            await workflow.get_external_workflow_handle(request.workflow_id).signal(
                SLOT_GRANTED_SIGNAL,
                SlotGrant(customer_id=self._customer_id, grant_number=self._grants),
            )
        except Exception:
            workflow.logger.warning("slot holder is gone; moving on")
            self._holder = None
            return False
        return True

    def _count_grant(self) -> None:
        self._grants += 1
        self._granted_this_run += 1

    def _is_released(self, workflow_id: str) -> bool:
        return workflow_id in self._released

    def _given_back_or_retaken(self, holder: SlotRequest) -> bool:
        return self._is_released(holder.workflow_id) or self._holder is not holder

    def _already_asked(self, request: SlotRequest) -> bool:
        holder = self._holder.workflow_id if self._holder else None
        return request.workflow_id == holder or any(
            q.workflow_id == request.workflow_id for q in self._queue
        )

    @workflow.update(name=TAKE_SLOT_UPDATE)
    def take_slot(self, request: SlotRequest) -> SlotAnswer:
        """Grant the slot now if nobody holds or waits for it, else queue the request (the
        grant then comes by signal). Asked again (a retried activity), it answers the same."""
        if (
            self._holder is not None
            and self._holder.workflow_id == request.workflow_id
            and request.workflow_id in self._released
            and workflow.patched(RETAKEN_AFTER_RELEASE)
        ):
            # The holder gave the slot back and asks for it anew, both within one workflow task
            # (a customer's subscriptions workflow between two changes): the release counts
            # first, so this is a new take (granted if nobody waits, else queued), never the
            # old grant answered again while the run hands the slot to the next.
            self._released.discard(request.workflow_id)
            self._holder = None
        if self._holder is None or self._holder.workflow_id != request.workflow_id:
            if self._already_asked(request):
                return SlotAnswer(granted=False)
            self._released.discard(request.workflow_id)
            if self._holder is not None or self._queue:
                self._queue.append(request)
                return SlotAnswer(granted=False)
            self._holder = request
            self._count_grant()
        holder = self._holder
        return SlotAnswer(
            granted=True,
            grant_number=self._grants,
            # (An update can run before the run method: the first run is the one not continued
            # from another, whose grants start at none.)
            undisturbed=holder.created_customer
            and workflow.info().continued_run_id is None
            and self._grants == 1,
        )

    @workflow.signal(name=REQUEST_SLOT_SIGNAL)
    def request_slot(self, request: SlotRequest) -> None:
        if self._already_asked(request):
            return  # a retried request: already queued or holding
        self._released.discard(request.workflow_id)
        self._queue.append(request)

    @workflow.signal(name=RELEASE_SLOT_SIGNAL)
    def release_slot(self, release: SlotRelease) -> None:
        if release.take is not None and not self._ends_a_take(release):
            # A release of an earlier take, sent again (its holder's worker crashed and ran it
            # once more): that take is over; the same workflow's later one stands.
            workflow.logger.info("a release of an earlier take ignored")
            return
        self._released.add(release.workflow_id)

    def _ends_a_take(self, release: SlotRelease) -> bool:
        """The release names the take that holds the slot, or one that waits for it."""
        return any(
            request.workflow_id == release.workflow_id and request.take == release.take
            for request in ([self._holder] if self._holder is not None else []) + self._queue
        )

    @workflow.query(name=SLOT_HOLDER_QUERY)
    def holder(self) -> str | None:
        return self._holder.workflow_id if self._holder else None


class SlotHolder:
    """A workflow's side of the customer slot: ask, wait for the grant, give it back."""

    def __init__(self) -> None:
        self.grant: SlotGrant | None = None
        self._customer_id: str | None = None
        self._taken = False  # by `take` (given back by an activity), not by `acquire`
        self._takes = 0  # how many times `take` asked (each take its own update)

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

    async def take(
        self,
        customer_id: str,
        purpose: str,
        *,
        lease: timedelta,
        created_customer: bool = False,
        give_up: Callable[[], bool] = lambda: False,
        when_queued: Callable[[], None] = lambda: None,
    ) -> SlotAnswer | None:
        """Take the slot: at once if it is free (the answer says so), else wait for the grant.
        None if `give_up()` became true first (the request is then withdrawn by `release`).
        `created_customer`: this workflow created the customer; the answer tells whether it is
        the customer's first holder ever (`undisturbed`). `when_queued()` is called when the
        slot is held by another, before waiting."""
        self._customer_id = customer_id
        self._taken = True
        self.grant = None  # (taken again after giving it back: a new grant)
        take, self._takes = self._takes, self._takes + 1
        # A local activity: asking again (a replay after a crash) is answered the same, by the
        # update's id.
        answer: SlotAnswer = await workflow.execute_local_activity(
            m.TAKE_CUSTOMER_SLOT,
            m.CustomerSlotRequest(
                customer_id=customer_id,
                workflow_id=workflow.info().workflow_id,
                purpose=purpose,
                lease_seconds=lease.total_seconds(),
                created_customer=created_customer,
                take=take,
            ),
            result_type=SlotAnswer,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(days=1),
            retry_policy=steps.RETRY,
        )
        if answer.granted:
            self.grant = SlotGrant(customer_id=customer_id, grant_number=answer.grant_number)
            return answer
        when_queued()
        await workflow.wait_condition(lambda: self.grant is not None or give_up())
        return answer if self.grant is not None else None

    def granted(self, grant: SlotGrant) -> None:
        self.grant = grant

    @property
    def takes(self) -> int:
        """How many times `take` asked (each take's update has an id of its own)."""
        return self._takes

    def continue_takes(self, takes: int) -> None:
        """A holder that continues as new counts its takes on: a new take never reuses the
        update id of one asked by the run before (the slot would answer it as that one)."""
        self._takes = takes

    async def release(self) -> None:
        """Give the slot back (or withdraw the request). Safe to call more than once. A slot
        taken by `take` is given back by a local activity (a signal sent from the worker: no
        workflow task of its own); one taken by `acquire` by the workflow's own signal."""
        if self._customer_id is None:
            return
        customer_id, self._customer_id = self._customer_id, None
        take = self._takes - 1 if self._taken else None  # the take it ends
        release = SlotRelease(workflow_id=workflow.info().workflow_id)
        if not self._taken:
            await workflow.get_external_workflow_handle(slot_workflow_id(customer_id)).signal(
                RELEASE_SLOT_SIGNAL, release
            )
            return
        await workflow.execute_local_activity(
            m.RELEASE_CUSTOMER_SLOT,
            m.CustomerSlotRelease(
                customer_id=customer_id,
                workflow_id=release.workflow_id,
                take=take,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(days=1),
            retry_policy=steps.RETRY,
        )
