"""`csp-orders chaos`: a stream of orders while workers die, the server restarts and Partner
Center misbehaves; then a reconciliation of what storefronts were told against what Partner
Center holds. Exit code 0 only when nothing is lost, duplicated, drifted or orphaned (nothing
at Partner Center belongs to an order that bought nothing, i.e. was refused or cancelled, or to
no order at all).

Runs on this machine only: the Temporal dev server (file database) and the worker are
subprocesses; the sandbox runs in-process with faults on (5xx, 429 with Retry-After, writes
carried out whose answer is lost, latency).

With `--workers N` (N >= 2), N `csp-orders worker` processes serve the one task queue, and each
kill strikes a worker while it is in the middle of an order: the sandbox holds the carts
requests (a local activity, inside a workflow task) until a worker is seen running an order's
workflow task, that worker is SIGKILLed, the requests are released, and the worker is started
again. The histories then tell what each worker process ran and which orders the killed ones
were running (`devtools/worker_shares.py`). With `--requests-per-minute R`, the workers share a
Partner Center cap of R and the sandbox throttles past R in any 60 seconds (its random 429s are
off then, so each 429 it counts is a request over the cap).

From 40 orders on, a few customers' completed purchases are undone through the SDK (reductions,
cancellations, failed payments) while new orders of the same customer race them and a worker is
killed (`devtools/chaos_undo.py` has the plan, decided from the seed, with every answer known in
advance); the verdict then holds each subscription at Partner Center to what was bought less
what the accepted requests took back, checks that refused requests changed nothing, and compares
each customer's subscriptions workflow's record with Partner Center.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from clients.contract import (
    LicenceOutcome,
    LicenceRequest,
    licences_workflow_id,
    order_workflow_id,
)
from clients.payloads import KeyRing
from clients.storefront import LicencesRefused, LifecycleRefused, OrderNotFound, Storefront
from clients.subscription_lifecycle import (
    CustomerSubscriptionsView,
    LifecycleChange,
    customer_subscriptions_workflow_id,
)
from clients.temporal_connection import local_server, local_server_environment
from devtools.cap_stretches import Stretch, busiest_minute, busiest_stretch
from devtools.chaos_undo import (
    ACCEPTED,
    ORDERS_PER_CUSTOMER,
    RACING_ORDERS,
    Answer,
    Ask,
    Role,
    UndoCustomer,
    UndoRequest,
    UndoRun,
    planned_answers,
    record_differences,
    refused_that_changed,
    undo_plan,
    unexpected_answers,
    window_differences,
)
from devtools.dev import dev_server_command, start_dev_server
from devtools.samples import (
    AGREEMENT,
    BUSINESS_BASIC,
    BUSINESS_STANDARD,
    EDUCATION_A1,
    OFFICE_E3,
    ONE_PER_BILLING_CYCLE_PRODUCTS,
    VALID_RU_TAX_ID,
    catalog_item,
    known_customer,
    new_customer,
)
from devtools.samples import DYNAMICS_SALES as DYNAMICS
from devtools.samples import VOICE_END_OF_SALE as END_OF_SALE
from devtools.samples import line as order_line
from devtools.sandbox_settings import sandbox_worker_env
from devtools.worker_shares import Shares, has_ended, pid_of, running_task, tally
from ordering.config import load_config
from ordering.document import KnownCustomer, NewCustomer, OrderDocument
from ordering.status import LineState, OrderOutcome, Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import free_port
from sandbox.core import SandboxSettings
from sandbox.faults import FaultSettings
from sandbox.server import SandboxServer
from workers.worker import connect

# How the sandbox's call counts (`GET /_sandbox/calls`, its admin API) name the faults it
# injected: "FAULT <kind>", beside "<METHOD> <path>" for the calls it served.
FAULT_PREFIX = "FAULT "
CHAOS_FAULTS = FaultSettings(
    latency_ms_min=2,
    latency_ms_max=40,
    server_error_rate=0.10,
    throttle_rate=0.05,
    retry_after_seconds=1,
    lost_answer_rate=0.05,
    seed=7,
)


ENDED_WITHOUT_BUYING = (Phase.REFUSED, Phase.CANCELLED)
BOUGHT_LINE_STATES = {"ordered", "fulfilled", "failed"}  # "failed": ordered, not fulfilled
MIN_END_OF_SALE_ORDERS = 2  # new customers ordering the end-of-sale offer, in every run
# The request held while a worker to kill is looked for: a local activity (inside a workflow
# task) that nearly every order sends.
HELD_CALL = "POST /v1/customers/{customer_id}/carts"
HOLD_AT_MOST = 6.0  # seconds; well below the workflow task timeout (10 s)
# How long a worker must be seen running one workflow task of an order before it is struck
HELD_TASK_SECONDS = 1.5


def _since(
    earlier: tuple[tuple[int, int], float] | None, task: tuple[int, int], now: float
) -> float:
    """When `task` (pid, started event id) was first seen running: then, if it was the task
    seen before, else `now`."""
    return earlier[1] if earlier is not None and earlier[0] == task else now


WAIT_FOR_SHARES = 20.0  # seconds a kill waits for every live worker to have run orders
FAULT_THROTTLED = f"{FAULT_PREFIX}throttled"
# How long an undo request may wait to be accepted, and then for its answer: far longer than a
# killed worker's workflow task takes to be run again (its timeout, 10 s) or a regular activity
# struck by a kill (45 s), so that no request is left with its outcome unknown (the SDK's
# lifecycle calls take no id to ask again with). One without an answer by then fails the run.
UNDO_ANSWER_TIMEOUT = timedelta(minutes=2)
# How long the kill reserved for the undo requests looks for the engine in the middle of one
UNDO_KILL_WAIT = 10.0
UPDATE_ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
UPDATE_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED


@dataclass
class Orphans:
    """What Partner Center holds that no completed order, licence request or seed accounts
    for. An order "bought nothing" when it was refused or cancelled, or failed with no line
    ordered. Ids only (order ids, Partner Center ids), never domains or names. One defect can
    show in more than one class (a subscription bought for a refused order is also a Partner
    Center order no order names); each class is a different way of looking."""

    # A new-customer order that bought nothing, whose domain is a customer at Partner Center:
    # order id -> Partner Center customer id.
    customers_of_unbought_orders: dict[str, str] = field(default_factory=dict)
    # A new-customer order that bought nothing, whose domain is taken although no customer
    # has it (a creation that failed half-way): order ids.
    domains_of_unbought_orders: list[str] = field(default_factory=list)
    # Customers at Partner Center that neither the seed nor any order's domain accounts for.
    unaccounted_customers: list[str] = field(default_factory=list)
    # Subscriptions neither seeded nor named by a completed/failed order's line or a licence
    # request: subscription id -> customer id.
    unaccounted_subscriptions: dict[str, str] = field(default_factory=dict)
    # Partner Center orders that no completed/failed order's line names: id -> customer id.
    unaccounted_purchases: dict[str, str] = field(default_factory=dict)
    # Orders of existing customers that bought nothing, whose customer's licences at Partner
    # Center differ from the seed plus what completed orders and licence requests report:
    # order id -> customer id (every such order of that customer is a suspect; the totals
    # cannot tell which one).
    existing_customers_changed: dict[str, str] = field(default_factory=dict)

    def classes(self) -> dict[str, list[str]]:
        """Each class's name and the ids in it (order ids where an order is to blame)."""
        return {
            "customers of orders that bought nothing": sorted(self.customers_of_unbought_orders),
            "domains taken by orders that bought nothing": sorted(self.domains_of_unbought_orders),
            "customers no order or seed accounts for": sorted(self.unaccounted_customers),
            "subscriptions no order accounts for": sorted(self.unaccounted_subscriptions),
            "Partner Center orders no order names": sorted(self.unaccounted_purchases),
            "orders that bought nothing, customer changed": sorted(self.existing_customers_changed),
        }

    def counts(self) -> dict[str, int]:
        return {name: len(ids) for name, ids in self.classes().items()}

    def total(self) -> int:
        return sum(self.counts().values())

    def as_json(self) -> dict[str, Any]:
        return {
            "customers_of_unbought_orders": self.customers_of_unbought_orders,
            "domains_of_unbought_orders": self.domains_of_unbought_orders,
            "unaccounted_customers": self.unaccounted_customers,
            "unaccounted_subscriptions": self.unaccounted_subscriptions,
            "unaccounted_purchases": self.unaccounted_purchases,
            "existing_customers_changed": self.existing_customers_changed,
        }


