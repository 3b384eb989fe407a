"""The Temporal Schedule that reconciles every customer's subscriptions with Partner Center
(workflows/reconciliation.py): one per task queue, created by the worker when it starts, and set
to the configuration's interval and pace if it exists already. Operators see, pause and trigger
it in the Temporal UI (Schedules) or with `temporal schedule trigger --schedule-id ...`."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from clients.contract import coordination_task_queue
from clients.subscription_lifecycle import (
    RECONCILIATION_WORKFLOW,
    ReconciliationStart,
    reconciliation_schedule_id,
)
from ordering.config import EngineConfig


def reconciliation_schedule(task_queue: str, config: EngineConfig) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RECONCILIATION_WORKFLOW,
            ReconciliationStart(per_minute=config.reconciliations_per_minute),
            id=reconciliation_schedule_id(task_queue),
            task_queue=coordination_task_queue(task_queue),
            static_summary="Compares every customer's subscriptions with Partner Center",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=config.reconciliation_every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_reconciliation_schedule(
    client: Client, task_queue: str, config: EngineConfig
) -> str:
    """Create the schedule, or set the existing one to `config`; its id."""
    schedule_id = reconciliation_schedule_id(task_queue)
    wanted = reconciliation_schedule(task_queue, config)
    try:
        await client.create_schedule(schedule_id, wanted)
    except ScheduleAlreadyRunningError:

        def updated(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = current.description.schedule
            schedule.action = wanted.action
            schedule.spec = wanted.spec
            schedule.policy = wanted.policy
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(updated)
    return schedule_id
