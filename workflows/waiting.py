"""A durable wait inside a workflow: ask until the answer is there, for days if need be.

    ended = await wait_until(done, since=..., deadline=..., pace=Pace(check_every=...), ...)

`done()` is asked every `pace.check_every` and whenever `wake()` turns true (a storefront's
nudge, an input that arrived); a reminder is counted every `pace.remind_every`; the wait ends
`EXPIRED` once `deadline` has passed, `CANCELLED` as soon as `cancelled()` turns true, else
`DONE`. A `wake()` sooner than `pace.wake_min_gap` after the last check it caused waits for the
gap's end, so a burst of nudges costs one check per gap. Timers and `done()`'s activities are
the workflow's history; nothing here keeps state between waits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from temporalio import workflow

# Since this change, wakes closer together than `wake_min_gap` are folded into one check (the
# patch id predates this module: it was the relationship nudges' gap).
NUDGE_GAP = "relationship-nudge-gap"


class WaitEnded(Enum):
    DONE = "done"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Pace:
    """How often a wait asks and reminds."""

    check_every: timedelta
    remind_every: timedelta | None = None
    wake_min_gap: timedelta | None = None  # None: every wake checks at once


def never() -> bool:
    return False


def _nothing() -> None:
    return None


async def wait_until(
    done: Callable[[], Awaitable[bool]],
    *,
    since: datetime,
    deadline: datetime,
    pace: Pace,
    wake: Callable[[], bool] = never,
    cancelled: Callable[[], bool] = never,
    remind: Callable[[], None] = _nothing,
    check_first: bool = True,
) -> WaitEnded:
    """Wait durably until `done()` (see the module). `check_first=False` when the caller has
    just asked. Reminders fall due every `pace.remind_every` from `since`, before `deadline`."""
    remind_every = pace.remind_every
    next_reminder = since + remind_every if remind_every else None
    if check_first and await done():
        return WaitEnded.DONE
    woken_at: datetime | None = None
    while True:
        remaining = deadline - workflow.now()
        if remaining <= timedelta(0):
            return WaitEnded.EXPIRED
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: wake() or cancelled(), timeout=min(pace.check_every, remaining)
            )
        if cancelled():
            return WaitEnded.CANCELLED
        if wake() and pace.wake_min_gap is not None:
            if await _hold_off(pace.wake_min_gap, woken_at, deadline, cancelled):
                return WaitEnded.CANCELLED
            woken_at = workflow.now()
        now = workflow.now()
        if remind_every and next_reminder is not None and next_reminder <= now < deadline:
            next_reminder += remind_every
            remind()
        if await done():
            return WaitEnded.DONE


async def _hold_off(
    gap: timedelta,
    woken_at: datetime | None,
    deadline: datetime,
    cancelled: Callable[[], bool],
) -> bool:
    """After a wake: wait out what is left of `gap` since the last check a wake caused (never
    past `deadline`). True if `cancelled()` turned true meanwhile."""
    if woken_at is None:
        return False
    left = min(gap - (workflow.now() - woken_at), deadline - workflow.now())
    if left > timedelta(0) and workflow.patched(NUDGE_GAP):
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(cancelled, timeout=left)
        return cancelled()
    return False
