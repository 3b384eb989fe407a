"""How workflows run activities: reads as local activities, writes as regular ones."""

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
_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    non_retryable_error_types=[PARTNER_CENTER_REFUSAL],
)


async def read(name: str, arg: BaseModel, result_type: type[R]) -> R:
    """A short Partner Center read: a local activity (no server round trip per attempt)."""
    result: R = await workflow.execute_local_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=timedelta(hours=6),
        retry_policy=_RETRY,
    )
    return result


async def write(name: str, arg: BaseModel, result_type: type[R] | None = None) -> Any:
    """A Partner Center write: a regular activity, recorded before and after it runs."""
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=45),
        schedule_to_close_timeout=timedelta(days=1),
        retry_policy=_RETRY,
    )


async def poll(
    name: str, arg: BaseModel, result_type: type[R], *, every: timedelta, expires_after: timedelta
) -> R:
    """Ask until the answer is there: the activity fails with NotYet until then, and its retry
    policy asks again (history records only the final attempt)."""
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


__all__ = ["CUSTOMER_ID", "NOT_YET", "PHASE", "poll", "read", "write"]
