"""The Partner Center request quota that every worker of a task queue shares: one workflow per
task queue (`partner-center-quota-<task queue>`) that leases the right to send requests.

Partner Center throttles a partner at about 500 requests a minute (orders and customers); a
request over it is refused (429) and an order's step waits and tries again. The engine stays
under a configured cap instead, however many worker processes run: before each request a worker
takes one of the requests its last lease granted, and leases more (an update, started with the
workflow if need be) when it has none left.

The quota is a bucket of requests that refills at a steady rate, up to a small burst, and it
never says no: a lease is a reservation, its requests to be sent from the moment the bucket
will have paid for them (at once, while it holds enough). A worker sends them within
`LEASE_LIFETIME` of that moment, or not at all; a step whose turn is further away than a few
seconds is tried again then, on a timer (workers/partner_center_cap.py), so no order waits
inside a workflow task and the waiting ones are served in the order they asked. The requests
sent in any minute were paid for in that minute and the lifetime before it (`WINDOW`); a
bucket of `burst` filling at `rate` pays for at most `burst + rate * WINDOW` in any window,
which is the cap (`bucket_for`). A worker that dies with requests in hand only leaves some of
the cap unused.

Why not Temporal's own task-queue rate limit (`max_task_queue_activities_per_second`): it limits
regular activities only, and an order's Partner Center requests are local activities
(workflows/steps.py: a round trip through the server per request would cost an order far more
than the requests themselves; docs/PERFORMANCE.md has the figures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from clients.contract import (
        LEASE_REQUESTS_UPDATE,
        PARTNER_CENTER_QUOTA_WORKFLOW,
        QuotaLease,
        QuotaLeaseRequest,
        QuotaState,
        coordination_task_queue,
    )

# A worker sends the requests of a lease within this time of asking for it (workers/
# partner_center_cap.py), or lets them go.
LEASE_LIFETIME = timedelta(seconds=2)
# Grants are counted over a minute, plus a lease's lifetime, plus a second for the moment
# between a worker's clock and the workflow's and between sending and Partner Center counting.
WINDOW = timedelta(minutes=1) + LEASE_LIFETIME + timedelta(seconds=1)
# The bucket holds this share of the cap: what may go at once after a quiet while.
BURST_SHARE = 0.05
IDLE_BEFORE_CLOSING = timedelta(minutes=10)
LEASES_BEFORE_CONTINUE_AS_NEW = 1000


@dataclass(frozen=True)
class Bucket:
    burst: float  # requests it holds when full
    rate: float  # requests it gains a second


def bucket_for(requests_per_minute: float) -> Bucket:
    """The bucket that grants at most `requests_per_minute` in any `WINDOW`."""
    burst = min(max(1.0, requests_per_minute * BURST_SHARE), requests_per_minute / 2)
    return Bucket(burst=burst, rate=(requests_per_minute - burst) / WINDOW.total_seconds())


def lease(
    state: QuotaState, now: float, request: QuotaLeaseRequest
) -> tuple[QuotaLease, QuotaState]:
    """Reserve what was asked for (at most the bucket's burst): the lease, with when its
    requests may go, and the account after it. Pure."""
    bucket = bucket_for(request.requests_per_minute)
    # The bucket holds at most its burst: what it did not spend longer ago than it takes to
    # fill is not carried forward.
    full_at = now - bucket.burst / bucket.rate
    spent = full_at if state.spent_until is None else max(state.spent_until, full_at)
    granted = max(1, min(request.wanted, math.floor(bucket.burst)))
    spent += granted / bucket.rate
    return (
        QuotaLease(granted=granted, usable_in_seconds=max(0.0, spent - now)),
        QuotaState(spent_until=spent),
    )


def _refilled(state: QuotaState, now: float) -> bool:
    """Nothing reserved is still to come, and the bucket is full again even for the smallest
    cap: a new run's full bucket grants nothing this one would not have."""
    smallest = bucket_for(2)
    return state.spent_until is None or now >= state.spent_until + smallest.burst / smallest.rate


# Versioned deploys: upgrades, as the coordination queue's worker does; its changes go behind
# `workflow.patched` (docs/VERSIONING.md).
@workflow.defn(name=PARTNER_CENTER_QUOTA_WORKFLOW)
class PartnerCenterQuotaWorkflow:
    @workflow.init
    def __init__(self, state: QuotaState) -> None:
        # The bucket of the run before (continue-as-new), before any update leases from it
        # (updates can run before the run method: a fresh bucket would grant the cap twice).
        self._state = state
        self._leases = 0
        self._last_lease = 0.0

    @workflow.run
    async def run(self, state: QuotaState) -> None:
        while True:
            try:
                await workflow.wait_condition(
                    lambda: (
                        self._leases >= LEASES_BEFORE_CONTINUE_AS_NEW
                        or workflow.info().is_continue_as_new_suggested()
                    ),
                    timeout=IDLE_BEFORE_CLOSING,
                )
            except TimeoutError:
                now = workflow.now().timestamp()
                if now - self._last_lease < IDLE_BEFORE_CLOSING.total_seconds() or not _refilled(
                    self._state, now
                ):
                    continue
                await workflow.wait_condition(workflow.all_handlers_finished)
                return  # idle: the next lease starts a new run, its bucket full
            await workflow.wait_condition(workflow.all_handlers_finished)
            # (a run started on the orders' queue before there was a coordination queue moves to
            # it)
            workflow.continue_as_new(
                self._state, task_queue=coordination_task_queue(workflow.info().task_queue)
            )

    @workflow.update(name=LEASE_REQUESTS_UPDATE)
    def lease_requests(self, request: QuotaLeaseRequest) -> QuotaLease:
        now = workflow.now().timestamp()
        answer, self._state = lease(self._state, now, request)
        self._leases += 1
        self._last_lease = now
        return answer
