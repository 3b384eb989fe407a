"""The chaos harness: its command lines as documented, its reconciliation (orphans included)
on hand-made snapshots, and a CI-sized run (60 orders, 2 worker kills, one server restart,
faults on) in which nothing may be lost, duplicated, drifted or orphaned."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools.chaos import MIN_END_OF_SALE_ORDERS, Chaos, Report, reconcile, run_chaos
from devtools.samples import VOICE_END_OF_SALE as END_OF_SALE
from devtools.samples import line as order_line
from devtools.samples import new_customer, order
from ordering.document import NewCustomer, OrderDocument
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
    assert len(documents) == orders
    assert len(end_of_sale) >= min(MIN_END_OF_SALE_ORDERS, orders - 20)


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


# ---------------------------------------------------------------- the CI-sized run


async def test_chaos_run_loses_duplicates_drifts_and_orphans_nothing() -> None:
    """Includes new customers ordering the end-of-sale offer (CFQ7TTC0LGZT:0001): refused,
    and Partner Center must hold nothing of them (no customer, no domain taken)."""
    report = await run_chaos(orders=60, kills=2, server_restarts=1, seed=3)
    print(report.render())
    assert report.worker_kills == 2 and report.server_restarts == 1
    assert report.placed == 60
    assert report.still_running == []
    assert report.refusals()[RefusalCode.OFFER_DISCONTINUED.value] >= MIN_END_OF_SALE_ORDERS
    assert report.unbought_new_customer_orders >= MIN_END_OF_SALE_ORDERS
    assert report.duplicate_customers == []
    assert report.duplicate_subscriptions == []
    assert report.drift == {}
    assert report.orphans.counts() == dict.fromkeys(report.orphans.counts(), 0)
    assert report.licence_failures == []
    assert report.ok
    assert report.calls > report.placed  # faults happened and were retried
    assert sum(report.faults.values()) > 0, report.faults  # and the sandbox counted them
