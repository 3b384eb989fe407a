"""What a storefront and an operator see of an order while it runs: its status, kept by the order
workflow through intent-named transitions (a step entered, a wait begun, a line refused...).

Every transition publishes: the status's time, and the UI's current details (Markdown, no
personal data); a phase change and the customer's id also go to the search attributes, and
phases entered and orders ended are counted (the worker's metric meter; a replay does not
count again). Only `enter`, `customer_known`, `finished` and `publish_search_attributes` add
to the history (search attributes); nothing else here does, so a transition can be added
without breaking a replay.

Search attributes are set at once, each change an event of its own (the first release's
orders); or, after `defer_search_attributes`, kept until `publish_search_attributes` sets them
together. The workflow publishes where its workflow task may end (before it waits, before a
regular activity): changes made within one workflow task become visible together anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from clients.contract import CUSTOMER_ID, PHASE
    from ordering.current_details import current_details
    from ordering.document import OrderDocument
    from ordering.outcome import incomplete_order
    from ordering.planning import OfferFacts, Plan
    from ordering.refusals import Problem, Refusal, RefusalCode
    from ordering.status import (
        LineState,
        LineStatus,
        OrderOutcome,
        OrderStatus,
        Phase,
        Waiting,
        WaitingFor,
    )
    from workflows import metrics


class OrderTracker:
    """Owns the order's `OrderStatus`; the workflow tells it what happened."""

    def __init__(self) -> None:
        self._status = OrderStatus(order_id="", phase=Phase.RECEIVED)
        self._customer_created = False
        self._created_customer_id: str | None = None
        self._deferred: dict[str, SearchAttributeUpdate[Any]] | None = None
        self._purchase_refusals: dict[int, RefusalCode] = {}

    # ------------------------------------------------------------------ what is known

    @property
    def status(self) -> OrderStatus:
        return self._status

    @property
    def cancellable(self) -> bool:
        """False once the purchase has started (and once the order has ended)."""
        return self._status.cancellable

    @property
    def ended(self) -> bool:
        return self._status.phase.final

    @property
    def customer_id(self) -> str | None:
        return self._status.customer_id

    @property
    def created_customer_id(self) -> str | None:
        """The customer's id when this order created it (it exists at Microsoft for good)."""
        if not self._customer_created:
            return None
        return self._created_customer_id or self._status.customer_id

    @property
    def waiting(self) -> bool:
        return self._status.waiting is not None

    def line_ordered(self, n: int) -> bool:
        """Was line `n` ordered at Microsoft and not yet fulfilled (nor failed)?"""
        return self._status.lines[n].state is LineState.ORDERED

    @property
    def fulfilled_every_line(self) -> bool:
        return all(line.state is LineState.FULFILLED for line in self._status.lines)

    # ------------------------------------------------------------------ the order's course

    def received(self, order: OrderDocument) -> None:
        """The order was read: its lines, each pending."""
        self._status = OrderStatus(
            order_id=order.order_id,
            phase=Phase.RECEIVED,
            lines=[
                LineStatus(line=n, offer=line.offer, quantity=line.quantity)
                for n, line in enumerate(order.lines)
            ],
        )

    def refused(self, refusal: Refusal) -> None:
        """The order could not be read; the run fails at once (no step was entered, so no
        search attribute is set and nothing is counted)."""
        self._status.refusal = refusal
        self._status.phase = Phase.REFUSED
        self._publish()

    def enter(self, phase: Phase) -> None:
        """A step of the order begins."""
        self._status.phase = phase
        self._set_search_attribute(PHASE.value_set(phase.value))
        self._publish()
        metrics.phase_entered(phase.value)

    def note_unencrypted(self, what: str) -> None:
        """An input arrived in plain text: it stays readable in this order's history. Operators
        see it on the status and in the UI's details, and in the worker's log."""
        if what not in self._status.unencrypted_inputs:
            self._status.unencrypted_inputs.append(what)
            self._publish()
        workflow.logger.warning("input arrived unencrypted: %s", what)

    def offers_described(self, offers: dict[str, OfferFacts]) -> None:
        """Each line is named as the catalog names its offer (None for an unknown offer)."""
        for line in self._status.lines:
            facts = offers[line.offer]
            line.title = facts.title if facts.found else None
        self._publish()

    def customer_created(self, customer_id: str | None = None) -> None:
        """The new customer now exists at Microsoft (the first release's course tells its id
        with `customer_known` only). Refusals and cancellations say it exists from now on; the
        status shows its id from `customer_known`."""
        self._customer_created = True
        self._created_customer_id = customer_id

    def customer_known(self, customer_id: str) -> None:
        self._status.customer_id = customer_id
        self._set_search_attribute(CUSTOMER_ID.value_set(customer_id))
        self._publish()

    def problems_found(self, problems: list[Problem]) -> None:
        """The order is refused for these problems: each line is marked with its first."""
        for problem in problems:
            for n in problem.lines:
                line = self._status.lines[n]
                line.state = LineState.REFUSED
                line.problem = problem.message if line.problem is None else line.problem
        self._publish()

    def planned(self, plan: Plan) -> None:
        """Each line knows what it will do to which subscription."""
        for planned in plan.lines:
            line = self._status.lines[planned.line]
            line.state = LineState.PLANNED
            line.action = planned.action
            line.subscription_id = planned.subscription_id
            line.quantity_before = planned.quantity_before
            line.quantity_after = planned.quantity_after
        self._publish()

    def purchase_started(self) -> None:
        """From here on the order is carried through: it can no longer be cancelled."""
        self._status.cancellable = False
        self._publish()

    def ordered(self, lines: list[int], partner_center_order_id: str | None = None) -> None:
        """Microsoft took these lines (in its order `partner_center_order_id`, for new
        subscriptions)."""
        for n in lines:
            self._status.lines[n].state = LineState.ORDERED
            if partner_center_order_id is not None:
                self._status.lines[n].partner_center_order_id = partner_center_order_id
        self._publish()

    def line_refused(self, n: int, refusal: Refusal) -> None:
        """Microsoft refused this line at purchase: nothing was bought for it."""
        self._purchase_refusals[n] = refusal.code
        line = self._status.lines[n]
        line.state = LineState.REFUSED
        line.problem = refusal.message
        self._publish()

    def line_failed(self, n: int, problem: str) -> None:
        """Ordered at Microsoft (or perhaps ordered), not fulfilled."""
        line = self._status.lines[n]
        line.state = LineState.FAILED
        line.problem = problem
        self._publish()

    def fulfilled(self, n: int, subscription_id: str | None = None) -> None:
        """Microsoft provisioned line `n` (as `subscription_id`, for a new subscription)."""
        line = self._status.lines[n]
        if subscription_id is not None:
            line.subscription_id = subscription_id
        line.state = LineState.FULFILLED
        self._publish()

    # ------------------------------------------------------------------ waiting

    def refund_window_known(self, n: int, closes_at: datetime | None) -> None:
        """Until when what line `n` bought can be undone (Partner Center's window)."""
        self._status.lines[n].refund_window_closes_at = closes_at
        self._publish()

    def waiting_for(
        self,
        what: WaitingFor,
        *,
        expires_at: datetime | None = None,
        relationship_link: str | None = None,
        last_problem: str | None = None,
    ) -> None:
        """The order waits for `what`, from now (until `expires_at`, if it gives up)."""
        self._status.waiting = Waiting(
            what=what,
            since=workflow.now(),
            expires_at=expires_at,
            relationship_link=relationship_link,
            last_problem=last_problem,
        )
        self._publish()

    def reminded(self) -> None:
        """A reminder fell due while waiting."""
        if self._status.waiting is None:
            return
        self._status.waiting.reminders_sent += 1
        workflow.logger.info("reminder %d sent", self._status.waiting.reminders_sent)
        self._publish()

    def input_refused(self, problem: str) -> None:
        """An input the order waits for (e.g. a tax ID) was not accepted: the wait shows why."""
        if self._status.waiting is not None:
            self._status.waiting.last_problem = problem
            self._publish()

    def input_accepted(self) -> None:
        if self._status.waiting is not None:
            self._status.waiting.last_problem = None
            self._publish()

    def done_waiting(self) -> None:
        self._status.waiting = None
        self._publish()

    # ------------------------------------------------------------------ the end

    def finished(self, phase: Phase, refusal: Refusal | None) -> None:
        """The order ended (completed, refused, cancelled or failed), with `refusal` if any."""
        self._status.waiting = None
        self._status.refusal = refusal
        self._status.cancellable = False
        self._status.phase = phase
        self._set_search_attribute(PHASE.value_set(phase.value))
        self.publish_search_attributes()
        self._publish()
        metrics.order_ended(phase.value, refusal.code.value if refusal else None)

    def what_is_incomplete(self) -> Refusal:
        """For an order whose purchase started and not every line was fulfilled: per line,
        what was bought, what was not, and what exists at Microsoft."""
        return incomplete_order(
            self._status.lines,
            customer_id=self._status.customer_id,
            customer_created=self._customer_created,
            refusal_codes=self._purchase_refusals,
        )

    def outcome(self) -> OrderOutcome:
        """The ended order's result, as the status says it."""
        return OrderOutcome(
            order_id=self._status.order_id,
            phase=self._status.phase,
            customer_id=self._status.customer_id,
            lines=self._status.lines,
            refusal=self._status.refusal,
            unencrypted_inputs=self._status.unencrypted_inputs,
        )

    # ------------------------------------------------------------------ search attributes

    def defer_search_attributes(self) -> None:
        """From now on, keep search attribute changes until `publish_search_attributes`."""
        if self._deferred is None:
            self._deferred = {}

    def publish_search_attributes(self) -> None:
        """Set the search attributes changed since the last time, in one event (if any)."""
        if self._deferred:
            workflow.upsert_search_attributes(list(self._deferred.values()))
            self._deferred = {}

    def _set_search_attribute(self, update: SearchAttributeUpdate[Any]) -> None:
        if self._deferred is None:
            workflow.upsert_search_attributes([update])
        else:
            self._deferred[update.key.name] = update

    def _publish(self) -> None:
        """After every change of the status: its time, and the UI's current details."""
        self._status.updated_at = workflow.now()
        workflow.set_current_details(current_details(self._status))