@dataclass
class WorkerRow:
    """One worker process of the run and what it ran (from the histories)."""

    worker: int  # 1..N: the worker's place; a restarted worker is a new process in that place
    pid: int
    killed: bool
    orders: int  # orders it ran at least one workflow task of
    workflow_tasks: int
    local_activities: int
    activities: int
    struck: int  # orders whose workflow task it was running when killed


@dataclass
class Report:
    placed: int = 0
    outcomes: dict[str, OrderOutcome] = field(default_factory=dict)
    still_running: list[str] = field(default_factory=list)
    licence_requests: int = 0
    licence_outcomes: list[LicenceOutcome] = field(default_factory=list)
    licence_failures: list[str] = field(default_factory=list)
    duplicate_customers: list[str] = field(default_factory=list)  # order ids
    duplicate_subscriptions: list[str] = field(default_factory=list)
    drift: dict[str, int] = field(default_factory=dict)
    orphans: Orphans = field(default_factory=Orphans)
    unbought_new_customer_orders: int = 0  # new-customer orders that bought nothing
    calls: int = 0
    faults: dict[str, int] = field(default_factory=dict)  # injected, each answered by a retry
    worker_kills: int = 0
    server_restarts: int = 0
    seconds: float = 0.0
    # Several workers (`--workers`): who ran what, and what the kills struck.
    workers: int = 1
    worker_rows: list[WorkerRow] = field(default_factory=list)
    kills_in_flight: int = 0  # kills that struck a worker running an order's workflow task
    struck_orders: list[str] = field(default_factory=list)  # workflow ids
    taken_over: list[str] = field(default_factory=list)  # of those, run on by another process
    unattributed_tasks: int = 0  # workflow tasks completed by no worker process of the run
    # The shared Partner Center cap (`--requests-per-minute`), and the sandbox's view of it.
    cap: int | None = None
    over_cap: int = 0  # requests the sandbox throttled as over the cap
    busiest_minute: int = 0  # the most requests in 60 s (the sandbox's count, read each second)
    busiest_stretch: Stretch | None = None  # the nearest to what the one shared bucket allows
    # Undo requests (devtools/chaos_undo.py): what was asked and answered, and what was found.
    undo_requests: int = 0
    undo_answers: dict[str, int] = field(default_factory=dict)  # "accepted" or refusal code
    undo_changes: list[LifecycleChange] = field(default_factory=list)  # what accepted ones did
    # Answered otherwise than the plan says, or not at all; a step of the plan gone otherwise.
    undo_unexpected: list[str] = field(default_factory=list)
    refused_undo_changed: list[str] = field(default_factory=list)  # refused, yet changed
    undo_windows: list[str] = field(default_factory=list)  # the record's windows, not as planned
    # Subscriptions whose status differs: deleted though not cancelled, or the reverse.
    status_drift: dict[str, str] = field(default_factory=dict)
    # A customer's subscriptions workflow's record against Partner Center (subscription id, or
    # customer id without a record -> what differs).
    record_drift: dict[str, str] = field(default_factory=dict)
    records_checked: int = 0  # customers whose record was compared
    kills_during_undo: int = 0  # kills made while undo requests awaited their answers

    @property
    def ok(self) -> bool:
        failed = [o for o in self.outcomes.values() if o.phase is Phase.FAILED]
        return not (
            self.still_running
            or self.duplicate_customers
            or self.duplicate_subscriptions
            or self.drift
            or self.status_drift
            or self.record_drift
            or self.undo_unexpected
            or self.refused_undo_changed
            or self.undo_windows
            or self.orphans.total()
            or failed
            or self.licence_failures
            or self.over_cap  # (the sandbox's own count of requests past the cap)
            # (`busiest_stretch` is printed, not judged: it is read from samples taken about
            # once a second, a measurement of time, not a count)
            or self.unattributed_tasks
        )

    def failed(self) -> dict[str, dict[str, Any]]:
        """The failed orders: order id -> their refusal's codes and each line's offer and state
        (no sentence: ids and codes only)."""
        return {
            order_id: {
                "code": outcome.refusal.code.value if outcome.refusal else None,
                "partner_center_code": outcome.refusal.partner_center_code
                if outcome.refusal
                else None,
                "lines": [(li.offer, li.state.value) for li in outcome.lines],
            }
            for order_id, outcome in sorted(self.outcomes.items())
            if outcome.phase is Phase.FAILED
        }

    def refusals(self) -> Counter[str]:
        return Counter(
            o.refusal.code.value
            for o in self.outcomes.values()
            if o.refusal is not None and o.phase is not Phase.COMPLETED
        )

    def render(self) -> str:
        phases = Counter(o.phase.value for o in self.outcomes.values())
        codes = self.refusals()
        lines = [
            "chaos run",
            f"  orders placed            {self.placed}",
            f"  completed                {phases.get('completed', 0)}",
            f"  refused                  {phases.get('refused', 0)}  "
            + ", ".join(f"{c}: {n}" for c, n in sorted(codes.items())),
            f"  cancelled / failed       {phases.get('cancelled', 0)} / {phases.get('failed', 0)}"
            + (f"  {_examples(sorted(self.failed()))}" if self.failed() else ""),
            f"  still running (lost?)    {len(self.still_running)}",
            f"  licence requests         {self.licence_requests} "
            f"({len(self.licence_outcomes)} done, {len(self.licence_failures)} failed)",
            f"  duplicate customers      {len(self.duplicate_customers)}",
            f"  duplicate subscriptions  {len(self.duplicate_subscriptions)}",
            f"  quantity drift           {len(self.drift)} subscription(s) {self.drift or ''}",
            *self._render_undo(),
            f"  orphans                  {self.orphans.total()}  "
            f"({self.unbought_new_customer_orders} new customers' orders bought nothing)",
            *(
                f"    {name:<49} {len(ids):>3}  {_examples(ids)}"
                for name, ids in self.orphans.classes().items()
            ),
            f"  Partner Center requests  {self.calls} "
            f"({self.calls / max(1, self.placed + self.licence_requests):.1f} per order)",
            f"  retries (faults met)     {sum(self.faults.values())} "
            + ", ".join(f"{k}: {n}" for k, n in sorted(self.faults.items())),
            f"  worker kills             {self.worker_kills}",
            f"  server restarts          {self.server_restarts}",
            *self._render_workers(),
            f"  wall time                {self.seconds:.1f} s",
            f"  verdict                  {'OK' if self.ok else 'NOT OK'}",
        ]
        return "\n".join(lines)

    def _render_undo(self) -> list[str]:
        lines = []
        if self.undo_requests:
            accepted = self.undo_answers.get(ACCEPTED, 0)
            refused = {c: n for c, n in self.undo_answers.items() if c != ACCEPTED}
            lines += [
                f"  undo requests            {self.undo_requests} ({accepted} accepted, "
                f"{sum(refused.values())} refused"
                + "".join(f", {c}: {n}" for c, n in sorted(refused.items()))
                + f"); not as planned {len(self.undo_unexpected)}"
                + "".join(f"\n    {u}" for u in self.undo_unexpected[:5]),
                f"  refused, yet changed     {len(self.refused_undo_changed)}  "
                + _examples(self.refused_undo_changed),
                f"  windows not as planned   {len(self.undo_windows)}  "
                + _examples(self.undo_windows, 1),
                f"  kills during undo        {self.kills_during_undo}",
            ]
        lines += [
            f"  status drift             {len(self.status_drift)} subscription(s) "
            f"{self.status_drift or ''}",
            f"  engine's record drift    {len(self.record_drift)} subscription(s) "
            f"({self.records_checked} customers' records) {self.record_drift or ''}",
        ]
        return lines

    def _render_workers(self) -> list[str]:
        lines = []
        if self.workers > 1:
            lines += [
                f"  workers                  {self.workers} on one task queue "
                f"({len(self.worker_rows)} processes; {self.kills_in_flight} of "
                f"{self.worker_kills} kills struck a worker in the middle of an order)",
                *(
                    f"    worker {r.worker} pid {r.pid:<8} {'killed' if r.killed else 'ran on':<7}"
                    f" orders {r.orders:>4}  workflow tasks {r.workflow_tasks:>5}  local "
                    f"activities {r.local_activities:>5}  activities {r.activities:>4}"
                    + (f"  in flight when killed {r.struck}" if r.killed else "")
                    for r in self.worker_rows
                ),
                f"  in flight on a killed worker  {len(self.struck_orders)} order(s), "
                f"{len(self.taken_over)} run on by another worker; tasks of no worker: "
                f"{self.unattributed_tasks}",
            ]
        if self.cap is not None:
            lines.append(
                f"  Partner Center cap       {self.cap} a minute, all workers: busiest minute "
                f"{self.busiest_minute}, over the cap (throttled) {self.over_cap}"
            )
        if self.busiest_stretch is not None:
            stretch = self.busiest_stretch
            lines.append(
                f"    busiest stretch        {stretch.requests} requests in "
                f"{stretch.seconds:.0f} s, the shared cap allows {stretch.allowed:.0f} "
                f"({stretch.use:.0%})"
            )
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "placed": self.placed,
            "outcomes": len(self.outcomes),
            "phases": dict(Counter(o.phase.value for o in self.outcomes.values())),
            "refusals": dict(self.refusals()),
            "failed": self.failed(),
            "still_running": self.still_running,
            "drift": self.drift,
            "status_drift": self.status_drift,
            "record_drift": self.record_drift,
            "records_checked": self.records_checked,
            "undo_requests": self.undo_requests,
            "undo_answers": self.undo_answers,
            "undo_changes": [c.model_dump(mode="json") for c in self.undo_changes],
            "undo_unexpected": self.undo_unexpected,
            "refused_undo_changed": self.refused_undo_changed,
            "undo_windows": self.undo_windows,
            "kills_during_undo": self.kills_during_undo,
            "duplicate_customers": self.duplicate_customers,
            "duplicate_subscriptions": self.duplicate_subscriptions,
            "orphans": self.orphans.as_json(),
            "calls": self.calls,
            "licence_requests": self.licence_requests,
            "licence_outcomes": len(self.licence_outcomes),
            "licence_failures": self.licence_failures,
            "worker_kills": self.worker_kills,
            "server_restarts": self.server_restarts,
            "workers": self.workers,
            "worker_processes": [asdict(row) for row in self.worker_rows],
            "kills_in_flight": self.kills_in_flight,
            "struck_orders": self.struck_orders,
            "taken_over": self.taken_over,
            "unattributed_tasks": self.unattributed_tasks,
            "cap": self.cap,
            "over_cap": self.over_cap,
            "busiest_minute": self.busiest_minute,
            "busiest_stretch": asdict(self.busiest_stretch) if self.busiest_stretch else None,
            "seconds": self.seconds,
            "ok": self.ok,
        }


