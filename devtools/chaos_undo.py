"""The chaos run's undo requests (docs/RELIABILITY.md, "Undoing while orders race"): for a few
customers, purchases of completed orders are undone through the SDK (`reduce_licences`,
`cancel_subscription`, `payment_failed`) while new orders of the same customer race them for
the customer's slot and workers are killed; then what Partner Center holds is judged against
what was bought and what was taken back.

The plan is decided from the seed, before anything runs, and chosen so that every request's
answer is known whatever the timing: which request is accepted, which refused and with which
code, and what each accepted one takes back. Per customer (a known customer with a monthly
Business Basic of its own, or, every other one, a customer the run's first order creates):

- its first order buys Business Basic monthly (added to the customer's own, or created) and
  Office E3 annual (created); its second adds Business Basic; a third, an education plan, is
  refused (it buys nothing). Each is waited for before the undo requests are asked (a request
  on an order still running is refused, ORDER_NOT_FINISHED, and timing would decide that);
- then, all at once, `NEW_ORDERS` new orders of the customer (Business Basic monthly, adding to
  the subscription being reduced; Business Standard annual, created by one of them) and seven
  requests, each with its answer:
  - reduce the first order's Business Basic by fewer than it bought: accepted;
  - cancel the Office E3 the first order created (no other order touches it): accepted;
  - cancel the first order's Business Basic: NOT_CANCELLABLE (it added to the customer's own
    subscription) or OTHER_ORDERS_LICENCES (the second order added to the one it created);
  - reduce the second order's licences by one more than it added:
    QUANTITY_REDUCTION_NOT_ALLOWED;
  - cancel the second order's line (it added licences): NOT_CANCELLABLE;
  - payment failed on the second order: accepted, its licences taken back;
  - payment failed on the education order: NOTHING_TO_UNDO (it bought nothing).

  Whichever order the engine takes them in, no answer changes: a reduction never leaves the
  subscription empty (the new orders only add), the second order's licences are never more than
  it added, and the Office E3 is only ever the first order's.

Nothing here talks to anything: the plan, the documents, and the judgement of the answers, the
engine's record and Partner Center's snapshot (`devtools/chaos.py` runs it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from clients.contract import order_workflow_id
from clients.subscription_lifecycle import CustomerSubscriptionsView, LifecycleChange
from devtools.samples import (
    BUSINESS_BASIC,
    BUSINESS_STANDARD,
    EDUCATION_A1,
    OFFICE_E3,
    known_customer,
    line,
    new_customer,
    order,
)
from ordering.document import OrderDocument
from ordering.refusals import RefusalCode

ACCEPTED = "accepted"
NEW_ORDERS = 4  # orders of the customer placed while its undo requests are asked
ORDERS_PER_CUSTOMER = 3 + NEW_ORDERS  # first, second, education, and the new ones
RACING_ORDERS = 20  # the run's racing orders for one customer (devtools/chaos.py)


def undo_customers(orders: int) -> int:
    """How many customers a run of `orders` orders undoes purchases of: none below 40 orders
    (the 20 racing orders and a few others come first), then 1, 2 from 60, one more for every
    250 orders."""
    return min(2 + orders // 250, max(0, orders - RACING_ORDERS) // 20)


class Role(StrEnum):
    """An order of an undo customer, by what it is for."""

    FIRST = "first"  # Business Basic monthly (lines[0]) and Office E3 annual (lines[1])
    SECOND = "second"  # more Business Basic monthly
    EDUCATION = "edu"  # an education plan: refused, NOT_ELIGIBLE


class Ask(StrEnum):
    REDUCE = "reduce"
    CANCEL = "cancel"
    PAYMENT_FAILED = "payment failed"


@dataclass(frozen=True)
class UndoRequest:
    customer: int  # the undo customer's place in the plan
    ask: Ask
    role: Role  # whose order
    line: int | None = None
    quantity: int | None = None
    expected: str = ACCEPTED  # ACCEPTED, or the refusal code the plan says

    @property
    def label(self) -> str:
        what = {
            Ask.REDUCE: f"reduce lines[{self.line}] by {self.quantity}",
            Ask.CANCEL: f"cancel lines[{self.line}]",
            Ask.PAYMENT_FAILED: "payment failed",
        }[self.ask]
        return f"undo{self.customer} {self.role} order: {what}"

    def targets(self) -> list[tuple[Role, int]]:
        """The lines whose purchase it would undo."""
        if self.line is not None:
            return [(self.role, self.line)]
        return {
            Role.FIRST: [(Role.FIRST, 0), (Role.FIRST, 1)],
            Role.SECOND: [(Role.SECOND, 0)],
        }.get(self.role, [])


@dataclass(frozen=True)
class UndoCustomer:
    """One customer whose purchases the run undoes, and the quantities of its plan."""

    index: int
    tag: str
    held: int  # its own monthly Business Basic before the run; 0: created by its first order
    basic: int  # Business Basic licences its first order buys
    e3: int  # Office E3 licences its first order buys (a subscription of their own)
    more: int  # Business Basic licences its second order adds
    taken: int  # of the first order's Business Basic, taken back (fewer than it bought)

    @property
    def known(self) -> bool:
        return self.held > 0

    def order_id(self, role: Role | str) -> str:
        return f"undo{self.index}-{role}-{self.tag}"

    def first_order(self, customer_id: str | None) -> OrderDocument:
        customer = (
            known_customer(customer_id)
            if customer_id is not None
            else new_customer(f"undo{self.index}x{self.tag}")
        )
        return order(
            self.order_id(Role.FIRST),
            customer,
            line(BUSINESS_BASIC, self.basic, "monthly"),
            line(OFFICE_E3, self.e3, "annual"),
        )

    def second_order(self, customer_id: str) -> OrderDocument:
        return order(
            self.order_id(Role.SECOND),
            known_customer(customer_id),
            line(BUSINESS_BASIC, self.more, "monthly"),
        )

    def education_order(self, customer_id: str) -> OrderDocument:
        return order(
            self.order_id(Role.EDUCATION),
            known_customer(customer_id),
            line(EDUCATION_A1, 1, "monthly", segment="Education"),
        )

    def new_orders(self, customer_id: str) -> list[OrderDocument]:
        """Placed while the undo requests are asked: Business Basic monthly (adding to the
        subscription being reduced) and Business Standard annual (one creates it, the others
        add to it), one licence each; never Office E3 (whose cancellation must stay the first
        order's)."""
        return [
            order(
                self.order_id(f"new{k}"),
                known_customer(customer_id),
                line(BUSINESS_BASIC, 1, "monthly")
                if k % 2 == 0
                else line(BUSINESS_STANDARD, 1, "annual"),
            )
            for k in range(NEW_ORDERS)
        ]

    def requests(self) -> list[UndoRequest]:
        n = self.index
        return [
            UndoRequest(n, Ask.REDUCE, Role.FIRST, 0, self.taken),
            UndoRequest(n, Ask.CANCEL, Role.FIRST, 1),
            UndoRequest(
                n,
                Ask.CANCEL,
                Role.FIRST,
                0,
                expected=(
                    RefusalCode.NOT_CANCELLABLE if self.known else RefusalCode.OTHER_ORDERS_LICENCES
                ).value,
            ),
            UndoRequest(
                n,
                Ask.REDUCE,
                Role.SECOND,
                0,
                self.more + 1,
                expected=RefusalCode.QUANTITY_REDUCTION_NOT_ALLOWED.value,
            ),
            UndoRequest(n, Ask.CANCEL, Role.SECOND, 0, expected=RefusalCode.NOT_CANCELLABLE.value),
            UndoRequest(n, Ask.PAYMENT_FAILED, Role.SECOND),
            UndoRequest(
                n, Ask.PAYMENT_FAILED, Role.EDUCATION, expected=RefusalCode.NOTHING_TO_UNDO.value
            ),
        ]

    def windows(self) -> dict[tuple[Role, int], tuple[int, bool]]:
        """What the engine's record of each purchase's window must say afterwards: (licences
        not taken back, cancelled)."""
        return {
            (Role.FIRST, 0): (self.basic - self.taken, False),
            (Role.FIRST, 1): (self.e3, True),  # cancelled: the subscription, whole
            (Role.SECOND, 0): (0, False),  # taken back by the failed payment
        }


def undo_plan(orders: int, seed: int, tag: str) -> list[UndoCustomer]:
    """The undo customers of a run, drawn from a random stream of their own (the run's other
    orders stay what the seed made them): even places a known customer with a subscription,
    odd ones a customer the run creates."""
    draw = random.Random(seed * 7919 + 16)
    customers = []
    for n in range(undo_customers(orders)):
        basic = draw.randint(3, 5)
        customers.append(
            UndoCustomer(
                index=n,
                tag=tag,
                held=draw.randint(2, 5) if n % 2 == 0 else 0,
                basic=basic,
                e3=draw.randint(1, 3),
                more=draw.randint(1, 3),
                taken=draw.randint(1, basic - 1),
            )
        )
    return customers


def planned_answers(customers: list[UndoCustomer]) -> dict[str, int]:
    """The answers the plan says, by ACCEPTED or refusal code."""
    counts: dict[str, int] = {}
    for customer in customers:
        for request in customer.requests():
            counts[request.expected] = counts.get(request.expected, 0) + 1
    return dict(sorted(counts.items()))


# ---------------------------------------------------------------------------- the run's record


@dataclass
class Answer:
    request: UndoRequest
    answer: str | None  # ACCEPTED, a refusal code ("partly: <codes>" for a payment partly
    # undone); None: no answer (`error` says what came instead)
    changes: list[LifecycleChange] = field(default_factory=list)
    error: str | None = None


@dataclass
class UndoRun:
    """What one undo customer's part of the run did."""

    plan: UndoCustomer
    customer_id: str | None = None
    subscriptions: dict[tuple[Role, int], str] = field(default_factory=dict)  # from outcomes
    answers: list[Answer] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # steps that did not go as planned


# ---------------------------------------------------------------------------- the judgement


def unexpected_answers(runs: list[UndoRun]) -> list[str]:
    """Requests answered otherwise than the plan says (or not at all), and accepted changes
    that took back otherwise than asked."""
    found: list[str] = []
    for run in runs:
        for answer in run.answers:
            request = answer.request
            if answer.answer != request.expected:
                found.append(
                    f"{request.label}: answered {answer.answer or answer.error}, "
                    f"planned {request.expected}"
                )
                continue
            if answer.answer == ACCEPTED and not _took_as_asked(run.plan, request, answer.changes):
                taken = [
                    (c.line, c.cancelled, c.quantity_before - c.quantity_after)
                    for c in answer.changes
                ]
                found.append(f"{request.label}: accepted, took back {taken}")
    return found


def _took_as_asked(
    plan: UndoCustomer, request: UndoRequest, changes: list[LifecycleChange]
) -> bool:
    took = sorted((c.line, c.cancelled, c.quantity_before - c.quantity_after) for c in changes)
    if request.ask is Ask.REDUCE:
        return took == [(request.line, False, request.quantity)]
    if request.ask is Ask.CANCEL:
        return took == [(request.line, True, 0)]
    return took == [(0, False, plan.more)]  # the second order's payment: its licences back


def window_differences(
    runs: list[UndoRun], views: dict[str, CustomerSubscriptionsView | None]
) -> list[str]:
    """Where the engine's record of a purchase's refund window (licences not taken back,
    cancelled) differs from what the accepted requests alone leave."""
    found: list[str] = []
    for run in runs:
        view = views.get(run.customer_id) if run.customer_id else None
        if view is None:
            continue  # (no record at all: `record_differences` says so)
        watched = {(p.purchase, p.line): (p.seats_left, p.cancelled) for p in view.watched}
        for (role, line_no), expected in run.plan.windows().items():
            key = (order_workflow_id(run.plan.order_id(role)), line_no)
            held = watched.get(key)
            if held != expected:
                found.append(
                    f"undo{run.plan.index} {role} order lines[{line_no}]: the record says "
                    f"{_window(held)}, the plan {_window(expected)}"
                )
    return found


def _window(state: tuple[int, bool] | None) -> str:
    if state is None:
        return "no window"
    left, cancelled = state
    return f"{left} licences not taken back{', cancelled' if cancelled else ''}"


def refused_that_changed(
    runs: list[UndoRun], drifted: set[str], windows_off: list[str]
) -> list[str]:
    """Refused requests whose subscription Partner Center holds otherwise than what was bought
    less what the accepted requests took back (`drifted`: quantity or status), or whose
    purchase's window the engine's record shows otherwise than the accepted requests left it
    (`windows_off`, from `window_differences`); for the education order's failed payment
    (which names no line), any subscription and window of the customer's."""
    found: list[str] = []
    for run in runs:
        prefix = f"undo{run.plan.index} "
        for answer in run.answers:
            if answer.answer in (None, ACCEPTED):
                continue
            targets = answer.request.targets() or [
                (role, n) for role, n in run.subscriptions if role is not Role.EDUCATION
            ]
            subscriptions = {run.subscriptions[t] for t in targets if t in run.subscriptions}
            places = [f"{prefix}{role} order lines[{n}]:" for role, n in targets]
            if subscriptions & drifted or any(w.startswith(tuple(places)) for w in windows_off):
                found.append(answer.request.label)
    return found


def record_differences(
    views: dict[str, CustomerSubscriptionsView | None],
    snapshot: dict[str, Any],
    bought: dict[str, str],
) -> dict[str, str]:
    """Where a customer's subscriptions workflow's record (`expected`) differs from Partner
    Center's snapshot, what it reports drifted itself, and subscriptions the run bought
    (`bought`: subscription id -> customer id) that its customer's record lacks. Keyed by
    subscription id (by customer id when the customer has no record); ids and counts only."""
    held = {s["id"]: s for s in snapshot["subscriptions"]}
    found: dict[str, str] = {}
    for customer_id, view in sorted(views.items()):
        if view is None:
            found[customer_id] = "no record of the customer's subscriptions"
            continue
        for drift in view.drifts:
            found[drift.subscription_id] = "the engine reports it drifted"
        for record in view.expected:
            pc = held.get(record.subscription_id)
            if pc is None:
                found[record.subscription_id] = "recorded, not at Partner Center"
            elif (pc["quantity"], pc["status"]) != (record.quantity, record.status):
                found[record.subscription_id] = (
                    f"recorded {record.quantity} {record.status}, Partner Center holds "
                    f"{pc['quantity']} {pc['status']}"
                )
    recorded = {
        (customer_id, record.subscription_id)
        for customer_id, view in views.items()
        if view is not None
        for record in view.expected
    }
    for subscription_id, customer_id in sorted(bought.items()):
        if views.get(customer_id) is not None and (customer_id, subscription_id) not in recorded:
            found[subscription_id] = "bought by the run, not in its customer's record"
    return found
