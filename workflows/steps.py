"""How workflows run activities.

An order asks Partner Center in steps of one request each, and runs them two ways:

- `ask`: a local activity. It runs inside the workflow task that reaches it, with no round trip
  through the Temporal server (each costs tens of milliseconds and as much server work as an
  empty workflow's run: docs/PERFORMANCE.md), and is recorded when that task completes. A worker
  that dies before then runs it again on replay: so only what may be sent twice goes this way,
  reads, and writes that Partner Center answers once per request id (a repeated one returns the
  first answer) and whose repetition changes no decision taken after them.
- `commit`: a regular activity, for the writes that cannot be undone (creating a customer,
  checking a cart out, changing a quantity). Scheduling it completes the workflow task first,
  so every answer the write was decided on is recorded before it runs: a replay never asks
  those again and decides otherwise (a domain "taken" by the customer this very order created).

`poll` asks until the answer is there: once in the workflow task, then, if Microsoft is not done,
as a regular activity that its retry policy repeats (no history per attempt). `read` is the
first release's local activity and what asks nobody; `write` the first release's regular one.
Every Partner Center request, whichever way, passes the worker's share of the Partner Center
cap (workers/partner_center_cap.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities.messages import NOT_YET, PARTNER_CENTER_REFUSAL

    # Two search attribute keys (clients/contract.py), re-exported for workflows/order.py,
    # which names them `steps.PHASE` and `steps.CUSTOMER_ID`.
    from clients.contract import CUSTOMER_ID, PHASE

R = TypeVar("R")

# What a failed activity raises in a workflow: ActivityError (regular activities), or the
# ApplicationError itself (a local activity's non-retryable failure).
ACTIVITY_FAILURES = (ActivityError, ApplicationError)

# Transient trouble (throttling, 5xx, lost answers) is retried for as long as it takes;
# business refusals are not retried at all.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    non_retryable_error_types=[PARTNER_CENTER_REFUSAL],
)


# A local activity retried after longer than this waits on a timer, its workflow task completed
# meanwhile (throttling, the Partner Center cap spent, an outage), not inside the task.
RETRY_IN_TASK_UP_TO = timedelta(seconds=1)


async def ask(name: str, arg: BaseModel, result_type: type[R]) -> R:
    """A Partner Center request that may be sent again: a local activity (see the module)."""
    result: R = await workflow.execute_local_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=45),
        schedule_to_close_timeout=timedelta(days=1),
        retry_policy=RETRY,
        local_retry_threshold=RETRY_IN_TASK_UP_TO,
    )
    return result


async def commit(name: str, arg: BaseModel, result_type: type[R]) -> R:
    """A Partner Center write that cannot be undone: a regular activity (see the module),
    retried with the same request id through throttling, 5xx and lost answers."""
    result: R = await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=45),
        schedule_to_close_timeout=timedelta(days=1),
        retry_policy=RETRY,
    )
    return result


async def read(name: str, arg: BaseModel, result_type: type[R]) -> R:
    """A local activity: what asks nobody (the worker's memory), and the first release's
    Partner Center reads."""
    result: R = await workflow.execute_local_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=timedelta(hours=6),
        retry_policy=RETRY,
    )
    return result


async def write(name: str, arg: BaseModel, result_type: type[R] | None = None) -> Any:
    """The first release's Partner Center writes: a regular activity."""
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=45),
        schedule_to_close_timeout=timedelta(days=1),
        retry_policy=RETRY,
    )


async def poll(
    name: str,
    arg: BaseModel,
    result_type: type[R],
    *,
    every: timedelta,
    expires_after: timedelta,
    ask_first: bool = False,
) -> R:
    """Ask until the answer is there: the activity fails with NotYet until then, and its retry
    policy asks again (history records only the final attempt). `ask_first`: ask once at once
    in the workflow task (a local activity, not retried), and only if that is not the answer,
    poll."""
    if ask_first:
        try:
            asked: R = await workflow.execute_local_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=timedelta(seconds=45),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
            return asked
        except ACTIVITY_FAILURES as error:
            cause = error.cause if isinstance(error, ActivityError) else error
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                raise  # Microsoft's final word (a refusal, an order it ended unfulfilled)
    result: R = await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=expires_after,
        retry_policy=RetryPolicy(
            initial_interval=every,
            backoff_coefficient=1.5,
            maximum_interval=max(every, timedelta(seconds=60)),
            non_retryable_error_types=[PARTNER_CENTER_REFUSAL],
        ),
    )
    return result


__all__ = ["CUSTOMER_ID", "NOT_YET", "PHASE", "RETRY", "ask", "commit", "poll", "read", "write"]
