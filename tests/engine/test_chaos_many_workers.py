"""Many workers on one task queue (issue 15): the chaos harness through its real command line,
with two `csp-orders worker` processes sharing the load and one of them SIGKILLed while it is in
the middle of an order, then started again. Nothing may be lost, duplicated, drifted or
orphaned; the histories must show that both workers ran orders, that the kill struck a worker
running an order's workflow task, and that each such order was run on by another worker.

It starts its own Temporal dev server and sandbox (the harness's), and lives among the engine
tests so that `make test-unit`, which runs no Temporal, leaves it out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from devtools.chaos import Chaos
from tests.test_chaos import MANY_WORKERS

ROOT = Path(__file__).resolve().parents[2]
ORDERS, SEED = 25, 3
COMMAND = f"chaos {MANY_WORKERS}"  # as docs/PERFORMANCE.md documents it


def test_two_workers_share_the_orders_and_one_killed_mid_order_loses_nothing(
    tmp_path: Path,
) -> None:
    figures = tmp_path / "chaos.json"
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", *COMMAND.split(), "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(done.stdout)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "Traceback" not in done.stderr
    report = json.loads(figures.read_text())
    assert f"--orders {ORDERS} " in COMMAND and f"--seed {SEED} " in COMMAND
    plan = Chaos(ORDERS, 1, 0, SEED, workers=2).plan()

    # Nothing lost, duplicated, drifted or orphaned; every order ended as its kind must.
    assert report["placed"] == report["outcomes"] == ORDERS
    assert report["still_running"] == []
    refused_by_plan = plan.get("new customers ordering the end-of-sale offer", 0) + plan.get(
        "education plans for unqualified customers", 0
    )
    assert report["phases"] == {"completed": ORDERS - refused_by_plan, "refused": refused_by_plan}
    assert report["duplicate_customers"] == [] and report["duplicate_subscriptions"] == []
    assert report["drift"] == {}
    assert all(not found for found in report["orphans"].values()), report["orphans"]
    assert report["licence_requests"] == report["licence_outcomes"] == 5
    assert report["licence_failures"] == []
    assert report["ok"] is True

    # Two workers, one killed and started again: three processes, one of them killed.
    assert report["workers"] == 2 and report["worker_kills"] == 1
    processes = report["worker_processes"]
    assert sorted(p["worker"] for p in processes) in ([1, 1, 2], [1, 2, 2])
    killed = [p for p in processes if p["killed"]]
    assert len(killed) == 1
    first: dict[int, dict[str, int]] = {}  # the processes started first, one per worker
    for process in processes:  # (in the order each worker's processes were started)
        first.setdefault(process["worker"], process)
    # Both shared the load before the kill: each of the first two processes ran orders.
    assert all(p["orders"] >= 1 and p["workflow_tasks"] >= 1 for p in first.values()), processes
    # The kill struck a worker running orders' workflow tasks; each of those orders was run on
    # by another worker, and every workflow task was run by a worker of this run.
    assert report["kills_in_flight"] == 1
    assert killed[0]["struck"] == len(report["struck_orders"]) >= 1
    assert report["taken_over"] == report["struck_orders"]
    assert report["unattributed_tasks"] == 0
    assert sum(p["workflow_tasks"] for p in processes) >= ORDERS
