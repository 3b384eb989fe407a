"""CustomerSubscriptionsWorkflow: one per customer, what the engine's orders left on its
subscriptions, and the refund windows of what they bought (docs/LIFECYCLE.md).

Why one per customer, and not the order kept open for its seven days, nor one per subscription:
- an order's result is what its storefront waits for; holding it open for a week would hold
  that back, and put a week of timers into every order's history;
- a failed payment undoes everything an order bought, on several subscriptions of one customer
  at once, and every change of a customer's subscriptions is serialized by the customer's slot
  anyway: one workflow per customer makes each undo one request, under one slot;
- reconciliation compares the engine's record with Partner Center per customer (one request
  lists all its subscriptions), so the record lives where the comparison runs.
At 10,000s of purchases a day the history stays small: a purchase adds a signal and, a week
later, two timers and two webhook starts to its customer's history; the run continues as new
when Temporal suggests it, carrying only the record and the windows still watched. A customer
with no window open has no timer and does no work; it waits for the next purchase or
reconciliation (an idle run costs the server nothing but its row).

Orders (and licence requests) tell it what they bought (`record_purchases`, by
signal-with-start from an activity) before they give the customer's slot back. Cancellations,
reductions and failed payments are updates: their validators refuse at once what the record
already refuses (a closed window, licences of other orders); the handler takes the customer's
slot, reads the subscription, refuses it if Partner Center holds something else than the record
says (drift: never overwritten), and asks Partner Center, one change at a time. Reconciliation
(a signal, from the scheduled `ReconciliationWorkflow`) reads the customer's subscriptions under
the slot and reports every difference: a metric, the `CspDriftedSubscriptions` search attribute,
the `subscription.drifted` webhook, a warning in the log and the run's current details.

It runs on the coordination queue, upgrading to the current build (docs/VERSIONING.md): its
changes go behind `workflow.patched`. Its Partner Center steps are regular activities (no
workflow task is held while the cap makes them wait).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities import messages as m
    from clients.contract import (
        DRIFTED_SUBSCRIPTIONS,
        SLOT_GRANTED_SIGNAL,
        WEBHOOK_DELIVERY_WORKFLOW,
        SlotGrant,
        WebhookDeliveryStart,
        order_workflow_id,
        request_scope,
    )
    from clients.subscription_lifecycle import (
        ACCEPT_DRIFT_UPDATE,
        CANCEL_SUBSCRIPTION_UPDATE,
        CUSTOMER_SUBSCRIPTIONS_WORKFLOW,
        PAYMENT_FAILED_UPDATE,
        RECONCILE_SIGNAL,
        RECORD_PURCHASES_SIGNAL,
        REDUCE_LICENCES_UPDATE,
        SUBSCRIPTIONS_QUERY,
        CustomerSubscriptionsView,
        DriftAcceptance,
        LicenceReduction,
        LifecycleChange,
        NotUndone,
        PaymentFailedOutcome,
        PaymentFailure,
        PurchasesRecord,
        ReconcileRequest,
        SubscriptionCancellation,
        SubscriptionsState,
    )
    from ordering import request_ids as ids
    from ordering.config import EngineConfig
    from ordering.current_details import markdown_text
    from ordering.events import EventStamp, StorefrontEvent, drift_event, window_event
    from ordering.refund_windows import (
        Drift,
        ExpectedSubscription,
        HeldSubscription,
        WindowedPurchase,
        WindowNotice,
        cancellation_refusal,
        changed_outside,
        drift_between,
        drifted,
        due_notices,
        next_notice_at,
        recorded_purchase,
        reduction_refusal,
        still_kept,
        undo_refusal,
        undo_step,
    )
    from ordering.refusals import Refusal, RefusalCode
    from workflows import metrics, steps
    from workflows.customer_slot import SlotHolder
    from workflows.metrics import webhook_failed
    from workflows.refusals import partner_center_refusal

R = TypeVar("R")
# How long a purchase's record is remembered as told (a retried activity tells it again within
# minutes; an order is never recorded twice otherwise).
RECORDS_REMEMBERED = timedelta(days=30)


class LineRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def refused(refusal: Refusal) -> ApplicationError:
    """An update's refusal: its code as the error's type, the refusal in its details."""
    return ApplicationError(refusal.message, refusal, type=refusal.code.value, non_retryable=True)


def nothing_recorded(order_id: str, line: int | None = None) -> Refusal:
    where = f"lines[{line}] of order {order_id}" if line is not None else f"order {order_id}"
    return Refusal(
        code=RefusalCode.NOTHING_TO_UNDO,
        message=f"The engine has no purchase of {where} for this customer: nothing was bought "
        "there, or its refund window closed long ago. Nothing was changed.",
    )


def no_drift(subscription_id: str) -> Refusal:
    return Refusal(
        code=RefusalCode.INVALID_REQUEST,
        message=f"Subscription {subscription_id} has no drift reported for this customer; "
        "nothing to accept.",
    )


# Versioned deploys: upgrades, as the coordination queue's worker does (docs/VERSIONING.md).
@workflow.defn(name=CUSTOMER_SUBSCRIPTIONS_WORKFLOW)
class CustomerSubscriptionsWorkflow:
    @workflow.init
    def __init__(self, state: SubscriptionsState) -> None:
        self._state = state.model_copy(deep=True)
        self._config = EngineConfig()
        self._changing = asyncio.Lock()
        self._slot = SlotHolder()
        self._slot.continue_takes(state.slot_takes)
        self._news = False
        self._reconciling: asyncio.Future[None] | None = None
        self._handing_over = 0  # webhook events being handed to their workflows
        self._handovers: set[asyncio.Future[None]] = set()

    @workflow.run
    async def run(self, state: SubscriptionsState) -> None:
        self._config = await steps.read(m.LOAD_ENGINE_CONFIG, m.NoInput(), EngineConfig)
        self._publish()
        while True:
            self._tell_due_notices()
            if self._state.reconcile_asked and self._reconciling is None:
                self._state.reconcile_asked = False
                self._reconciling = asyncio.ensure_future(self._reconcile())
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(
                    lambda: (
                        workflow.all_handlers_finished()
                        and not self._changing.locked()
                        and self._reconciling is None
                        and self._handing_over == 0
                    )
                )
                self._state.slot_takes = self._slot.takes
                workflow.continue_as_new(self._state)  # (a reconciliation asked meanwhile too)
            wake_at = next_notice_at(
                self._state.watched, workflow.now(), self._config.refund_window_notice
            )
            self._news = False
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._news or (self._state.reconcile_asked and not self._reconciling),
                    timeout=(wake_at - workflow.now()) if wake_at is not None else None,
                )

    # ------------------------------------------------------------------ what orders bought

    @workflow.signal(name=RECORD_PURCHASES_SIGNAL)
    def record_purchases(self, record: PurchasesRecord) -> None:
        """An order's fulfilled lines: the record of each subscription, and the windows."""
        if record.purchase in self._state.recorded:
            return  # told again (a retried activity)
        now = workflow.now()
        self._state.recorded = {
            key: at for key, at in self._state.recorded.items() if now - at < RECORDS_REMEMBERED
        }
        self._state.recorded[record.purchase] = now
        drifts: list[Drift] = []
        for line in record.lines:
            expected, drift = recorded_purchase(
                self._state.expected.get(line.subscription_id),
                subscription_id=line.subscription_id,
                offer=line.offer,
                seats=line.seats,
                quantity_after=line.quantity_after,
                purchase=record.purchase,
                storefront=record.storefront,
            )
            self._state.expected[line.subscription_id] = expected
            if drift is not None:
                drifts.append(drift)
            if line.window_closes_at is not None and line.seats > 0:
                self._state.watched.append(
                    WindowedPurchase(
                        purchase=record.purchase,
                        order_id=record.order_id,
                        storefront=record.storefront,
                        line=line.line,
                        subscription_id=line.subscription_id,
                        offer=line.offer,
                        action=line.action,
                        seats=line.seats,
                        seats_left=line.seats,
                        closes_at=line.window_closes_at,
                    )
                )
        if drifts:  # the order found the subscription changed outside the engine
            found = {d.subscription_id for d in drifts}
            self._report_drifts(
                [
                    *(d for d in self._state.drifts.values() if d.subscription_id not in found),
                    *drifts,
                ]
            )
        self._news = True
        self._publish()

    def _tell_due_notices(self) -> None:
        now = workflow.now()
        for notice, purchase in due_notices(
            self._state.watched, now, self._config.refund_window_notice
        ):
            closed = notice is WindowNotice.CLOSED
            if closed:
                purchase.closed_told = True
            else:
                purchase.closing_told = True
            metrics.refund_window(notice.value)
            workflow.logger.info(
                "refund window of %s lines[%d] %s",
                purchase.purchase,
                purchase.line,
                "closed" if closed else "closing",
            )
            if purchase.storefront is not None:
                self._send(
                    window_event(
                        self._stamp(purchase.storefront),
                        purchase,
                        self._state.customer_id,
                        closed=closed,
                    )
                )
        self._state.watched = still_kept(self._state.watched, now)
        kept = {purchase.purchase for purchase in self._state.watched}
        self._state.payment_failures = {
            key: told for key, told in self._state.payment_failures.items() if key in kept
        }
        self._publish()

    # ------------------------------------------------------------------ changes

    def _purchase_of(self, order_id: str, storefront: str | None, line: int) -> WindowedPurchase:
        key = order_workflow_id(order_id, storefront)
        for purchase in self._state.watched:
            if purchase.purchase == key and purchase.line == line:
                return purchase
        raise refused(nothing_recorded(order_id, line))

    def _expected(self, purchase: WindowedPurchase) -> ExpectedSubscription:
        return self._state.expected[purchase.subscription_id]

    @workflow.update(name=CANCEL_SUBSCRIPTION_UPDATE)
    async def cancel_subscription(self, request: SubscriptionCancellation) -> LifecycleChange:
        purchase = self._purchase_of(request.order_id, request.storefront, request.line)
        return await self._one_change(purchase, "cancel", cancel=True, seats=0)

    @cancel_subscription.validator
    def _validate_cancellation(self, request: SubscriptionCancellation) -> None:
        purchase = self._purchase_of(request.order_id, request.storefront, request.line)
        refusal = cancellation_refusal(purchase, self._expected(purchase), workflow.now())
        if refusal is not None:
            raise refused(refusal)

    @workflow.update(name=REDUCE_LICENCES_UPDATE)
    async def reduce_licences(self, request: LicenceReduction) -> LifecycleChange:
        purchase = self._purchase_of(request.order_id, request.storefront, request.line)
        return await self._one_change(purchase, "reduce", cancel=False, seats=request.quantity)

    @reduce_licences.validator
    def _validate_reduction(self, request: LicenceReduction) -> None:
        purchase = self._purchase_of(request.order_id, request.storefront, request.line)
        refusal = reduction_refusal(
            purchase, request.quantity, self._expected(purchase), workflow.now()
        )
        if refusal is not None:
            raise refused(refusal)

    @workflow.update(name=PAYMENT_FAILED_UPDATE)
    async def payment_failed(self, request: PaymentFailure) -> PaymentFailedOutcome:
        """Undo exactly what the order bought, line by line, while each window is open; say
        what could not be undone, and why."""
        key = order_workflow_id(request.order_id, request.storefront)
        async with self._changing:
            told = self._state.payment_failures.get(key)
            if told is not None:
                return told  # told again: what was undone then (nothing more is undone)
            outcome = PaymentFailedOutcome(order_id=request.order_id)
            async with self._holding_slot(f"payment-failed:{key}"):
                for purchase in [p for p in self._state.watched if p.purchase == key]:
                    step = undo_step(purchase, self._expected(purchase))
                    try:
                        refusal = undo_refusal(purchase, self._expected(purchase), workflow.now())
                        if refusal is not None:
                            raise LineRefused(refusal)
                        outcome.undone.append(
                            await self._change(purchase, cancel=step.cancel, seats=step.seats)
                        )
                    except LineRefused as line_refused:
                        outcome.not_undone.append(
                            NotUndone(
                                line=purchase.line,
                                subscription_id=purchase.subscription_id,
                                refusal=line_refused.refusal,
                            )
                        )
            self._state.payment_failures[key] = outcome
            return outcome

    @payment_failed.validator
    def _validate_payment_failed(self, request: PaymentFailure) -> None:
        key = order_workflow_id(request.order_id, request.storefront)
        if not any(p.purchase == key for p in self._state.watched):
            raise refused(nothing_recorded(request.order_id))

    async def _one_change(
        self, purchase: WindowedPurchase, kind: str, *, cancel: bool, seats: int
    ) -> LifecycleChange:
        """One cancellation or reduction asked by update: its turn among the customer's
        changes, under the customer's slot; refused as the update's failure."""
        async with self._changing:
            try:
                async with self._holding_slot(f"{kind}:{purchase.purchase}"):
                    return await self._change(purchase, cancel=cancel, seats=seats)
            except LineRefused as refusal:
                raise refused(refusal.refusal) from None

    async def _change(
        self, purchase: WindowedPurchase, *, cancel: bool, seats: int
    ) -> LifecycleChange:
        """Cancel the line's subscription, or take `seats` of its licences back: checked
        against the record and against what Partner Center holds, then asked. Raises
        `LineRefused` with the reason when it is not done (nothing changed)."""
        expected = self._expected(purchase)
        now = workflow.now()
        refusal = (
            cancellation_refusal(purchase, expected, now)
            if cancel
            else reduction_refusal(purchase, seats, expected, now)
        )
        if refusal is not None:
            raise LineRefused(refusal)
        customer_id = self._state.customer_id
        query = m.SubscriptionQuery(
            customer_id=customer_id, subscription_id=purchase.subscription_id
        )
        current = await self._partner_center(
            m.READ_SUBSCRIPTION_FOR_CHANGE, query, m.SubscriptionForChange
        )
        held = HeldSubscription(
            subscription_id=purchase.subscription_id,
            quantity=current.state.quantity,
            status=current.state.status,
        )
        drift = drifted(expected, held)
        if drift is not None:
            self._report_drifts([*self._other_drifts(drift.subscription_id), drift])
            raise LineRefused(changed_outside(drift))
        scope = request_scope(purchase.purchase, purchase.order_id)
        purchase.changes_asked += 1  # this change's own request id, kept by its retries
        asked = purchase.changes_asked
        before = expected.quantity
        if cancel:
            await self._partner_center(
                m.CANCEL_SUBSCRIPTION,
                m.CancelSubscription(
                    request_id=ids.request_id(scope, ids.line_cancellation(purchase.line, asked)),
                    customer_id=customer_id,
                    subscription=current.body,
                ),
                m.SubscriptionState,
            )
            expected.status = "deleted"
            purchase.cancelled = True
            after = before
        else:
            after = before - seats
            changed = await self._partner_center(
                m.SET_QUANTITY,
                m.SetQuantity(
                    request_id=ids.request_id(scope, ids.line_reduction(purchase.line, asked)),
                    customer_id=customer_id,
                    subscription=current.body,
                    quantity=after,
                ),
                m.QuantitySet,
            )
            if changed.state is None or changed.state.quantity != after:
                await steps.poll(
                    m.AWAIT_QUANTITY,
                    query.model_copy(update={"quantity": after}),
                    m.SubscriptionState,
                    every=self._config.waits.provisioning_poll_every,
                    expires_after=self._config.waits.provisioning_expires_after,
                )
            expected.quantity = after
            purchase.seats_left -= seats
        expected.changed_by = purchase.purchase
        metrics.undone("cancelled" if cancel else "reduced")
        self._publish()
        return LifecycleChange(
            order_id=purchase.order_id,
            line=purchase.line,
            subscription_id=purchase.subscription_id,
            cancelled=cancel,
            quantity_before=before,
            quantity_after=after,
        )

    async def _partner_center(self, name: str, arg: BaseModel, result_type: type[R]) -> R:
        """One Partner Center request; Microsoft's refusal becomes the line's (nothing
        changed)."""
        try:
            return await steps.commit(name, arg, result_type)
        except steps.ACTIVITY_FAILURES as error:
            refusal = partner_center_refusal(error)
            if refusal is None:
                raise
            raise LineRefused(refusal) from None

    # ------------------------------------------------------------------ the customer's slot

    def _holding_slot(self, purpose: str) -> _HeldSlot:
        """The customer's slot for one change (or reconciliation), leased as an order's is
        (`customer_slot_lease`, 3 hours: longer than a change's provisioning may be followed)."""
        return _HeldSlot(
            self._slot, self._state.customer_id, purpose, self._config.waits.customer_slot_lease
        )

    @workflow.signal(name=SLOT_GRANTED_SIGNAL)
    def customer_slot_granted(self, grant: SlotGrant) -> None:
        self._slot.granted(grant)

    # ------------------------------------------------------------------ reconciliation

    @workflow.signal(name=RECONCILE_SIGNAL)
    def reconcile(self, request: ReconcileRequest) -> None:
        self._state.reconcile_asked = True

    async def _reconcile(self) -> None:
        """Compare the record with what Partner Center holds, under the customer's slot (no
        change of the engine's is half-way meanwhile), against the record as it was when the
        list was asked for (an order that takes no slot may record a new subscription while it
        is read); report every difference. Runs beside the main loop, so the windows' notices
        never wait for it."""
        try:
            if not self._state.expected:
                return
            async with self._changing, self._holding_slot("reconcile"):
                recorded = {k: v.model_copy() for k, v in self._state.expected.items()}
                listed = await steps.commit(
                    m.READ_SUBSCRIPTIONS,
                    m.CustomerRef(customer_id=self._state.customer_id),
                    m.SubscriptionList,
                )
                held = [
                    HeldSubscription(subscription_id=s.id, quantity=s.quantity, status=s.status)
                    for s in listed.items
                ]
                self._state.last_reconciled_at = workflow.now()
                self._report_drifts(drift_between(recorded, held))
        finally:
            self._reconciling = None
            self._news = True

    @workflow.update(name=ACCEPT_DRIFT_UPDATE)
    async def accept_drift(self, request: DriftAcceptance) -> ExpectedSubscription:
        """An operator accepts what Partner Center holds of a drifted subscription: read again
        under the customer's slot, it becomes the record (one Partner Center no longer lists is
        recorded as deleted); the windows of the orders on it keep at most what it holds, the
        newest purchases' first given up (as Microsoft takes seats back newest first); the
        drift is cleared. Nothing is changed at Partner Center."""
        async with self._changing, self._holding_slot(f"accept-drift:{request.subscription_id}"):
            drift = self._state.drifts.get(request.subscription_id)
            if drift is None:  # cleared while this waited for the slot
                raise refused(no_drift(request.subscription_id))
            record = self._state.expected[request.subscription_id]
            quantity, status = record.quantity, "deleted"  # (Partner Center lists it no more)
            if drift.held_quantity is not None:
                try:
                    current = await self._partner_center(
                        m.READ_SUBSCRIPTION_FOR_CHANGE,
                        m.SubscriptionQuery(
                            customer_id=self._state.customer_id,
                            subscription_id=request.subscription_id,
                        ),
                        m.SubscriptionForChange,
                    )
                    quantity, status = current.state.quantity, current.state.status
                except LineRefused:
                    pass  # gone since: deleted
            record.quantity, record.status = quantity, status
            kept = 0 if status == "deleted" else quantity
            on_it = [p for p in self._state.watched if p.subscription_id == record.subscription_id]
            for purchase in sorted(on_it, key=lambda p: p.closes_at):
                purchase.seats_left = min(purchase.seats_left, kept)
                kept -= purchase.seats_left
                purchase.cancelled = purchase.cancelled or status == "deleted"
            workflow.logger.warning(
                "drift of subscription %s accepted by an operator: the record is now %d "
                "licences, %s",
                request.subscription_id,
                record.quantity,
                record.status,
            )
            self._report_drifts(self._other_drifts(request.subscription_id))
            return record

    @accept_drift.validator
    def _validate_acceptance(self, request: DriftAcceptance) -> None:
        if request.subscription_id not in self._state.drifts:
            raise refused(no_drift(request.subscription_id))

    def _other_drifts(self, subscription_id: str) -> list[Drift]:
        return [d for key, d in self._state.drifts.items() if key != subscription_id]

    def _report_drifts(self, drifts: list[Drift]) -> None:
        """Every drift found (the whole set: those not found any more are cleared). A new or
        changed one is counted, logged and sent to the storefront of the subscription's last
        order; the record is never overwritten."""
        found = {drift.subscription_id: drift for drift in drifts}
        for subscription_id, drift in found.items():
            if self._state.drifts.get(subscription_id) == drift:
                continue  # reported already
            metrics.drift_found(
                "missing"
                if drift.held_quantity is None
                else "status"
                if drift.held_status != drift.expected_status
                else "quantity"
            )
            workflow.logger.warning("subscription drifted: %s", drift.sentence())
            if drift.storefront is not None:
                self._send(
                    drift_event(self._stamp(drift.storefront), drift, self._state.customer_id)
                )
        changed = set(found) != set(self._state.drifts)
        self._state.drifts = found
        if changed:  # (an event in the history only when the set changes)
            workflow.upsert_search_attributes(
                [DRIFTED_SUBSCRIPTIONS.value_set(sorted(found))]
                if found
                else [DRIFTED_SUBSCRIPTIONS.value_unset()]
            )
        self._publish()

    # ------------------------------------------------------------------ storefronts, operators

    def _stamp(self, storefront: str) -> EventStamp:
        self._state.events_sent += 1
        return EventStamp(
            storefront=storefront, sequence=self._state.events_sent, occurred_at=workflow.now()
        )

    def _send(self, event: StorefrontEvent) -> None:
        """Hand the event to a webhooks workflow of its own (it ends once delivered or failed
        for good), in the background."""
        self._handing_over += 1
        self._handovers.add(asyncio.ensure_future(self._hand_over(event)))

    async def _hand_over(self, event: StorefrontEvent) -> None:
        info = workflow.info()
        try:
            await workflow.start_child_workflow(
                WEBHOOK_DELIVERY_WORKFLOW,
                WebhookDeliveryStart(schedule=self._config.webhooks, events=[event]),
                id=f"webhooks-{info.workflow_id}-{event.sequence}",
                task_queue=info.task_queue,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"{event.type.value} #{event.sequence}",
            )
        except Exception as error:  # a bug or an id taken: counted and logged, never silent
            webhook_failed(event.type.value, "not_handed_over")
            workflow.logger.warning(
                "webhook %s #%d not handed over: %s",
                event.type.value,
                event.sequence,
                type(error).__name__,
            )
        finally:
            self._handing_over -= 1
            self._handovers = {f for f in self._handovers if not f.done()}

    def _publish(self) -> None:
        """The operators' view (the UI's current details): the windows watched, the drifts."""
        now = workflow.now()
        lines = [f"**Subscriptions of customer** {markdown_text(self._state.customer_id)}"]
        open_windows = [p for p in self._state.watched if p.is_open(now)]
        if open_windows:
            lines.append("\n**Refund windows open**:")
            lines += [
                f"- {markdown_text(p.purchase)} lines[{p.line}]: subscription "
                f"{markdown_text(p.subscription_id)}, {p.seats_left} of {p.seats} licences "
                f"{'cancelled' if p.cancelled else 'refundable'} until "
                f"{p.closes_at:%Y-%m-%d %H:%M} UTC"
                for p in open_windows
            ]
        if self._state.drifts:
            lines.append("\n**Drifted** (changed outside the engine; not overwritten):")
            lines += [f"- {markdown_text(d.sentence())}" for d in self._state.drifts.values()]
        workflow.set_current_details("\n".join(lines))

    @workflow.query(name=SUBSCRIPTIONS_QUERY)
    def subscriptions(self) -> CustomerSubscriptionsView:
        return CustomerSubscriptionsView(
            customer_id=self._state.customer_id,
            expected=list(self._state.expected.values()),
            watched=self._state.watched,
            drifts=list(self._state.drifts.values()),
            last_reconciled_at=self._state.last_reconciled_at,
        )


class _HeldSlot:
    """`async with`: the customer's slot held for one change (or reconciliation)."""

    def __init__(self, slot: SlotHolder, customer_id: str, purpose: str, lease: timedelta) -> None:
        self._slot = slot
        self._customer_id = customer_id
        self._purpose = purpose
        self._lease = lease

    async def __aenter__(self) -> None:
        await self._slot.take(self._customer_id, self._purpose, lease=self._lease)

    async def __aexit__(self, *_: object) -> None:
        await self._slot.release()


__all__ = ["CustomerSubscriptionsWorkflow"]
