"""LicencesWorkflow: extra licences for one existing subscription (the subscription details
page). How Dynamics instances and discontinued offers grow. Serialized with the customer's
orders through the customer's slot.

Inside the slot: read the subscription whole, send it back with its new total, and wait for the
new quantity only if Partner Center did not show it at once: two Partner Center requests, one
step each. Runs started before this course (no `licences-partner-center-queue` marker) keep
their first-release steps."""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities import messages as m
    from clients.contract import (
        CUSTOMER_ID,
        LICENCES_WORKFLOW,
        MISSING_SUBMISSION,
        PHASE,
        SLOT_GRANTED_SIGNAL,
        STOREFRONT_SEPARATOR,
        Arrival,
        LicenceOutcome,
        LicenceRequest,
        SlotGrant,
        Submission,
        request_scope,
    )
    from clients.subscription_lifecycle import FulfilledLine, PurchasesRecord
    from ordering.config import EngineConfig, Waits
    from ordering.events import EventLine, licences_event
    from ordering.planning import LineAction
    from ordering.refund_windows import PurchaseAction, window_closes_at
    from ordering.refusals import ENGINE_FAILURE, Refusal, RefusalCode, invalid_input
    from ordering.request_ids import QUANTITY, request_id
    from ordering.status import LineState
    from ordering.validation import InvalidOrder, validate_input
    from workflows import steps
    from workflows.customer_slot import SlotHolder
    from workflows.refusals import partner_center_refusal, unreadable_input
    from workflows.webhooks import WebhookOutbox


# Since this change, a licence request reads the engine's configuration first (as an order does)
# and waits as it says: the customer slot's lease, and how often and how long it follows the new
# quantity. Runs started earlier keep what they were written with: `EARLIER_WAITS`.
CONFIGURED = "licences-configured"
EARLIER_WAITS = Waits(
    provisioning_poll_every=timedelta(seconds=2), provisioning_expires_after=timedelta(hours=2)
)
# Since this change, a licence request asks Partner Center one request per step, and takes the
# customer's slot by update. (The marker's name is from an earlier design, in which the steps ran
# on a task queue of their own; histories carry it, so it stays.)
PARTNER_CENTER_QUEUE = "licences-partner-center-queue"
# Since this change, a licence request tells its customer's subscriptions workflow the
# subscription's new total (what reconciliation compares with Partner Center), and its outcome
# says until when the added licences are refundable.
REFUND_WINDOWS = "licences-refund-windows"


