"""Webhooks to storefronts (docs/WEBHOOKS.md): the order's outbox, and the workflow that delivers.

An order (or licence request) placed by a storefront tells its outbox each event
(`WebhookOutbox.emit`); the outbox hands them, in sequence order, to the order's own webhooks
workflow (`WebhookDeliveryWorkflow`, id `webhooks-<order's workflow id>`, on the order's task
queue): the first by starting it, as a child whose parent close policy is ABANDON (the order
ends without waiting for its webhooks), the later ones by signal. Handing over happens in the
background: the order goes on meanwhile, and before it returns it waits only until everything
it emitted has been handed over (`handed_over`), never for a delivery.

The webhooks workflow delivers one event at a time, in sequence, each by the `deliver_webhook`
activity, retried with exponential backoff as the order's engine configuration says
(`webhooks`: 10 s doubling up to 1 hour apart, for 3 days). A delivery that finally fails is
counted (`csp_orders_webhooks_failed`), listed in the workflow's current details and logged:
never dropped in silence; an event of a storefront that chose no webhook is counted as not sent
(`csp_orders_webhooks_not_sent`). It ends once the order's last
event is delivered or has failed; or, if none ever comes (the order was terminated), after
`IDLE_TIMEOUT` without any event.

Orders placed without a storefront have no outbox at all: their history is what it was.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.exceptions import TimeoutError as TimedOut
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.messages import (
        DELIVER_WEBHOOK,
        WebhookDeliveryRequest,
        WebhookDeliveryResult,
    )
    from clients.contract import (
        WEBHOOK_DELIVERY_WORKFLOW,
        WEBHOOK_EVENTS_SIGNAL,
        FailedWebhook,
        WebhookDeliveryReport,
        WebhookDeliveryStart,
        WebhookEvents,
        storefront_of,
        webhooks_workflow_id,
    )
    from ordering.config import WebhookSchedule
    from ordering.current_details import markdown_text
    from ordering.events import EventStamp, StorefrontEvent, webhook_id
    from workflows import metrics

# Longer than any wait of an order between two of its events (the longest, the relationship's,
# is 30 days by default): a webhooks workflow that hears nothing for this long ends.
IDLE_TIMEOUT = timedelta(days=45)
NOT_CONFIGURED = "the storefront has no webhook"


class WebhookOutbox:
    """An order's (or licence request's) events on their way to its storefront: `emit` each,
    then `await handed_over()` before the run returns. Inert for a run no storefront placed."""

    def __init__(self) -> None:
        self._sequence = 0
        self._pending: list[StorefrontEvent] = []
        self._sending = False
        self._sender: asyncio.Future[None] | None = None
        self._child: ChildWorkflowHandle[WebhookDeliveryWorkflow, WebhookDeliveryReport] | None
        self._child = None
        self._schedule = WebhookSchedule()

    @property
    def storefront(self) -> str | None:
        """The storefront that placed this run (None: nobody hears of it)."""
        return storefront_of(workflow.info().workflow_id)

    @property
    def enabled(self) -> bool:
        return self.storefront is not None

    def schedule(self, schedule: WebhookSchedule) -> None:
        """How the events are to be delivered (the run's engine configuration), for the
        webhooks workflow it starts."""
        self._schedule = schedule

    def stamp(self) -> EventStamp:
        """The next event's storefront, sequence number and time (only when `enabled`)."""
        storefront = self.storefront
        assert storefront is not None, "no storefront placed this run"
        self._sequence += 1
        return EventStamp(
            storefront=storefront, sequence=self._sequence, occurred_at=workflow.now()
        )

    def emit(self, event: StorefrontEvent) -> None:
        """Send `event` after those emitted before it, without waiting for it to leave."""
        self._pending.append(event)
        if not self._sending:
            self._sending = True
            self._sender = asyncio.ensure_future(self._send())

    async def handed_over(self) -> None:
        """Until every emitted event is with the webhooks workflow (not delivered: that is the
        webhooks workflow's business, and may take days)."""
        if self._sending:
            await workflow.wait_condition(lambda: not self._sending)

    async def _send(self) -> None:
        try:
            while self._pending:
                events, self._pending = self._pending, []
                await self._hand_over(events)
        finally:
            self._sending = False

    async def _hand_over(self, events: list[StorefrontEvent]) -> None:
        if self._child is not None:
            try:
                await self._child.signal(WEBHOOK_EVENTS_SIGNAL, WebhookEvents(events=events))
                return
            except FailureError:
                # It ended (no event for IDLE_TIMEOUT): a new run of it takes these.
                workflow.logger.warning("the webhooks workflow had ended; starting it again")
                self._child = None
        info = workflow.info()
        try:
            self._child = await workflow.start_child_workflow(
                WEBHOOK_DELIVERY_WORKFLOW,
                WebhookDeliveryStart(schedule=self._schedule, events=events),
                id=webhooks_workflow_id(info.workflow_id),
                task_queue=info.task_queue,
                parent_close_policy=ParentClosePolicy.ABANDON,
                result_type=WebhookDeliveryReport,
                static_summary=f"Webhooks of {info.workflow_id}",
            )
        except FailureError as error:
            # Not handed over (it cannot happen but for a bug): the order goes on, and the
            # events are counted and logged as failed, not dropped in silence.
            for event in events:
                metrics.webhook_failed(event.type.value, "not_handed_over")
                workflow.logger.warning(
                    "webhook event %s #%d not handed over: %s",
                    event.type.value,
                    event.sequence,
                    type(error).__name__,
                )


# Versioned deploys: pinned to its order's build, as its task queue's worker is; it ends after
# its order's final event (docs/VERSIONING.md).
@workflow.defn(name=WEBHOOK_DELIVERY_WORKFLOW)
class WebhookDeliveryWorkflow:
    """Delivers one order's events to its storefront, one at a time, in sequence order."""

    def __init__(self) -> None:
        self._queued: dict[int, StorefrontEvent] = {}
        self._last_sequence = 0
        self._report = WebhookDeliveryReport()
        self._schedule = WebhookSchedule()

    @workflow.run
    async def run(self, start: WebhookDeliveryStart) -> WebhookDeliveryReport:
        self._schedule = start.schedule
        self._receive(start.events)
        while True:
            try:
                await workflow.wait_condition(lambda: bool(self._queued), timeout=IDLE_TIMEOUT)
            except TimeoutError:
                if not self._queued:  # (an event may have come as the time ran out)
                    self._last_event_never_came()
                    break
            if await self._deliver_next():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        while self._queued:  # events that came in the same task as the end
            await self._deliver_next()
            await workflow.wait_condition(workflow.all_handlers_finished)
        return self._report

    async def _deliver_next(self) -> bool:
        """Deliver the next event in sequence; True when it was its order's last."""
        event = self._queued.pop(min(self._queued))
        self._last_sequence = event.sequence
        await self._deliver(event)
        return event.type.final

    def _last_event_never_came(self) -> None:
        """No event for `IDLE_TIMEOUT`: the order's run ended without its last event (it was
        terminated). Counted and logged: the storefront never heard how it ended."""
        metrics.webhook_failed("none", "no_last_event")
        workflow.logger.warning(
            "no webhook event for %s: the order's last one never came", IDLE_TIMEOUT
        )
        self._report.last_event_missing = True
        self._publish()

    @workflow.signal(name=WEBHOOK_EVENTS_SIGNAL)
    def events(self, more: WebhookEvents) -> None:
        self._receive(more.events)

    def _receive(self, events: list[StorefrontEvent]) -> None:
        """Queue events not yet delivered (an event handed over twice is delivered once)."""
        for event in events:
            if event.sequence > self._last_sequence:
                self._queued.setdefault(event.sequence, event)

    async def _deliver(self, event: StorefrontEvent) -> None:
        schedule = self._schedule
        request = WebhookDeliveryRequest(webhook_id=webhook_id(event), event=event)
        try:
            result = await workflow.execute_activity(
                DELIVER_WEBHOOK,
                request,
                result_type=WebhookDeliveryResult,
                start_to_close_timeout=schedule.attempt_timeout,
                schedule_to_close_timeout=schedule.give_up_after,
                retry_policy=RetryPolicy(
                    initial_interval=schedule.first_retry_after,
                    backoff_coefficient=2.0,
                    maximum_interval=schedule.longest_retry_interval,
                ),
                summary=f"{event.type.value} #{event.sequence}",
            )
        except ActivityError as error:
            self._failed(request, "not_delivered", _last_error(error))
            return
        if not result.configured:  # the storefront chose to have none: nothing to deliver
            self._report.not_sent += 1
            metrics.webhook_not_sent(event.type.value)
            workflow.logger.info(
                "webhook %s #%d not sent: %s", event.type.value, event.sequence, NOT_CONFIGURED
            )
            self._publish()
            return
        self._report.delivered += 1
        metrics.webhook_delivered(event.type.value)
        self._publish()

    def _failed(self, request: WebhookDeliveryRequest, reason: str, last_error: str) -> None:
        event = request.event
        self._report.failed.append(
            FailedWebhook(
                type=event.type,
                sequence=event.sequence,
                webhook_id=request.webhook_id,
                last_error=last_error,
            )
        )
        metrics.webhook_failed(event.type.value, reason)
        workflow.logger.warning(
            "webhook %s #%d (%s) not delivered: %s",
            event.type.value,
            event.sequence,
            request.webhook_id,
            last_error,
        )
        self._publish()

    def _publish(self) -> None:
        """The operators' view (the UI's current details): what was delivered, what failed."""
        report = self._report
        text = f"**Webhooks**: {report.delivered} delivered, {len(report.failed)} failed."
        if report.not_sent:
            text += f" {report.not_sent} not sent ({NOT_CONFIGURED})."
        if report.last_event_missing:
            text += " The order's last event never came (its run ended without it)."
        if report.failed:
            text += "\n\nFailed deliveries (never acknowledged by the storefront):\n"
            text += "\n".join(
                f"- `{f.type.value}` #{f.sequence}, webhook-id {markdown_text(f.webhook_id)}: "
                f"{markdown_text(f.last_error)}"
                for f in report.failed
            )
        workflow.set_current_details(text)


def _last_error(error: ActivityError) -> str:
    """Why the delivery failed for good: the last attempt's error (the activity writes only
    the status or the kind of failure into it), and why the retries stopped."""
    last: str | None = None
    stopped: str | None = None
    cause: BaseException | None = error.cause
    while cause is not None:
        if isinstance(cause, ApplicationError):
            last = last or cause.message
        elif isinstance(cause, TimedOut):
            stopped = stopped or (cause.type.name.lower() if cause.type else "timeout")
        cause = cause.__cause__
    if stopped and last:
        return f"{last} (retries stopped: {stopped})"
    return last or stopped or type(error.cause).__name__
