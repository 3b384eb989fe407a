"""Which worker process ran what, read from the workflows' histories (for the chaos harness's
runs with several workers): the server records the identity of the worker that ran each
workflow task and each regular activity, `<pid>@<host>` by default (the Temporal client's), so
the histories alone tell how the load was shared and which orders a killed worker was in the
middle of. Local activities run inside a workflow task: they count for the worker that
completed that task.

A workflow task that a killed worker had started and never completed times out (the workflow
task timeout, 10 s by default) and is run again by another worker: its history keeps the
started event, with the dead worker's identity, and the timed-out event naming it. That is
the proof that a kill struck while an order was in flight on that worker, and of who took the
order over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from clients.contract import ORDER_WORKFLOW_PREFIX

LOCAL_ACTIVITY_MARKER = "core_local_activity"
ENDED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


@dataclass
class Share:
    """What one worker process ran."""

    workflows: set[str] = field(default_factory=set)  # ids of workflows it completed a task of
    workflow_tasks: int = 0
    local_activities: int = 0
    activities: int = 0  # regular activities (the attempt the history records)

    def orders(self) -> set[str]:
        return {w for w in self.workflows if w.startswith(ORDER_WORKFLOW_PREFIX)}


@dataclass
class Shares:
    by_pid: dict[int, Share] = field(default_factory=dict)
    # Workflow tasks completed by an identity that is no process id (none expected).
    unattributed_tasks: int = 0
    # Workflow id -> the process ids whose started workflow task timed out in it (the worker
    # died while running it).
    struck: dict[str, set[int]] = field(default_factory=dict)
    # Of those workflows: the ones whose timed-out task was run again and completed by another
    # process.
    taken_over: set[str] = field(default_factory=set)

    def of(self, pid: int) -> Share:
        return self.by_pid.setdefault(pid, Share())

    def struck_by(self, pid: int) -> set[str]:
        """The workflows that `pid` was in the middle of (a task started, never completed)."""
        return {workflow for workflow, pids in self.struck.items() if pid in pids}


def pid_of(identity: str) -> int | None:
    """The process id in a worker identity `<pid>@<host>` (the SDK's default), else None."""
    head, at, _ = identity.partition("@")
    return int(head) if at and head.isdigit() else None


def running_task(history: WorkflowHistory) -> tuple[int, int] | None:
    """(pid, started event id) of the workflow task a worker is running in this workflow now
    (the history's last event is that task's start), else None."""
    last = history.events[-1] if history.events else None
    if last is None or last.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        return None
    pid = pid_of(last.workflow_task_started_event_attributes.identity)
    return None if pid is None else (pid, last.event_id)


def has_ended(history: WorkflowHistory) -> bool:
    return bool(history.events) and history.events[-1].event_type in ENDED


def tally(histories: Iterable[WorkflowHistory]) -> Shares:
    shares = Shares()
    for history in histories:
        _tally_one(history, shares)
    return shares


def _tally_one(history: WorkflowHistory, shares: Shares) -> None:
    started_by: dict[int, int | None] = {}  # workflow task started event id -> pid
    completing: int | None = None  # the pid of the last completed workflow task
    timed_out: list[int] = []  # pids whose started task timed out, in order
    for event in history.events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            identity = event.workflow_task_started_event_attributes.identity
            started_by[event.event_id] = pid_of(identity)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            completing = pid_of(event.workflow_task_completed_event_attributes.identity)
            if completing is None:
                shares.unattributed_tasks += 1
                continue
            share = shares.of(completing)
            share.workflow_tasks += 1
            share.workflows.add(history.workflow_id)
            if any(pid != completing for pid in timed_out):
                shares.taken_over.add(history.workflow_id)
            timed_out = []
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            started = event.workflow_task_timed_out_event_attributes.started_event_id
            pid = started_by.get(started)
            if pid is not None:  # a started task (not a sticky queue's unstarted one)
                timed_out.append(pid)
                shares.struck.setdefault(history.workflow_id, set()).add(pid)
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes.marker_name
            if marker == LOCAL_ACTIVITY_MARKER and completing is not None:
                shares.of(completing).local_activities += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            pid = pid_of(event.activity_task_started_event_attributes.identity)
            if pid is not None:
                shares.of(pid).activities += 1