# Versioned deploys: pinned to its build, as its task queue's worker is (docs/VERSIONING.md).
@workflow.defn(name=LICENCES_WORKFLOW)
class LicencesWorkflow:
    def __init__(self) -> None:
        self._slot = SlotHolder()
        self._waits = EARLIER_WAITS
        # Where the request's outcome goes, when a storefront placed it (its webhooks)
        self._webhooks = WebhookOutbox()
        self._request: LicenceRequest | None = None
        self._told_the_end = False  # the storefront was sent the request's last event

    @workflow.run
    async def run(self, submission: Submission = MISSING_SUBMISSION) -> LicenceOutcome:
        try:
            return await self._run(submission)
        except FailureError:
            # Failed for good with an engine error before its storefront heard how it ended
            # (reading the configuration, the customer's slot): `licences.failed`.
            if self._webhooks.enabled and not self._told_the_end:
                self._notify(self._request, refusal=ENGINE_FAILURE, failed=True)
                await self._webhooks.handed_over()
            raise

    async def _run(self, submission: Submission) -> LicenceOutcome:
        try:
            if submission.arrival is Arrival.UNREADABLE:
                raise InvalidOrder([unreadable_input("request")])
            request = validate_input(LicenceRequest, submission.root)
            self._request = request
        except InvalidOrder as invalid:
            refusal = invalid_input(RefusalCode.INVALID_REQUEST, "request", invalid.problems)
            self._notify(None, refusal=refusal)
            await self._webhooks.handed_over()
            self._refuse(refusal)
        lean = workflow.patched(PARTNER_CENTER_QUEUE)
        if lean or workflow.patched(CONFIGURED):
            config = await steps.read(m.LOAD_ENGINE_CONFIG, m.NoInput(), EngineConfig)
            self._waits = config.waits
            self._webhooks.schedule(config.webhooks)
        workflow.upsert_search_attributes(
            [CUSTOMER_ID.value_set(request.customer_id), PHASE.value_set("running")]
        )
        if lean:
            await self._slot.take(
                request.customer_id, request.request_id, lease=self._waits.customer_slot_lease
            )
        else:
            await self._slot.acquire(
                request.customer_id, request.request_id, lease=self._waits.customer_slot_lease
            )
        try:
            outcome = await (self._add(request) if lean else self._first_release_add(request))
        except FailureError as error:
            refused: Refusal | None = (
                error.details[0]
                if isinstance(error, ApplicationError)
                and error.details
                and isinstance(error.details[0], Refusal)
                else None
            )
            if isinstance(error, ApplicationError):
                workflow.upsert_search_attributes([PHASE.value_set("refused")])
            if refused is not None:
                self._notify(request, refusal=refused)
            else:  # an engine error, no refusal: the change may or may not have been made
                self._notify(request, refusal=ENGINE_FAILURE, failed=True)
            raise
        finally:
            await self._slot.release()
            await self._webhooks.handed_over()
        workflow.upsert_search_attributes([PHASE.value_set("completed")])
        self._notify(request, outcome=outcome)
        await self._webhooks.handed_over()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    def _notify(
        self,
        request: LicenceRequest | None,
        *,
        outcome: LicenceOutcome | None = None,
        refusal: Refusal | None = None,
        failed: bool = False,
    ) -> None:
        """Tell the storefront that placed the request (if one did) how it ended, by its
        webhooks (workflows/webhooks.py)."""
        if not self._webhooks.enabled:
            return
        self._told_the_end = True
        line = None
        if request is not None:
            line = EventLine(
                line=0,
                offer=outcome.offer if outcome else None,
                quantity=request.quantity,
                state=LineState.FULFILLED
                if outcome
                else LineState.FAILED
                if failed
                else LineState.REFUSED,
                action=LineAction.ADD_LICENCES,
                subscription_id=request.subscription_id,
                quantity_before=outcome.quantity_before if outcome else None,
                quantity_after=outcome.quantity_after if outcome else None,
            )
        own_id = workflow.info().workflow_id.rpartition(STOREFRONT_SEPARATOR)[2]
        self._webhooks.emit(
            licences_event(
                self._webhooks.stamp(),
                request_id=request.request_id if request else own_id,
                customer_id=request.customer_id if request else None,
                line=line,
                refusal=refusal,
                failed=failed,
            )
        )

    async def _add(self, request: LicenceRequest) -> LicenceOutcome:
        query = m.SubscriptionQuery(
            customer_id=request.customer_id, subscription_id=request.subscription_id
        )
        try:
            before = await steps.ask(m.READ_SUBSCRIPTION_FOR_CHANGE, query, m.SubscriptionForChange)
        except steps.ACTIVITY_FAILURES as error:
            self._refuse_from(
                error, RefusalCode.SUBSCRIPTION_NOT_FOUND, "The customer has no such subscription."
            )
        if before.state.status != "active":
            self._refuse(
                Refusal(
                    code=RefusalCode.SUBSCRIPTION_NOT_ACTIVE,
                    message=f"Licences can only be added to an active subscription; this one is "
                    f"{before.state.status}.",
                )
            )
        target = before.state.quantity + request.quantity
        try:
            changed = await steps.commit(
                m.SET_QUANTITY,
                m.SetQuantity(
                    request_id=request_id(
                        request_scope(workflow.info().workflow_id, request.request_id), QUANTITY
                    ),
                    customer_id=request.customer_id,
                    subscription=before.body,
                    quantity=target,
                ),
                m.QuantitySet,
            )
        except steps.ACTIVITY_FAILURES as error:
            self._refuse_from(
                error, RefusalCode.PARTNER_CENTER_REFUSED, "Microsoft refused the change."
            )
        after = changed.state
        if after is None or after.quantity != target or after.status != "active":
            after = await steps.poll(
                m.AWAIT_QUANTITY,
                query.model_copy(update={"quantity": target}),
                m.SubscriptionState,
                every=self._waits.provisioning_poll_every,
                expires_after=self._waits.provisioning_expires_after,
            )
        outcome = LicenceOutcome(
            request_id=request.request_id,
            subscription_id=request.subscription_id,
            offer=before.state.offer,
            quantity_before=before.state.quantity,
            quantity_after=after.quantity,
        )
        if workflow.patched(REFUND_WINDOWS):
            closes_at = window_closes_at(PurchaseAction.ADDED, after.window)
            outcome.refund_window_closes_at = closes_at
            await self._record(request, outcome)
        return outcome

    async def _record(self, request: LicenceRequest, outcome: LicenceOutcome) -> None:
        """Tell the customer's subscriptions workflow the subscription's new total, before the
        customer's slot is given back. (Its window is on the outcome; the engine watches and
        undoes orders' purchases, not licence requests'.)"""
        await steps.read(
            m.RECORD_PURCHASES,
            PurchasesRecord(
                purchase=workflow.info().workflow_id,
                order_id=request.request_id,
                storefront=self._webhooks.storefront,
                customer_id=request.customer_id,
                lines=[
                    FulfilledLine(
                        line=0,
                        subscription_id=request.subscription_id,
                        offer=outcome.offer,
                        action=PurchaseAction.ADDED,
                        seats=request.quantity,
                        quantity_after=outcome.quantity_after,
                    )
                ],
            ),
            m.NoInput,
        )

    async def _first_release_add(self, request: LicenceRequest) -> LicenceOutcome:
        """The first release's steps (a run started before the Partner Center queue)."""
        query = m.SubscriptionQuery(
            customer_id=request.customer_id, subscription_id=request.subscription_id
        )
        try:
            before = await steps.read(m.GET_SUBSCRIPTION, query, m.SubscriptionState)
        except steps.ACTIVITY_FAILURES as error:
            self._refuse_from(
                error, RefusalCode.SUBSCRIPTION_NOT_FOUND, "The customer has no such subscription."
            )
        if before.status != "active":
            self._refuse(
                Refusal(
                    code=RefusalCode.SUBSCRIPTION_NOT_ACTIVE,
                    message=f"Licences can only be added to an active subscription; this one is "
                    f"{before.status}.",
                )
            )
        target = before.quantity + request.quantity
        try:
            await steps.write(
                m.CHANGE_QUANTITY,
                m.ChangeQuantity(
                    request_id=request_id(request.request_id, QUANTITY),
                    customer_id=request.customer_id,
                    subscription_id=request.subscription_id,
                    quantity=target,
                ),
                m.SubscriptionState,
            )
        except steps.ACTIVITY_FAILURES as error:
            self._refuse_from(
                error, RefusalCode.PARTNER_CENTER_REFUSED, "Microsoft refused the change."
            )
        after = await steps.poll(
            m.AWAIT_QUANTITY,
            query.model_copy(update={"quantity": target}),
            m.SubscriptionState,
            every=self._waits.provisioning_poll_every,
            expires_after=self._waits.provisioning_expires_after,
        )
        return LicenceOutcome(
            request_id=request.request_id,
            subscription_id=request.subscription_id,
            offer=before.offer,
            quantity_before=before.quantity,
            quantity_after=after.quantity,
        )

    def _refuse_from(
        self, error: ActivityError | ApplicationError, code: RefusalCode, message: str
    ) -> NoReturn:
        refusal = partner_center_refusal(error)
        if refusal is None:
            raise error
        if refusal.code is RefusalCode.PARTNER_CENTER_REFUSED and code is not refusal.code:
            refusal = Refusal(
                code=code, message=message, partner_center_code=refusal.partner_center_code
            )
        self._refuse(refusal)

    def _refuse(self, refusal: Refusal) -> NoReturn:
        raise ApplicationError(
            refusal.message, refusal, type=refusal.code.value, non_retryable=True
        )

    @workflow.signal(name=SLOT_GRANTED_SIGNAL)
    def customer_slot_granted(self, grant: SlotGrant) -> None:
        self._slot.granted(grant)