class Processes:
    """The Temporal dev server and the workers (one or more, on one task queue) as
    subprocesses that can be killed."""

    def __init__(
        self,
        directory: Path,
        sandbox: SandboxServer,
        task_queue: str,
        workers: int = 1,
        requests_per_minute: int | None = None,
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self.ui_port = free_port()
        self.sandbox = sandbox
        self.task_queue = task_queue
        self.requests_per_minute = requests_per_minute
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * workers
        self.pids: list[list[int]] = [[] for _ in range(workers)]  # every process, per place
        self.killed: set[int] = set()
        config = load_config()
        waits = config.waits.model_copy(
            update={
                "provisioning_poll_every": timedelta(milliseconds=500),
                "relationship_poll_every": timedelta(seconds=2),
            }
        )
        self.config_file = directory / "engine.json"
        self.config_file.write_text(config.model_copy(update={"waits": waits}).model_dump_json())

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start_server(self) -> None:
        self.server = start_dev_server(
            dev_server_command(self.directory / "temporal.db", self.port, self.ui_port),
            self.port,
            self.directory / "temporal.log",
        )

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=30)
            self.server = None

    def start_worker(self, place: int = 0) -> None:
        cap = self.requests_per_minute
        env = {
            **local_server_environment(os.environ, self.address, self.directory),
            "CSP_TASK_QUEUE": self.task_queue,
            # The sandbox's URL and credentials, given explicitly: the worker has no default.
            **sandbox_worker_env(self.sandbox.base_url, self.sandbox.settings),
            **({"CSP_PC_REQUESTS_PER_MINUTE": str(cap)} if cap is not None else {}),
        }
        worker = self.workers[place] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workers.cli",
                "worker",
                "--config",
                str(self.config_file),
                "--log-level",
                "WARNING",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.pids[place].append(worker.pid)

    def start_workers(self) -> None:
        for place in range(len(self.workers)):
            self.start_worker(place)

    def place_of(self, pid: int) -> int | None:
        return next((n for n, pids in enumerate(self.pids) if pid in pids), None)

    def running(self) -> dict[int, int]:
        """The live workers: pid -> place."""
        return {w.pid: n for n, w in enumerate(self.workers) if w is not None}

    def kill_worker(self, place: int = 0, *, mid_run: bool = True) -> None:
        worker = self.workers[place]
        if worker is not None:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            if mid_run:
                self.killed.add(worker.pid)
            self.workers[place] = None

    def stop_all(self) -> None:
        for place in range(len(self.workers)):
            self.kill_worker(place, mid_run=False)
        self.stop_server()


