"""What the chaos harness reads from histories (which worker process ran what, which orders a
killed worker was in the middle of) and from the sandbox's request counts (was the shared
Partner Center cap kept), on hand-made histories and counts."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from devtools.cap_stretches import allowed, busiest_minute, busiest_stretch
from devtools.worker_shares import has_ended, pid_of, running_task, tally
from workflows.partner_center_quota import bucket_for

E = EventType


def _history(workflow_id: str, *steps: tuple[EventType.ValueType, str | int]) -> WorkflowHistory:
    """Events from (type, identity or started event id); ids numbered from 1."""
    events = []
    for n, (kind, value) in enumerate(steps, start=1):
        event = HistoryEvent(event_id=n, event_type=kind)
        if kind == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            event.workflow_task_started_event_attributes.identity = str(value)
        elif kind == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            event.workflow_task_completed_event_attributes.identity = str(value)
        elif kind == E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            event.workflow_task_timed_out_event_attributes.started_event_id = int(value)
        elif kind == E.EVENT_TYPE_MARKER_RECORDED:
            event.marker_recorded_event_attributes.marker_name = str(value)
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            event.activity_task_started_event_attributes.identity = str(value)
        events.append(event)
    return WorkflowHistory(workflow_id, events)


SCHEDULED = (E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, "")
LA = (E.EVENT_TYPE_MARKER_RECORDED, "core_local_activity")


def test_a_task_the_killed_worker_started_and_another_completed_is_taken_over() -> None:
    order = _history(
        "order-a",
        (E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, ""),
        SCHEDULED,
        (E.EVENT_TYPE_WORKFLOW_TASK_STARTED, "111@host"),  # event 3
        (E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, "111@host"),
        LA,
        LA,
        (E.EVENT_TYPE_ACTIVITY_TASK_STARTED, "111@host"),
        SCHEDULED,
        (E.EVENT_TYPE_WORKFLOW_TASK_STARTED, "111@host"),  # event 9: 111 is killed in it
        (E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, 9),
        SCHEDULED,
        (E.EVENT_TYPE_WORKFLOW_TASK_STARTED, "222@host"),
        (E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, "222@host"),
        LA,
        (E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, ""),
    )
    licences = _history(
        "licences-b",
        SCHEDULED,
        (E.EVENT_TYPE_WORKFLOW_TASK_STARTED, "222@host"),
        (E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, "222@host"),
        # a sticky queue's task that never started times out without a started event
        (E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, 0),
    )
    shares = tally([order, licences])
    assert shares.by_pid[111].workflow_tasks == 1
    assert shares.by_pid[111].local_activities == 2
    assert shares.by_pid[111].activities == 1
    assert shares.by_pid[111].orders() == {"order-a"}
    assert shares.by_pid[222].workflow_tasks == 2
    assert shares.by_pid[222].local_activities == 1
    assert shares.by_pid[222].workflows == {"order-a", "licences-b"}
    assert shares.by_pid[222].orders() == {"order-a"}
    assert shares.struck == {"order-a": {111}}
    assert shares.struck_by(111) == {"order-a"} and shares.struck_by(222) == set()
    assert shares.taken_over == {"order-a"}
    assert shares.unattributed_tasks == 0
    assert has_ended(order) and not has_ended(licences)


def test_a_task_running_now_names_its_worker() -> None:
    running = _history("order-c", SCHEDULED, (E.EVENT_TYPE_WORKFLOW_TASK_STARTED, "333@h"))
    assert running_task(running) == (333, 2)
    assert running_task(_history("order-d", SCHEDULED)) is None
    assert pid_of("333@h") == 333 and pid_of("worker-x") is None and pid_of("x@h") is None


def test_a_task_completed_by_no_process_is_unattributed() -> None:
    shares = tally([_history("order-e", (E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, "cli"))])
    assert shares.unattributed_tasks == 1 and shares.by_pid == {}


def test_the_busiest_minute_and_stretch_of_sampled_counts() -> None:
    samples = [(0.0, 0), (1.0, 25), (2.0, 50), (30.0, 100), (61.0, 130), (62.0, 131)]
    assert busiest_minute(samples) == 105  # from 1.0 (25) to 61.0 (130)
    bucket = bucket_for(600)
    assert allowed(600, 0.0) == bucket.burst + bucket.rate * 3.0  # a lease and a second
    assert allowed(600, 60.0) == 600  # a minute's allowance is the cap
    stretch = busiest_stretch(samples, 600)
    assert (stretch.seconds, stretch.requests) == (2.0, 50)
    assert stretch.use == 50 / allowed(600, 2.0)
    # Twice what one shared bucket grants, as two workers each with a bucket could send:
    doubled = [(t, 2 * n) for t, n in samples]
    assert busiest_stretch(doubled, 600).use > 1 >= stretch.use
