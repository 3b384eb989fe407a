"""A worker's side of the Partner Center cap that all workers of a task queue share: before each
request, one of the requests the quota workflow leased to this worker
(workflows/partner_center_quota.py); when none is left, a new lease, by update-with-start.

A lease's requests may go from a given moment, for `LEASE_LIFETIME`. A request whose turn is
near waits for it; one whose turn is further away than `MAX_WAIT_IN_STEP` raises `CapReached`
and keeps its place: the worker's interceptor makes the step fail, to be retried at that moment
on a timer (its workflow task is not held open meanwhile), and the retry finds the request kept
for it.

    cap = SharedRequestCap(client, task_queue, requests_per_minute=500)
    partner_center.before_request = cap.acquire
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import TemporalError

from clients.contract import (
    LEASE_REQUESTS_UPDATE,
    PARTNER_CENTER_QUOTA_WORKFLOW,
    QuotaLease,
    QuotaLeaseRequest,
    QuotaState,
    coordination_task_queue,
    quota_workflow_id,
)
from clients.update_with_start import execute_update_with_start
from workflows.partner_center_quota import LEASE_LIFETIME

log = structlog.get_logger("partner_center_cap")

# A lease asks for a quarter of a second's worth of the cap: a worker leases about four times a
# second when busy, and holds little that another worker could have used.
LEASE_SECONDS = 0.25
# A request waits for the cap inside its step up to this long; past it the step fails, to be
# tried again after the wait (`CapReached`): its workflow task is not held open meanwhile.
MAX_WAIT_IN_STEP = 1.0


# A request is sent no later than this before its lease's lifetime ends (the time from here to
# the request leaving the worker).
SENDING_MARGIN = 0.1


class CapReached(Exception):
    """The Partner Center cap leaves no request for a while: try again after `retry_after`
    seconds. Nothing was sent."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the Partner Center cap is reached for {retry_after:.1f} s")
        self.retry_after = retry_after


@dataclass
class _Lease:
    usable_from: float  # this worker's clock
    usable_until: float
    left: int  # not yet sent, nor kept for a step that waits its turn
    kept: int = 0  # kept for steps that will be retried at `usable_from`

    def open_at(self, now: float) -> bool:
        return self.usable_from <= now < self.usable_until


class SharedRequestCap:
    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        requests_per_minute: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._requests_per_minute = requests_per_minute
        self._clock = clock
        self._lease_size = max(1, math.ceil(requests_per_minute / 60 * LEASE_SECONDS))
        self._leases: list[_Lease] = []
        self._leasing = asyncio.Lock()
        self.leases = 0  # how many leases this worker asked for (for the benchmark)

    async def acquire(self) -> None:
        """Wait until this worker may send one more Partner Center request; `CapReached` when
        its turn is further away than a step should wait."""
        async with self._leasing:
            now = self._clock()
            self._leases = [lease for lease in self._leases if now < lease.usable_until]
            for lease in self._leases:
                if lease.kept and lease.open_at(now):  # a step back at its turn
                    lease.kept -= 1
                    return
            free = next((lease for lease in self._leases if lease.left), None)
            if free is None:
                free = await self._lease()
                if free.usable_from >= free.usable_until - SENDING_MARGIN:
                    # Answered too late to be sent within its lifetime (Temporal was slow):
                    # its requests go unused, and the step tries again in a moment.
                    raise CapReached(MAX_WAIT_IN_STEP)
                self._leases.append(free)
            lease = free
            wait = lease.usable_from - self._clock()
            if wait > MAX_WAIT_IN_STEP:
                lease.left -= 1
                lease.kept += 1
                raise CapReached(wait)
            lease.left -= 1
        if wait > 0:
            await asyncio.sleep(wait)

    async def _lease(self) -> _Lease:
        asked_at = self._clock()
        try:
            answer = await self._ask()
        except TemporalError as error:  # the quota workflow was ending, or Temporal is busy
            log.warning("partner_center_cap.lease_failed", error=type(error).__name__)
            raise CapReached(1.0) from None
        answered_at = self._clock()
        self.leases += 1
        # The quota counted from a moment between asking and the answer: the requests go no
        # earlier than it said counted from the answer, no later than their lifetime counted
        # from the asking.
        return _Lease(
            usable_from=answered_at + answer.usable_in_seconds,
            usable_until=asked_at + answer.usable_in_seconds + LEASE_LIFETIME.total_seconds(),
            left=answer.granted,
        )

    async def _ask(self) -> QuotaLease:
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            PARTNER_CENTER_QUOTA_WORKFLOW,
            QuotaState(),
            id=quota_workflow_id(self._task_queue),
            task_queue=coordination_task_queue(self._task_queue),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary="Partner Center requests leased to this task queue's workers",
        )
        return await execute_update_with_start(
            self._client,
            LEASE_REQUESTS_UPDATE,
            QuotaLeaseRequest(
                requests_per_minute=self._requests_per_minute, wanted=self._lease_size
            ),
            start=start,
            id=str(uuid.uuid4()),
            result_type=QuotaLease,
        )