class RestartGate:
    """Undo requests and server restarts never overlap. An update asked while the server stops
    may be lost, or carried out with its answer lost; the SDK's lifecycle calls take no id to
    ask again with, so asking again could be a second request (a second reduction), and the
    verdict's counts would hang on timing. Orders and licence requests are asked again through
    restarts as before (an order id, a request id: the same one)."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._asking = 0
        self._restarting = False

    @asynccontextmanager
    async def asking(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._restarting)
            self._asking += 1
        try:
            yield
        finally:
            async with self._changed:
                self._asking -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def restarting(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: self._asking == 0)
            self._restarting = True
        try:
            yield
        finally:
            async with self._changed:
                self._restarting = False
                self._changed.notify_all()


class Chaos:
    def __init__(
        self,
        orders: int,
        kills: int,
        server_restarts: int,
        seed: int,
        workers: int = 1,
        requests_per_minute: int | None = None,
    ) -> None:
        self.total = orders
        self.kills = kills
        self.server_restarts = server_restarts
        self.workers = workers
        self.requests_per_minute = requests_per_minute
        self.random = random.Random(seed)
        self.tag = f"{int(time.time()) % 100000:05d}"
        self.report = Report()
        self.seeded: dict[str, int] = {}  # subscription id -> quantity before the run
        self.seeded_customers: set[str] = set()
        self.documents: list[OrderDocument] = []
        self.placed_ids: list[str] = []  # order ids placed so far
        self.ended: set[str] = set()  # order workflow ids seen ended
        self.ran_orders: set[int] = set()  # worker pids seen completing an order's task
        self.client: Client | None = None
        self.served: list[tuple[float, int]] = []  # (monotonic time, requests served so far)
        self.counting: asyncio.Future[None] | None = None  # reads `served`, with a cap
        # Undo requests (devtools/chaos_undo.py), and what keeps them apart from restarts
        self.undo_plan: list[UndoCustomer] = undo_plan(orders, seed, self.tag)
        self.undo_runs: list[UndoRun] = []
        self.undo_in_flight = 0  # asked, not yet answered
        self.undo_asked = asyncio.Event()  # the first undo requests are asked (or none will be)
        self.gate = RestartGate()
        self.disrupting = asyncio.Lock()  # one disruption at a time (a kill, or a restart)

    async def run(self) -> Report:
        started = time.monotonic()
        if KeyRing.from_env() is None:  # the worker subprocesses inherit the key ring
            os.environ.update(KeyRing.generate("chaos").to_env())
        with (
            tempfile.TemporaryDirectory() as tmp,
            SandboxServer(SandboxSettings(provisioning_delay_seconds=0.5)) as sandbox,
        ):
            admin = SandboxAdmin(sandbox.base_url)
            procs = Processes(Path(tmp), sandbox, "chaos", self.workers, self.requests_per_minute)
            procs.start_server()
            procs.start_workers()
            try:
                await self._run(procs, admin)
            finally:
                if self.counting is not None:
                    self.counting.cancel()
                procs.stop_all()
                await admin.aclose()
        self.report.seconds = time.monotonic() - started
        return self.report

    async def _run(self, procs: Processes, admin: SandboxAdmin) -> None:
        known = [
            await admin.add_customer(f"Known {n}", f"known{n}x{self.tag}.onmicrosoft.com")
            for n in range(5)
        ]
        racer = await admin.add_customer("Racer", f"racer{self.tag}.onmicrosoft.com")
        dynamics_owner = await admin.add_customer("Dyn", f"dyn{self.tag}.onmicrosoft.com")
        instance = await admin.add_subscription(dynamics_owner, catalog_item(DYNAMICS), quantity=10)
        self.seeded[instance["id"]] = 10
        undo_known: dict[int, str] = {}  # undo customers with a subscription of their own
        for customer in self.undo_plan:
            if customer.known:
                undo_known[customer.index] = await admin.add_customer(
                    f"Undo {customer.index}", f"undo{customer.index}k{self.tag}.onmicrosoft.com"
                )
                held = await admin.add_subscription(
                    undo_known[customer.index],
                    catalog_item(BUSINESS_BASIC),
                    quantity=customer.held,
                    billingCycle="monthly",
                )
                self.seeded[held["id"]] = customer.held
        self.seeded_customers = {*known, racer, dynamics_owner, *undo_known.values()}
        self.report.workers = self.workers
        self.report.cap = self.requests_per_minute
        await admin.clear_calls()
        faults = CHAOS_FAULTS
        if self.requests_per_minute is not None:
            # Each 429 the sandbox counts is then a request over the cap: no random ones.
            faults = faults.model_copy(
                update={"rate_limit_per_minute": self.requests_per_minute, "throttle_rate": 0.0}
            )
        await admin.set_faults(**faults.model_dump())
        if self.requests_per_minute is not None:
            self.counting = asyncio.ensure_future(self._count_served(admin))

        client = self.client = await connect(local_server(procs.address))
        shop = Storefront(client, task_queue=procs.task_queue)
        documents = self._orders(known, racer)
        self.documents = list(documents)  # (and the undo customers' orders, as they are placed)
        self.report.placed = len(documents) + ORDERS_PER_CUSTOMER * len(self.undo_plan)
        reserved = 1 if self.undo_plan and self.kills > 0 else 0  # a kill while undoing
        chaos = asyncio.gather(
            self._disrupt(procs, admin, self.kills - reserved),
            *([self._kill_while_undoing(procs, admin)] if reserved else []),
        )
        undoing = asyncio.ensure_future(self._undo_all(shop, undo_known))
        # Orders arrive over time; the racing ones all at once.
        racing = [d for d in documents if d.order_id.startswith("race")]
        for document in documents:
            if document in racing:
                continue
            await self._retry(lambda d=document: shop.place_order(d))
            self.placed_ids.append(document.order_id)
            await asyncio.sleep(0.05)
        await asyncio.gather(*(self._retry(lambda d=d: shop.place_order(d)) for d in racing))
        self.placed_ids += [d.order_id for d in racing]
        licences = [
            LicenceRequest(
                request_id=f"lic{n}-{self.tag}",
                customer_id=dynamics_owner,
                subscription_id=instance["id"],
                quantity=1 + n,
            )
            for n in range(5)
        ]
        self.report.licence_requests = len(licences)
        licence_results = asyncio.gather(*(self._licences(shop, request) for request in licences))
        await chaos
        await undoing
        await licence_results
        await self._collect(shop, self.documents, procs)
        if self.counting is not None:
            self.counting.cancel()
        await admin.set_faults()
        await self._reconcile(admin, shop)
        if self.workers > 1:
            ids = [order_workflow_id(d.order_id) for d in self.documents]
            ids += [licences_workflow_id(r.request_id) for r in licences]
            self._shares(procs, tally(await self._histories(client, ids)))

    def _orders(self, known: list[str], racer: str) -> list[OrderDocument]:
        docs: list[dict[str, Any]] = []
        regular = max(0, self.total - RACING_ORDERS - ORDERS_PER_CUSTOMER * len(self.undo_plan))
        for n in range(regular):
            roll = self.random.random()
            order_id = f"o{n}-{self.tag}"
            if roll < 0.35:
                prefix = f"new{n}x{self.tag}"
                customer = new_customer(prefix)
                lines = [order_line(BUSINESS_BASIC, self.random.randint(1, 5), "monthly")]
                if self.random.random() < 0.5:
                    lines.append(order_line(OFFICE_E3, self.random.randint(1, 5), "annual"))
            elif roll < 0.45:
                prefix = f"ru{n}x{self.tag}"
                customer = new_customer(prefix, country="RU", tax_id=VALID_RU_TAX_ID)
                lines = [order_line(OFFICE_E3, 2, "monthly")]
            elif roll < 0.9:
                customer = known_customer(self.random.choice(known))
                offer = self.random.choice([BUSINESS_BASIC, BUSINESS_STANDARD, OFFICE_E3])
                lines = [
                    order_line(
                        offer, self.random.randint(1, 3), self.random.choice(["monthly", "annual"])
                    )
                ]
            elif roll < 0.95:
                customer = known_customer(self.random.choice(known))
                lines = [order_line(EDUCATION_A1, 1, "monthly", segment="Education")]
            else:
                customer, lines = self._end_of_sale_for_new_customer(n)
            docs.append({"order_id": order_id, "customer": customer, "lines": lines})
        # Every run has new customers ordering the end-of-sale offer (refused before anything
        # is created, or they leave orphans): spread over the stream, without drawing from the
        # random stream, so a seed's other orders stay what they were.
        missing = MIN_END_OF_SALE_ORDERS - sum(_is_end_of_sale(d) for d in docs)
        step = max(1, len(docs) // (MIN_END_OF_SALE_ORDERS + 1))
        for n in [*range(step, len(docs), step), *range(len(docs))]:
            if missing <= 0:
                break
            if not _is_end_of_sale(docs[n]):
                customer, lines = self._end_of_sale_for_new_customer(n)
                docs[n] = {"order_id": docs[n]["order_id"], "customer": customer, "lines": lines}
                missing -= 1
        for n in range(min(RACING_ORDERS, self.total)):
            docs.append(
                {
                    "order_id": f"race{n}-{self.tag}",
                    "customer": known_customer(racer),
                    "lines": [order_line(BUSINESS_BASIC, 1, "monthly")],
                }
            )
        return [OrderDocument.model_validate({**d, "customer_agreement": AGREEMENT}) for d in docs]

    def _end_of_sale_for_new_customer(self, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return new_customer(f"eos{n}x{self.tag}"), [order_line(END_OF_SALE, 1, "monthly")]

    def plan(self) -> dict[str, int]:
        """The run without running it: how many orders of each kind, and the disruptions."""
        ids = [f"00000000-0000-0000-0000-{n:012d}" for n in range(6)]
        kinds: Counter[str] = Counter()
        for document in self._orders(ids[:5], ids[5]):
            if document.order_id.startswith("race"):
                kinds["racing orders for one customer"] += 1
            elif _is_end_of_sale(document.model_dump(mode="json")):
                kinds["new customers ordering the end-of-sale offer"] += 1
            elif isinstance(document.customer, NewCustomer):
                kinds["new customers"] += 1
            elif any(line.offer == EDUCATION_A1 for line in document.lines):
                kinds["education plans for unqualified customers"] += 1
            else:
                kinds["known customers"] += 1
        undo = self.undo_plan
        undoing = {
            "undo: known customers with a subscription": sum(c.known for c in undo),
            "undo: customers created by the run": sum(not c.known for c in undo),
            "undo: their orders (1 each an education plan)": ORDERS_PER_CUSTOMER * len(undo),
            "undo requests": sum(len(c.requests()) for c in undo),
            **{f"undo requests {code}": n for code, n in planned_answers(undo).items()},
        }
        return {
            "orders": self.total,
            **dict(sorted(kinds.items())),
            **(undoing if undo else {}),
            "licence requests": 5,
            "worker kills": self.kills,
            "server restarts": self.server_restarts,
            "workers on the task queue": self.workers,
            **(
                {"Partner Center cap a minute (all workers)": self.requests_per_minute}
                if self.requests_per_minute is not None
                else {}
            ),
        }

    async def _disrupt(self, procs: Processes, admin: SandboxAdmin, kills: int) -> None:
        events = ["kill"] * kills + ["restart"] * self.server_restarts
        self.random.shuffle(events)
        for event in events:
            await asyncio.sleep(self.random.uniform(1.0, 4.0))
            if event == "kill":
                await self._kill_and_restart(procs, admin)
            else:
                async with self.gate.restarting(), self.disrupting:
                    procs.stop_server()
                    self.report.server_restarts += 1
                    await asyncio.sleep(1.0)
                    await asyncio.to_thread(procs.start_server)

    async def _kill_and_restart(self, procs: Processes, admin: SandboxAdmin) -> None:
        async with self.disrupting:
            place = await self._kill_one(procs, admin)
            self.report.worker_kills += 1
            await asyncio.sleep(self.random.uniform(0.2, 1.5))
            procs.start_worker(place)

    async def _kill_while_undoing(self, procs: Processes, admin: SandboxAdmin) -> None:
        """The run's kill reserved for the undo requests: once they are asked, at a moment when
        the engine is in the middle of one (an update of a customer's subscriptions workflow
        accepted, not completed) and no regular activity runs (its retry would wait out its
        45 s timeout), else when `UNDO_KILL_WAIT` has passed or every request has its answer."""
        await self.undo_asked.wait()
        deadline = time.monotonic() + UNDO_KILL_WAIT
        while self.undo_in_flight > 0 and time.monotonic() < deadline:
            if await self._undo_mid_change() and not await self._running_activities(
                self._subscription_workflows()
            ):
                break
            await asyncio.sleep(0.2)
        await self._kill_and_restart(procs, admin)

    def _subscription_workflows(self) -> list[str]:
        return [
            customer_subscriptions_workflow_id(run.customer_id)
            for run in self.undo_runs
            if run.customer_id is not None
        ]

    async def _undo_mid_change(self) -> bool:
        """Whether an undo customer's subscriptions workflow has an update accepted and not
        completed (a change under way, or waiting for the customer's slot)."""
        assert self.client is not None
        for history in await self._histories(self.client, self._subscription_workflows()):
            types = Counter(event.event_type for event in history.events)
            if types[UPDATE_ACCEPTED] > types[UPDATE_COMPLETED]:
                return True
        return False

    async def _kill_one(self, procs: Processes, admin: SandboxAdmin) -> int:
        """SIGKILL a worker; with several, one that has run orders and is seen in the middle of
        one (its carts request held at the sandbox's door meanwhile). Its place."""
        if len(procs.workers) == 1:
            procs.kill_worker(0)
            self._killed_while_undoing()
            return 0
        await self._until_every_worker_ran_orders(procs)
        await admin.hold(HELD_CALL)
        try:
            place = await self._worker_in_a_task(procs)
            if place is None:  # none seen in time: a worker all the same (reported)
                place = self.random.choice(sorted(procs.running().values()))
            procs.kill_worker(place)
            self._killed_while_undoing()
        finally:
            await admin.release_held()
        return place

    def _killed_while_undoing(self) -> None:
        if self.undo_in_flight > 0:
            self.report.kills_during_undo += 1

    async def _order_histories(self) -> list[WorkflowHistory]:
        assert self.client is not None
        ids = [order_workflow_id(o) for o in self.placed_ids]
        histories = await self._histories(self.client, [i for i in ids if i not in self.ended])
        self.ended.update(h.workflow_id for h in histories if has_ended(h))
        return histories

    async def _until_every_worker_ran_orders(self, procs: Processes) -> None:
        """Until each live worker has completed a workflow task of an order (they share the
        load before one dies), or `WAIT_FOR_SHARES` has passed."""
        deadline = time.monotonic() + WAIT_FOR_SHARES
        while time.monotonic() < deadline:
            if set(procs.running()) <= self.ran_orders:
                return
            self.ran_orders.update(tally(await self._order_histories()).by_pid)
            await asyncio.sleep(0.5)

    async def _worker_in_a_task(self, procs: Processes) -> int | None:
        """The place of a live worker that has run orders and has been running an order's
        workflow task for a while (the task's start the last event, the same task for at least
        `HELD_TASK_SECONDS`: one waiting on the held carts request, not one merely slow to
        finish on a busy machine, which could complete just before the kill), and runs no
        regular activity (whose retry would wait out its 45 s start-to-close timeout: the run
        stays short), else None after `HOLD_AT_MOST`."""
        # workflow id -> (pid, started event id), and when that task was first seen running
        seen: dict[str, tuple[tuple[int, int], float]] = {}
        deadline = time.monotonic() + HOLD_AT_MOST
        while time.monotonic() < deadline:
            running = procs.running()
            histories = await self._order_histories()
            self.ran_orders.update(tally(histories).by_pid)
            looked = time.monotonic()
            now = {h.workflow_id: task for h in histories if (task := running_task(h))}
            seen = {
                workflow_id: (task, _since(seen.get(workflow_id), task, looked))
                for workflow_id, task in now.items()
            }
            in_task = Counter(
                running[pid]
                for (pid, _), since in seen.values()
                if looked - since >= HELD_TASK_SECONDS and pid in running and pid in self.ran_orders
            )
            if in_task:
                busy = await self._running_activities()
                places = {place: pid for pid, place in running.items() if pid not in busy}
                for place, _ in in_task.most_common():
                    if place in places:
                        return place
            await asyncio.sleep(0.3)
        return None

    async def _running_activities(self, also: Sequence[str] = ()) -> set[int]:
        """The pids of the workers running a regular activity of an order (or of the workflows
        `also`) now."""
        assert self.client is not None
        client = self.client
        gate = asyncio.Semaphore(8)
        ids = [order_workflow_id(o) for o in self.placed_ids]

        async def pids(workflow_id: str) -> set[int | None]:
            async with gate:
                try:
                    described = await client.get_workflow_handle(workflow_id).describe()
                except Exception:  # the server restarting: not seen
                    return set()
            if described.status not in (None, WorkflowExecutionStatus.RUNNING):
                self.ended.add(workflow_id)
            return {
                pid_of(activity.last_worker_identity)
                for activity in described.raw_description.pending_activities
                if activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            }

        found = await asyncio.gather(*(pids(i) for i in [*ids, *also] if i not in self.ended))
        return {pid for group in found for pid in group if pid is not None}

    @staticmethod
    async def _histories(client: Client, workflow_ids: list[str]) -> list[WorkflowHistory]:
        gate = asyncio.Semaphore(8)

        async def one(workflow_id: str) -> WorkflowHistory | None:
            async with gate:
                try:
                    return await client.get_workflow_handle(workflow_id).fetch_history()
                except Exception:  # not started yet, or the server restarting: not seen
                    return None

        found = await asyncio.gather(*(one(i) for i in workflow_ids))
        return [h for h in found if h is not None]

    def _shares(self, procs: Processes, shares: Shares) -> None:
        """Who ran what, from the histories: a row per worker process of the run."""
        report = self.report
        rows = []
        for place, pids in enumerate(procs.pids):
            for pid in pids:
                share = shares.by_pid.get(pid)
                rows.append(
                    WorkerRow(
                        worker=place + 1,
                        pid=pid,
                        killed=pid in procs.killed,
                        orders=len(share.orders()) if share else 0,
                        workflow_tasks=share.workflow_tasks if share else 0,
                        local_activities=share.local_activities if share else 0,
                        activities=share.activities if share else 0,
                        struck=len(shares.struck_by(pid)),
                    )
                )
        report.worker_rows = rows
        ours = {pid for pids in procs.pids for pid in pids}
        report.unattributed_tasks = shares.unattributed_tasks + sum(
            share.workflow_tasks for pid, share in shares.by_pid.items() if pid not in ours
        )
        report.kills_in_flight = sum(1 for pid in procs.killed if shares.struck_by(pid))
        report.struck_orders = sorted(w for w, pids in shares.struck.items() if pids & procs.killed)
        report.taken_over = sorted(set(report.struck_orders) & shares.taken_over)

    async def _count_served(self, admin: SandboxAdmin) -> None:
        """The sandbox's count of requests served, read each second: the busiest minute."""
        while True:
            calls = await admin.calls()
            served = sum(n for k, n in calls.items() if not k.startswith(FAULT_PREFIX))
            self.served.append((time.monotonic(), served))
            await asyncio.sleep(1.0)

    async def _retry(self, call: Any, attempts: int = 60) -> Any:
        """Storefront calls while the server restarts: try again (the calls are idempotent)."""
        for attempt in range(attempts):
            try:
                return await call()
            except (LicencesRefused, ValueError):
                raise
            except Exception:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(1.0)
        return None

    # ------------------------------------------------------------------ undo requests

    async def _undo_all(self, shop: Storefront, known: dict[int, str]) -> None:
        """Each undo customer's orders and requests (devtools/chaos_undo.py), side by side."""
        asking = Storefront(shop.client, shop.task_queue, answer_timeout=UNDO_ANSWER_TIMEOUT)
        try:
            await asyncio.gather(
                *(self._undo_one(shop, asking, c, known.get(c.index)) for c in self.undo_plan)
            )
        finally:
            self.undo_asked.set()  # (the kill waiting for them goes ahead all the same)

    async def _undo_one(
        self, shop: Storefront, asking: Storefront, plan: UndoCustomer, customer_id: str | None
    ) -> None:
        """The customer's first order, then its second and its education plan, each waited
        for; then its new orders and the undo requests, all at once."""
        run = UndoRun(plan, customer_id)
        self.undo_runs.append(run)
        try:
            first = await self._place_and_wait(shop, plan.first_order(customer_id))
            if first.phase is not Phase.COMPLETED or first.customer_id is None:
                run.failures.append(f"undo{plan.index}: its first order {first.phase.value}")
                return
            customer_id = run.customer_id = first.customer_id
            second, education = await asyncio.gather(
                self._place_and_wait(shop, plan.second_order(customer_id)),
                self._place_and_wait(shop, plan.education_order(customer_id)),
            )
            if second.phase is not Phase.COMPLETED or education.phase is not Phase.REFUSED:
                run.failures.append(
                    f"undo{plan.index}: its second order {second.phase.value}, its education "
                    f"plan {education.phase.value}"
                )
                return
            for role, outcome in ((Role.FIRST, first), (Role.SECOND, second)):
                for bought in outcome.lines:
                    if bought.subscription_id:
                        run.subscriptions[(role, bought.line)] = bought.subscription_id
            news = plan.new_orders(customer_id)
            self.documents += news
            requests = plan.requests()
            async with self.gate.asking():
                self.undo_in_flight += len(requests)
                self.undo_asked.set()
                await asyncio.gather(
                    *(self._place(shop, document) for document in news),
                    *(self._ask(asking, run, request) for request in requests),
                )
        except Exception as error:  # a step that never got its answer: reported
            run.failures.append(f"undo{plan.index}: {type(error).__name__}")

    async def _place(self, shop: Storefront, document: OrderDocument) -> None:
        await self._retry(lambda: shop.place_order(document))
        self.placed_ids.append(document.order_id)

    async def _place_and_wait(self, shop: Storefront, document: OrderDocument) -> OrderOutcome:
        self.documents.append(document)
        await self._place(shop, document)
        outcome: OrderOutcome = await self._retry(lambda: shop.wait_for_outcome(document.order_id))
        return outcome

    async def _ask(self, shop: Storefront, run: UndoRun, request: UndoRequest) -> None:
        """One undo request through the SDK, asked once: its answer, or what came instead."""
        order_id = run.plan.order_id(request.role)
        answer = Answer(request, None)
        self.report.undo_requests += 1
        wait = UNDO_ANSWER_TIMEOUT.total_seconds()
        try:
            if request.ask is Ask.PAYMENT_FAILED:
                failed = await asyncio.wait_for(shop.payment_failed(order_id), wait)
                answer.changes = list(failed.undone)
                codes = sorted({n.refusal.code.value for n in failed.not_undone})
                answer.answer = f"partly: {', '.join(codes)}" if codes else ACCEPTED
            elif request.ask is Ask.CANCEL:
                assert request.line is not None
                asked = shop.cancel_subscription(order_id, request.line)
                answer.changes = [await asyncio.wait_for(asked, wait)]
                answer.answer = ACCEPTED
            else:
                assert request.line is not None and request.quantity is not None
                asked = shop.reduce_licences(order_id, request.line, request.quantity)
                answer.changes = [await asyncio.wait_for(asked, wait)]
                answer.answer = ACCEPTED
        except LifecycleRefused as refused:
            answer.answer = refused.refusal.code.value
        except TimeoutError:  # still not answered: its outcome unknown (fails the run)
            answer.error = f"no answer within {wait:.0f} s"
        except Exception as error:  # no answer: its outcome unknown (fails the run)
            answer.error = type(error).__name__
        finally:
            self.undo_in_flight -= 1
        run.answers.append(answer)
        self.report.undo_changes += answer.changes

    async def _licences(self, shop: Storefront, request: LicenceRequest) -> None:
        try:
            result = await self._retry(lambda: shop.add_licences(request))
            self.report.licence_outcomes.append(result)
        except Exception as error:
            self.report.licence_failures.append(f"{request.request_id}: {error}")

    async def _collect(
        self,
        shop: Storefront,
        documents: list[OrderDocument],
        procs: Processes,
        timeout: float = 600,
    ) -> None:
        deadline = time.monotonic() + timeout

        async def outcome(document: OrderDocument) -> None:
            remaining = deadline - time.monotonic()
            try:
                result = await asyncio.wait_for(
                    self._retry(lambda: shop.wait_for_outcome(document.order_id)),
                    timeout=max(1.0, remaining),
                )
                self.report.outcomes[document.order_id] = result
            except (TimeoutError, Exception):
                self.report.still_running.append(document.order_id)

        await asyncio.gather(*(outcome(d) for d in documents))

    async def _reconcile(self, admin: SandboxAdmin, shop: Storefront) -> None:
        snapshot = await admin.snapshot()
        calls = await admin.calls()
        self.report.calls = sum(n for k, n in calls.items() if not k.startswith(FAULT_PREFIX))
        self.report.faults = {
            k.removeprefix(FAULT_PREFIX): n for k, n in calls.items() if k.startswith(FAULT_PREFIX)
        }
        if self.requests_per_minute is not None:
            self.report.over_cap = calls.get(FAULT_THROTTLED, 0)
            samples = [*self.served, (time.monotonic(), self.report.calls)]
            self.report.busiest_minute = busiest_minute(samples)
            self.report.busiest_stretch = busiest_stretch(samples, self.requests_per_minute)
        reconcile(self.report, snapshot, self.documents, self.seeded, self.seeded_customers)
        await self._judge_records(shop, snapshot)

    async def _judge_records(self, shop: Storefront, snapshot: dict[str, Any]) -> None:
        """Each customer's subscriptions workflow's record against Partner Center, for every
        customer the run bought for; the undo requests' answers and windows against the
        plan."""
        report = self.report
        owner = {sub["id"]: sub["customerId"] for sub in snapshot["subscriptions"]}
        bought: dict[str, str] = {}  # subscription id -> customer id
        for outcome in report.outcomes.values():
            for line in outcome.lines:
                subscription_id = line.subscription_id
                if line.state is LineState.FULFILLED and subscription_id in owner:
                    bought[str(subscription_id)] = owner[subscription_id]
        for result in report.licence_outcomes:
            if result.subscription_id in owner:
                bought[result.subscription_id] = owner[result.subscription_id]
        gate = asyncio.Semaphore(8)

        async def record(customer_id: str) -> CustomerSubscriptionsView | None:
            async def ask() -> CustomerSubscriptionsView | None:
                try:
                    return await shop.customer_subscriptions(customer_id)
                except OrderNotFound:
                    return None

            async with gate:
                view: CustomerSubscriptionsView | None = await self._retry(ask)
                return view

        customers = sorted(set(bought.values()))
        views = dict(zip(customers, await asyncio.gather(*map(record, customers)), strict=True))
        report.records_checked = len(views)
        report.record_drift = record_differences(views, snapshot, bought)
        runs = self.undo_runs
        report.undo_answers = dict(
            sorted(Counter(a.answer for r in runs for a in r.answers if a.answer).items())
        )
        report.undo_unexpected = [f for r in runs for f in r.failures] + unexpected_answers(runs)
        report.undo_windows = window_differences(runs, views)
        report.refused_undo_changed = refused_that_changed(
            runs, set(report.drift) | set(report.status_drift), report.undo_windows
        )


def reconcile(
    report: Report,
    snapshot: dict[str, Any],
    documents: list[OrderDocument],
    seeded: dict[str, int],
    seeded_customers: set[str],
) -> None:
    """Compare what the storefront was told (`report.outcomes`, `report.licence_outcomes`)
    with what Partner Center holds (the sandbox's snapshot); record every defect in `report`."""
    customers: list[dict[str, Any]] = snapshot["customers"]
    subscriptions: list[dict[str, Any]] = snapshot["subscriptions"]
    by_domain: dict[str, list[str]] = defaultdict(list)
    for customer in customers:
        by_domain[customer["domain"].lower()].append(customer["id"])
    taken = {d.lower() for d in snapshot["takenDomains"]}

    # Duplicates: a new customer's domain created twice.
    new_orders = [
        (d, d.customer.domain.lower()) for d in documents if isinstance(d.customer, NewCustomer)
    ]
    report.duplicate_customers = [
        d.order_id for d, domain in new_orders if len(by_domain[domain]) > 1
    ]
    slots: dict[tuple[str, str, str], int] = defaultdict(int)
    for sub in subscriptions:
        product = sub["offerId"].split(":")[0]
        if product in ONE_PER_BILLING_CYCLE_PRODUCTS and sub["status"] in ("active", "pending"):
            slots[(sub["customerId"], product, sub["billingCycle"])] += 1
    report.duplicate_subscriptions = [f"{c}/{p}/{b}" for (c, p, b), n in slots.items() if n > 1]

    # Drift: each subscription's quantity against its seed plus every reported change.
    expected: dict[str, int] = defaultdict(int, seeded)
    for outcome in report.outcomes.values():
        for line in outcome.lines:
            if line.subscription_id and line.state is LineState.FULFILLED:
                expected[line.subscription_id] += line.quantity
    for result in report.licence_outcomes:
        expected[result.subscription_id] += result.quantity_after - result.quantity_before
    # ... less what accepted undo requests took back (a cancellation takes no licence: the
    # subscription keeps its quantity, deleted).
    for change in report.undo_changes:
        expected[change.subscription_id] -= change.quantity_before - change.quantity_after
    for sub in subscriptions:
        if sub["quantity"] != expected.get(sub["id"], 0):
            report.drift[sub["id"]] = sub["quantity"] - expected.get(sub["id"], 0)
    # Status: deleted exactly when an accepted request cancelled it, active otherwise.
    cancelled = {change.subscription_id for change in report.undo_changes if change.cancelled}
    report.status_drift = {}
    for sub in subscriptions:
        status = "deleted" if sub["id"] in cancelled else "active"
        if sub["status"] != status:
            report.status_drift[sub["id"]] = f"{sub['status']}, expected {status}"

    orphans = report.orphans = Orphans()
    unbought = {o.order_id for o in report.outcomes.values() if bought_nothing(o)}

    # (a) A new-customer order that bought nothing leaves no customer and no taken domain.
    accounted_customers = set(seeded_customers)
    report.unbought_new_customer_orders = 0
    for document, domain in new_orders:
        ids = by_domain.get(domain, [])
        accounted_customers.update(ids)  # by this order: created for it, or an orphan of it
        if document.order_id not in unbought:
            continue
        report.unbought_new_customer_orders += 1
        if ids:
            orphans.customers_of_unbought_orders[document.order_id] = ",".join(ids)
        elif domain in taken:
            orphans.domains_of_unbought_orders.append(document.order_id)
    orphans.unaccounted_customers = [
        c["id"] for c in customers if c["id"] not in accounted_customers
    ]

    # Subscriptions and Partner Center orders that only a completed (or failed) order's lines,
    # a licence request or the seed account for.
    named_subscriptions = set(seeded)
    named_purchases: set[str] = set()
    bought: dict[str, int] = defaultdict(int)  # customer id -> licences reported bought
    for order_id, outcome in report.outcomes.items():
        if order_id in unbought:
            continue
        for line in outcome.lines:
            if line.subscription_id:
                named_subscriptions.add(line.subscription_id)
            if line.partner_center_order_id:
                named_purchases.add(line.partner_center_order_id)
            if outcome.customer_id and line.state is LineState.FULFILLED:
                bought[outcome.customer_id] += line.quantity
    owner = {sub["id"]: sub["customerId"] for sub in subscriptions}
    for result in report.licence_outcomes:
        named_subscriptions.add(result.subscription_id)
        if result.subscription_id in owner:
            bought[owner[result.subscription_id]] += result.quantity_after - result.quantity_before
    for change in report.undo_changes:
        if change.subscription_id in owner:
            bought[owner[change.subscription_id]] -= change.quantity_before - change.quantity_after
    orphans.unaccounted_subscriptions = {
        sub["id"]: sub["customerId"]
        for sub in subscriptions
        if sub["id"] not in named_subscriptions
    }
    orphans.unaccounted_purchases = {
        order["id"]: order["referenceCustomerId"]
        for order in snapshot["orders"]
        if order["id"] not in named_purchases
    }

    # (b) An order that bought nothing leaves an existing customer's licences as they were: what
    # the customer holds is its seed plus what completed orders and licence requests report.
    # A customer with an order that never ended is not judged here: what that order bought is
    # unknown (it is reported as still running, which fails the run anyway).
    held: dict[str, int] = defaultdict(int)
    for sub in subscriptions:
        held[sub["customerId"]] += sub["quantity"] - seeded.get(sub["id"], 0)
    unended = {
        d.customer.customer_id
        for d in documents
        if d.order_id not in report.outcomes and isinstance(d.customer, KnownCustomer)
    }
    for document in documents:
        if document.order_id in unbought and isinstance(document.customer, KnownCustomer):
            customer_id = document.customer.customer_id
            if customer_id not in unended and held[customer_id] != bought[customer_id]:
                orphans.existing_customers_changed[document.order_id] = customer_id


def bought_nothing(outcome: OrderOutcome) -> bool:
    """The outcome says nothing was bought: refused, cancelled, or ended (failed) with no line
    ordered at Microsoft. Partner Center must then hold nothing of it: no customer, no domain,
    no subscription, no licence."""
    if outcome.phase in ENDED_WITHOUT_BUYING:
        return True
    if outcome.phase is Phase.COMPLETED:
        return False
    return not any(line.state.value in BOUGHT_LINE_STATES for line in outcome.lines)


def _examples(ids: list[str], shown: int = 3) -> str:
    if not ids:
        return ""
    more = f", ... ({len(ids) - shown} more)" if len(ids) > shown else ""
    return "e.g. " + ", ".join(ids[:shown]) + more


def _is_end_of_sale(document: dict[str, Any]) -> bool:
    return document["customer"]["kind"] == "new" and any(
        line["offer"] == END_OF_SALE for line in document["lines"]
    )


async def run_chaos(
    orders: int,
    kills: int,
    server_restarts: int,
    seed: int = 1,
    workers: int = 1,
    requests_per_minute: int | None = None,
) -> Report:
    return await Chaos(orders, kills, server_restarts, seed, workers, requests_per_minute).run()


def run_from_args(args: argparse.Namespace) -> int:
    """`csp-orders chaos` (its options are defined by the chaos subparser in `workers.cli`)."""
    for option, value in (("--workers", args.workers), ("--requests-per-minute", args.cap)):
        if value is not None and value < 1:
            print(f"csp-orders chaos: {option} must be 1 or more (got {value})", file=sys.stderr)
            return 2
    chaos = Chaos(args.orders, args.kills, args.server_restarts, args.seed, args.workers, args.cap)
    if args.plan_only:
        print("chaos plan (nothing started)")
        for name, n in chaos.plan().items():
            print(f"  {name:<46} {n}")
        return 0
    report = asyncio.run(chaos.run())
    print(report.render())
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_json(), indent=2))
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    """`python -m devtools.chaos ...` is `csp-orders chaos ...`."""
    from workers.cli import main as cli

    return cli(["chaos", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
