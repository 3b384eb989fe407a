"""The chaos harness: its command lines as documented, its reconciliation (orphans included)
and its judgement of undo requests on hand-made snapshots, and a CI-sized run (60 orders, 2
worker kills, one server restart, faults on, two customers' purchases undone while their new
orders race) in which nothing may be lost, duplicated, drifted or orphaned, and every undo
request is answered as planned."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from clients.subscription_lifecycle import CustomerSubscriptionsView, LifecycleChange
from devtools.chaos import MIN_END_OF_SALE_ORDERS, Chaos, Report, reconcile, run_chaos
from devtools.chaos_undo import (
    ACCEPTED,
    ORDERS_PER_CUSTOMER,
    Answer,
    Ask,
    Role,
    UndoRun,
    planned_answers,
    record_differences,
    refused_that_changed,
    undo_customers,
    undo_plan,
    unexpected_answers,
    window_differences,
)
from devtools.samples import VOICE_END_OF_SALE as END_OF_SALE
from devtools.samples import line as order_line
from devtools.samples import new_customer, order
from ordering.document import NewCustomer, OrderDocument
from ordering.refund_windows import ExpectedSubscription, PurchaseAction, WindowedPurchase
from ordering.refusals import Refusal, RefusalCode
from ordering.status import LineState, LineStatus, OrderOutcome, Phase
from workers.cli import build_parser
from workers.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]
# The many-workers run of tests/engine/test_chaos_many_workers.py.
MANY_WORKERS = (
    "--orders 25 --kills 1 --server-restarts 0 --seed 3 --workers 2 --requests-per-minute 500"
)
KNOWN = "11111111-1111-1111-1111-111111111111"
NEW_ID = "22222222-2222-2222-2222-222222222222"


def documented_chaos_lines() -> list[str]:
    """Every concrete `csp-orders chaos ...` command line in README.md, RELIABILITY.md and
    PERFORMANCE.md."""
    found: list[str] = []
    for doc in ("README.md", "docs/RELIABILITY.md", "docs/PERFORMANCE.md"):
        for line in (ROOT / doc).read_text("utf-8").splitlines():
            # a command line in a code block: `[$ ][.venv/bin/]csp-orders chaos ...  [# comment]`
            match = re.match(r"\s*(?:\$\s+)?(?:\.venv/bin/)?csp-orders chaos\b([^#]*)", line)
            if match:
                found.append(match.group(1).strip())
    return found


def test_the_documented_command_lines_are_found() -> None:
    assert "--orders 500 --kills 10 --server-restarts 1" in documented_chaos_lines()
    assert MANY_WORKERS in documented_chaos_lines()  # docs/PERFORMANCE.md, "Many workers"


@pytest.mark.parametrize("line", documented_chaos_lines())
def test_every_documented_chaos_command_line_parses(line: str) -> None:
    args = build_parser().parse_args(["chaos", *shlex.split(line)])
    assert args.run.__name__ == "_chaos"
    if "--orders" in line:
        assert args.orders == int(line.split("--orders")[1].split()[0])


def test_the_documented_full_run_plans_without_running(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(
        ["chaos", "--orders", "500", "--kills", "10", "--server-restarts", "1", "--plan-only"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"orders\s+500\n", out)
    assert re.search(r"worker kills\s+10\n", out) and re.search(r"server restarts\s+1\n", out)
    assert re.search(r"new customers ordering the end-of-sale offer\s+\d+", out)
    # Four customers' purchases undone, each with seven requests, the answers known beforehand.
    assert re.search(r"undo: known customers with a subscription\s+2\n", out)
    assert re.search(r"undo: customers created by the run\s+2\n", out)
    assert re.search(r"undo requests\s+28\n", out)
    assert re.search(r"undo requests accepted\s+12\n", out)
    assert re.search(r"undo requests OTHER_ORDERS_LICENCES\s+2\n", out)


def test_the_command_line_itself_accepts_the_documented_options() -> None:
    """The installed entry point, as an operator types it (the old REMAINDER subparser failed
    here with "unrecognized arguments: --orders")."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "workers.cli",
            *shlex.split("chaos --orders 500 --kills 10 --server-restarts 1 --plan-only"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "unrecognized arguments" not in result.stderr


def test_chaos_help_lists_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli(["chaos", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--orders",
        "--kills",
        "--server-restarts",
        "--seed",
        "--json",
        "--plan-only",
        "--workers",
        "--requests-per-minute",
    ):
        assert option in out


def test_a_run_with_many_workers_plans_them_and_the_cap(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli(["chaos", *MANY_WORKERS.split(), "--plan-only"])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"workers on the task queue\s+2\n", out)
    assert re.search(r"Partner Center cap a minute \(all workers\)\s+500\n", out)
    assert re.search(r"worker kills\s+1\n", out)


@pytest.mark.parametrize("option", ["--workers", "--requests-per-minute"])
def test_no_workers_or_no_cap_is_refused_in_one_line(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(["chaos", option, "0", "--plan-only"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"csp-orders chaos: {option} must be 1 or more (got 0)\n"


def test_bad_chaos_options_are_refused_by_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli(["chaos", "--kills", "-1", "--plan-only"])
    assert exit_.value.code == 2
    assert "--kills" in capsys.readouterr().err


@pytest.mark.parametrize("orders", [21, 22, 60, 500])
def test_every_run_has_new_customers_ordering_the_end_of_sale_offer(orders: int) -> None:
    documents = Chaos(orders, 0, 0, seed=3)._orders([KNOWN] * 5, KNOWN)
    end_of_sale = [
        d
        for d in documents
        if isinstance(d.customer, NewCustomer) and any(li.offer == END_OF_SALE for li in d.lines)
    ]
    # (the undo customers' orders are placed as the run goes: some name a customer it creates)
    assert len(documents) + ORDERS_PER_CUSTOMER * undo_customers(orders) == orders
    assert len(end_of_sale) >= min(MIN_END_OF_SALE_ORDERS, orders - 20)


@pytest.mark.parametrize(("orders", "customers"), [(21, 0), (25, 0), (40, 1), (60, 2), (500, 4)])
def test_the_undo_plan_is_the_seeds_and_every_answer_is_known(orders: int, customers: int) -> None:
    plan = undo_plan(orders, 3, "t")
    assert plan == undo_plan(orders, 3, "t")  # the seed's: nothing timing decides
    assert len(plan) == customers
    assert [c.known for c in plan] == [n % 2 == 0 for n in range(customers)]
    for customer in plan:
        assert 1 <= customer.taken < customer.basic  # a reduction never empties the line
        requests = customer.requests()
        assert len(requests) == 7 and len({r.label for r in requests}) == 7
        assert [r.expected for r in requests].count(ACCEPTED) == 3
        # no new order buys the Office E3 whose cancellation is planned to be accepted
        offers = {li.offer for d in customer.new_orders(KNOWN) for li in d.lines}
        assert customer.first_order(None).lines[1].offer not in offers
    if customers:
        expected = {ACCEPTED: 3 * customers, "NOTHING_TO_UNDO": customers}
        assert planned_answers(plan).items() >= expected.items()
        assert sum(planned_answers(plan).values()) == 7 * customers
    # The run's other orders are what the seed made them whether or not it undoes anything.
    fewer = Chaos(orders, 0, 0, seed=3)._orders([KNOWN] * 5, KNOWN)
    assert all(d.order_id.startswith(("o", "race")) for d in fewer)


# ---------------------------------------------------------------- reconciliation, by hand


def _order(order_id: str, customer: dict[str, Any], offer: str = END_OF_SALE) -> OrderDocument:
    return order(order_id, customer, order_line(offer))


def _refused(order_id: str, customer_id: str | None = None) -> OrderOutcome:
    return OrderOutcome(
        order_id=order_id,
        phase=Phase.REFUSED,
        customer_id=customer_id,
        refusal=Refusal(code=RefusalCode.OFFER_DISCONTINUED, message="No longer sold."),
    )


def _snapshot(**parts: Any) -> dict[str, Any]:
    return {"customers": [], "subscriptions": [], "orders": [], "takenDomains": [], **parts}


def _sub(sub_id: str, customer_id: str, quantity: int, order: str | None = None) -> Any:
    return {
        "id": sub_id,
        "customerId": customer_id,
        "offerId": "CFQ7TTC0LF8Q:0001:CFQ7TTC0LF8Q",
        "quantity": quantity,
        "status": "active",
        "billingCycle": "monthly",
        "orderId": order,
    }


def test_a_refused_new_customer_order_that_created_the_customer_is_an_orphan() -> None:
    """The end-of-sale bug: the customer was created before the offer was checked."""
    refused = _order("eos1", new_customer("eos1x"))
    report = Report(outcomes={"eos1": _refused("eos1", NEW_ID)})
    snapshot = _snapshot(
        customers=[
            {"id": KNOWN, "domain": "seed.onmicrosoft.com"},
            {"id": NEW_ID, "domain": "eos1x.onmicrosoft.com"},
        ],
        takenDomains=["seed.onmicrosoft.com", "eos1x.onmicrosoft.com"],
    )
    reconcile(report, snapshot, [refused], {}, {KNOWN})
    assert report.orphans.customers_of_unbought_orders == {"eos1": NEW_ID}
    assert report.orphans.domains_of_unbought_orders == []  # counted once, as a customer
    assert report.orphans.unaccounted_customers == []
    assert report.unbought_new_customer_orders == 1
    assert not report.ok
    rendered = report.render()
    assert "verdict                  NOT OK" in rendered
    assert re.search(r"customers of orders that bought nothing\s+1  e\.g\. eos1", rendered)
    assert "eos1x" not in rendered  # no domains in the report


def test_a_domain_taken_by_a_refused_order_without_a_customer_is_an_orphan() -> None:
    refused = _order("eos2", new_customer("eos2x"))
    report = Report(outcomes={"eos2": _refused("eos2")})
    reconcile(report, _snapshot(takenDomains=["eos2x.onmicrosoft.com"]), [refused], {}, set())
    assert report.orphans.domains_of_unbought_orders == ["eos2"]
    assert not report.ok


def test_a_refused_order_that_left_nothing_behind_is_fine() -> None:
    refused = _order("eos3", new_customer("eos3x"))
    report = Report(outcomes={"eos3": _refused("eos3")})
    reconcile(report, _snapshot(), [refused], {}, set())
    assert report.orphans.total() == 0 and report.unbought_new_customer_orders == 1
    assert report.ok


def test_a_failed_order_that_bought_nothing_but_created_the_customer_is_an_orphan() -> None:
    failed = _order("f1", new_customer("f1x"))
    outcome = OrderOutcome(
        order_id="f1",
        phase=Phase.FAILED,
        customer_id=NEW_ID,
        lines=[LineStatus(line=0, offer=END_OF_SALE, quantity=1, state=LineState.PLANNED)],
    )
    report = Report(outcomes={"f1": outcome})
    snapshot = _snapshot(customers=[{"id": NEW_ID, "domain": "f1x.onmicrosoft.com"}])
    reconcile(report, snapshot, [failed], {}, set())
    assert report.orphans.customers_of_unbought_orders == {"f1": NEW_ID}


def test_customers_and_purchases_nobody_accounts_for_are_orphans() -> None:
    report = Report()
    snapshot = _snapshot(
        customers=[{"id": NEW_ID, "domain": "stray.onmicrosoft.com"}],
        subscriptions=[_sub("s1", NEW_ID, 3, order="pc1")],
        orders=[{"id": "pc1", "referenceCustomerId": NEW_ID}],
    )
    reconcile(report, snapshot, [], {}, set())
    assert report.orphans.unaccounted_customers == [NEW_ID]
    assert report.orphans.unaccounted_subscriptions == {"s1": NEW_ID}
    assert report.orphans.unaccounted_purchases == {"pc1": NEW_ID}
    assert report.drift == {"s1": 3}
    assert not report.ok


def test_a_refused_order_of_a_known_customer_must_leave_its_licences_alone() -> None:
    """Seeded 10 on s0; a completed order added 2 (reported); a refused one added 1 more."""
    known = {"kind": "known", "customer_id": KNOWN, "country": "US"}
    completed = OrderOutcome(
        order_id="ok1",
        phase=Phase.COMPLETED,
        customer_id=KNOWN,
        lines=[
            LineStatus(
                line=0,
                offer="CFQ7TTC0LF8Q:0001",
                quantity=2,
                state=LineState.FULFILLED,
                subscription_id="s0",
            )
        ],
    )
    documents = [
        _order("ok1", known, "CFQ7TTC0LF8Q:0001"),
        _order("no1", known, "CFQ7TTC0LF8Q:0001"),
    ]
    snapshot = _snapshot(
        customers=[{"id": KNOWN, "domain": "known.onmicrosoft.com"}],
        subscriptions=[_sub("s0", KNOWN, 13)],
    )
    report = Report(outcomes={"ok1": completed, "no1": _refused("no1", KNOWN)})
    reconcile(report, snapshot, documents, {"s0": 10}, {KNOWN})
    assert report.orphans.existing_customers_changed == {"no1": KNOWN}
    assert report.drift == {"s0": 1}
    # An order of that customer that never ended may have bought the extra licence: the refused
    # one is not blamed (the unended order fails the run as still running).
    documents.append(_order("run1", known, "CFQ7TTC0LF8Q:0001"))
    report = Report(outcomes={"ok1": completed, "no1": _refused("no1", KNOWN)})
    reconcile(report, snapshot, documents, {"s0": 10}, {KNOWN})
    assert report.orphans.existing_customers_changed == {}
    assert report.drift == {"s0": 1}
    # As Partner Center should hold it: 12 licences, nothing orphaned.
    snapshot["subscriptions"] = [_sub("s0", KNOWN, 12)]
    report = Report(outcomes={"ok1": completed, "no1": _refused("no1", KNOWN)})
    reconcile(report, snapshot, documents, {"s0": 10}, {KNOWN})
    assert report.orphans.total() == 0 and report.drift == {} and report.ok


# ---------------------------------------------------------------- undo requests, by hand

BASIC, E3 = "sub-basic", "sub-e3"


def _undone(plan_orders: int = 60) -> tuple[UndoRun, UndoRun]:
    """The two undo customers of a 60-order run, each answered as planned: the first has its
    own monthly Business Basic (seeded), the second was created by its first order."""
    known, created = undo_plan(plan_orders, 3, "t")
    runs = []
    for number, customer in enumerate((known, created)):
        run = UndoRun(customer, customer_id=f"c{number}")
        run.subscriptions = {
            (Role.FIRST, 0): f"{BASIC}{number}",
            (Role.FIRST, 1): f"{E3}{number}",
            (Role.SECOND, 0): f"{BASIC}{number}",
        }
        for request in customer.requests():
            changes = []
            if request.expected == ACCEPTED:
                line_no = request.line if request.line is not None else 0
                taken = {Ask.REDUCE: request.quantity or 0, Ask.CANCEL: 0}.get(
                    request.ask, customer.more
                )
                changes = [
                    LifecycleChange(
                        order_id=customer.order_id(request.role),
                        line=line_no,
                        subscription_id=run.subscriptions[(request.role, line_no)],
                        cancelled=request.ask is Ask.CANCEL,
                        quantity_before=20,
                        quantity_after=20 - taken,
                    )
                ]
            run.answers.append(Answer(request, request.expected, changes))
        runs.append(run)
    return runs[0], runs[1]


def _view(run: UndoRun, quantity: int, *, seats_left_first: int | None = None) -> Any:
    plan = run.plan
    windows = plan.windows()
    if seats_left_first is not None:
        windows[(Role.FIRST, 0)] = (seats_left_first, False)
    watched = [
        WindowedPurchase(
            purchase=f"order-{plan.order_id(role)}",
            order_id=plan.order_id(role),
            line=line_no,
            subscription_id=run.subscriptions[(role, line_no)],
            offer="CFQ7TTC0LH18:0001",
            action=PurchaseAction.ADDED,
            seats=9,
            seats_left=left,
            cancelled=cancelled,
            closes_at="2030-01-01T00:00:00Z",
        )
        for (role, line_no), (left, cancelled) in windows.items()
    ]
    expected = [
        ExpectedSubscription(
            subscription_id=run.subscriptions[(Role.FIRST, 0)],
            offer="CFQ7TTC0LH18:0001",
            quantity=quantity,
        ),
        ExpectedSubscription(
            subscription_id=run.subscriptions[(Role.FIRST, 1)],
            offer="CFQ7TTC0LF8Q:0001",
            quantity=plan.e3,
            status="deleted",
        ),
    ]
    return CustomerSubscriptionsView(
        customer_id=str(run.customer_id), expected=expected, watched=watched
    )


def test_answers_as_planned_leave_nothing_to_report() -> None:
    runs = list(_undone())
    assert unexpected_answers(runs) == []
    views = {str(r.customer_id): _view(r, 9) for r in runs}
    assert window_differences(runs, views) == []
    assert refused_that_changed(runs, set(), []) == []


def test_an_answer_other_than_planned_is_reported_by_request() -> None:
    known, created = _undone()
    # the cancellation of the first order's Business Basic was carried out after all
    cancel = next(a for a in created.answers if a.request.expected == "OTHER_ORDERS_LICENCES")
    cancel.answer = ACCEPTED
    # and the reduction took back one licence more than asked
    reduce = known.answers[0]
    reduce.changes = [reduce.changes[0].model_copy(update={"quantity_after": 20 - 99})]
    # and a request never got its answer
    known.answers[-1].answer, known.answers[-1].error = None, "no answer within 120 s"
    found = unexpected_answers([known, created])
    assert found == [
        f"{reduce.request.label}: accepted, took back [(0, False, 99)]",
        f"{known.answers[-1].request.label}: answered no answer within 120 s, planned "
        "NOTHING_TO_UNDO",
        f"{cancel.request.label}: answered accepted, planned OTHER_ORDERS_LICENCES",
    ]


def test_a_refused_request_that_changed_something_is_named() -> None:
    known, created = _undone()
    runs = [known, created]
    # Partner Center: the Business Basic of the created customer drifted (say the refused
    # cancellation deleted it), and the known customer's record shows its first order's
    # Business Basic window taken back further than the accepted reduction did.
    views = {"c0": _view(known, 9, seats_left_first=0), "c1": _view(created, 9)}
    windows = window_differences(runs, views)
    assert windows == [
        f"undo0 first order lines[0]: the record says 0 licences not taken back, the plan "
        f"{known.plan.basic - known.plan.taken} licences not taken back"
    ]
    changed = refused_that_changed(runs, {f"{BASIC}1"}, windows)
    assert changed == [
        "undo0 first order: cancel lines[0]",  # (its window)
        "undo0 edu order: payment failed",  # (any subscription of its customer)
        "undo1 first order: cancel lines[0]",
        "undo1 second order: reduce lines[0] by " + str(created.plan.more + 1),
        "undo1 second order: cancel lines[0]",
        "undo1 edu order: payment failed",
    ]


def test_the_engines_record_is_held_to_partner_center() -> None:
    known, _ = _undone()
    view = _view(known, 9)
    snapshot = _snapshot(
        subscriptions=[
            _sub(f"{BASIC}0", "c0", 9),
            {**_sub(f"{E3}0", "c0", known.plan.e3), "status": "deleted"},
            _sub("sub-racing", "c0", 4),
        ]
    )
    bought = {f"{BASIC}0": "c0", f"{E3}0": "c0"}
    assert record_differences({"c0": view}, snapshot, bought) == {}
    # Partner Center holds one more than the record; a subscription the run bought is not in
    # the record; a customer the run bought for has no record at all.
    snapshot["subscriptions"][0]["quantity"] = 10
    differences = record_differences(
        {"c0": view, "c9": None}, snapshot, {**bought, "sub-racing": "c0"}
    )
    assert differences == {
        f"{BASIC}0": "recorded 9 active, Partner Center holds 10 active",
        "sub-racing": "bought by the run, not in its customer's record",
        "c9": "no record of the customer's subscriptions",
    }


def test_reconciliation_takes_back_what_accepted_requests_took_back() -> None:
    """Seeded 4; an order added 3 (reported); an accepted reduction took 2 back; an order
    created an Office E3 of 2, cancelled by an accepted request: 5 licences, and the E3 deleted
    with its 2."""
    known = {"kind": "known", "customer_id": KNOWN, "country": "US"}
    completed = OrderOutcome(
        order_id="u1",
        phase=Phase.COMPLETED,
        customer_id=KNOWN,
        lines=[
            LineStatus(
                line=0,
                offer="CFQ7TTC0LH18:0001",
                quantity=3,
                state=LineState.FULFILLED,
                subscription_id="s0",
            ),
            LineStatus(
                line=1,
                offer="CFQ7TTC0LF8Q:0001",
                quantity=2,
                state=LineState.FULFILLED,
                subscription_id="s1",
            ),
        ],
    )
    changes = [
        LifecycleChange(
            order_id="u1",
            line=0,
            subscription_id="s0",
            cancelled=False,
            quantity_before=7,
            quantity_after=5,
        ),
        LifecycleChange(
            order_id="u1",
            line=1,
            subscription_id="s1",
            cancelled=True,
            quantity_before=2,
            quantity_after=2,
        ),
    ]
    documents = [_order("u1", known, "CFQ7TTC0LH18:0001"), _order("no1", known)]
    deleted = {**_sub("s1", KNOWN, 2), "status": "deleted"}
    snapshot = _snapshot(
        customers=[{"id": KNOWN, "domain": "known.onmicrosoft.com"}],
        subscriptions=[_sub("s0", KNOWN, 5), deleted],
    )
    outcomes = {"u1": completed, "no1": _refused("no1", KNOWN)}
    report = Report(outcomes=outcomes, undo_changes=changes)
    reconcile(report, snapshot, documents, {"s0": 4}, {KNOWN})
    assert report.drift == {} and report.status_drift == {} and report.orphans.total() == 0
    assert report.ok
    # The cancellation not carried out at Partner Center, the reduction carried out twice:
    snapshot["subscriptions"] = [_sub("s0", KNOWN, 3), _sub("s1", KNOWN, 2)]
    report = Report(outcomes=outcomes, undo_changes=changes)
    reconcile(report, snapshot, documents, {"s0": 4}, {KNOWN})
    assert report.drift == {"s0": -2}
    assert report.status_drift == {"s1": "active, expected deleted"}
    assert report.orphans.existing_customers_changed == {"no1": KNOWN}
    assert not report.ok
    rendered = report.render()
    assert "status drift             1 subscription(s)" in rendered


# ---------------------------------------------------------------- the CI-sized run


async def test_chaos_run_loses_duplicates_drifts_and_orphans_nothing() -> None:
    """Includes new customers ordering the end-of-sale offer (CFQ7TTC0LGZT:0001): refused,
    and Partner Center must hold nothing of them (no customer, no domain taken)."""
    report = await run_chaos(orders=60, kills=2, server_restarts=1, seed=3)
    print(report.render())
    assert report.worker_kills == 2 and report.server_restarts == 1
    assert report.placed == 60
    assert report.still_running == []
    plan = Chaos(60, 2, 1, seed=3).plan()
    refused = (
        plan["new customers ordering the end-of-sale offer"]
        + plan.get("education plans for unqualified customers", 0)
        + plan["undo: known customers with a subscription"]  # (each one education plan)
        + plan["undo: customers created by the run"]
    )
    phases = Counter(o.phase.value for o in report.outcomes.values())
    assert phases == {"completed": 60 - refused, "refused": refused}
    assert report.refusals()[RefusalCode.OFFER_DISCONTINUED.value] >= MIN_END_OF_SALE_ORDERS
    assert report.unbought_new_customer_orders >= MIN_END_OF_SALE_ORDERS
    assert report.duplicate_customers == []
    assert report.duplicate_subscriptions == []
    assert report.drift == {}
    assert report.orphans.counts() == dict.fromkeys(report.orphans.counts(), 0)
    assert report.licence_failures == []
    # Undo requests raced new orders of their customers: each answered as planned, Partner
    # Center holding exactly what was bought less what the accepted ones took back (`drift`,
    # `status_drift` above and here), refused ones having changed nothing, and each customer's
    # subscriptions workflow's record agreeing with Partner Center.
    assert report.undo_requests == plan["undo requests"] == 14
    assert report.undo_answers == {
        ACCEPTED: 6,
        "NOTHING_TO_UNDO": 2,
        "NOT_CANCELLABLE": 3,
        "OTHER_ORDERS_LICENCES": 1,
        "QUANTITY_REDUCTION_NOT_ALLOWED": 2,
    }
    assert report.undo_unexpected == []
    undo = Chaos(60, 2, 1, seed=3).undo_plan
    taken = sorted((c.cancelled, c.quantity_before - c.quantity_after) for c in report.undo_changes)
    assert taken == sorted(
        [(False, c.taken) for c in undo] + [(False, c.more) for c in undo] + [(True, 0)] * 2
    )
    assert report.status_drift == {}
    assert report.refused_undo_changed == [] and report.undo_windows == []
    bought_for = {
        o.customer_id
        for o in report.outcomes.values()
        if any(li.state is LineState.FULFILLED for li in o.lines)
    }
    assert report.records_checked == len(bought_for) + 1  # (+ the licence requests' customer)
    assert report.record_drift == {}
    assert report.ok
    assert report.calls > report.placed  # faults happened and were retried
    assert sum(report.faults.values()) > 0, report.faults  # and the sandbox counted them
