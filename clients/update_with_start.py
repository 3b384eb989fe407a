"""Update-with-start, as the engine's entity workflows are asked (the customers' slots, the
Partner Center quota): the update's answer, or its error; never an error left behind unread.

When the call fails before the workflow started (its start refused, the call cancelled or timed
out), the Temporal SDK also sets that error on the start operation's handle; unread, asyncio
reports it as "never retrieved" with a stack trace in the worker's log. It is read here.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WithStartWorkflowOperation

R = TypeVar("R")


async def execute_update_with_start(
    client: Client,
    update: str,
    arg: BaseModel,
    *,
    start: WithStartWorkflowOperation[Any, Any],
    id: str,
    result_type: type[R],
) -> R:
    try:
        answer: R = await client.execute_update_with_start_workflow(
            update, arg, start_workflow_operation=start, id=id, result_type=result_type
        )
    except BaseException:
        _read_later(start)
        raise
    return answer


def _read_later(start: WithStartWorkflowOperation[Any, Any]) -> None:
    """Read the start operation's error, if it has one by now (the SDK sets it before the call
    raises; a start never sent has none, and nothing is left waiting for it)."""
    handle = getattr(start, "_workflow_handle", None)  # the SDK's future behind workflow_handle()
    if isinstance(handle, asyncio.Future) and handle.done() and not handle.cancelled():
        handle.exception()
