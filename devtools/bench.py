"""`csp-orders bench` (`make bench`): the engine's figures, each printed next to its target.

Everything runs in this one process tree on the embedded stack: the Temporal dev server (file
database, WAL) and the Partner Center sandbox (answering at once, orders provisioned at once)
and the engine's worker as subprocesses, an empty workflow's worker beside it, and the
storefront load in this process. Figures, not assertions: the targets are issue 13's, and
docs/PERFORMANCE.md records a run and where the time goes.

1. Temporal's floor: empty workflows (encrypted like an order) a second, before and after.
2. The standard order (a new customer, one Business line) at a fixed concurrency: orders a
   second, and the ratio to the floor; latency at concurrency 1 and at half the measured
   maximum, and the engine's overhead (latency less the time spent inside Partner Center).
3. Partner Center requests of each scenario of the ordering rules, next to the minimum.
4. History events and workflow tasks of the standard order (and of its customer's slot).
5. Parked orders waiting for a tax ID: the worker's memory, the database's size, and how soon
   an order leaves the wait once its tax ID arrives.
6. A burst of orders under a Partner Center cap, with two workers sharing it: requests over the
   cap, orders failed, and the time taken against the cap's minimum.

With `--workers N` (N >= 2), the throughput is measured again with N worker processes on the
task queue, and printed next to the one worker's figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from clients.contract import TASK_QUEUE, order_workflow_id, slot_workflow_id
from clients.payloads import KeyRing
from clients.storefront import EngineBusy, Storefront
from clients.temporal_connection import local_server, local_server_environment
from devtools.dev import dev_server_command, start_dev_server
from devtools.floor import FLOOR_TASK_QUEUE, FLOOR_WORKFLOW, FloorInput
from devtools.samples import BUSINESS_BASIC, VALID_RU_TAX_ID, line, new_customer, order
from devtools.samples import russian_order as russian
from devtools.sandbox_settings import sandbox_worker_env
from devtools.scenarios import SCENARIOS, requests_of, warm_up
from ordering.document import OrderDocument
from ordering.status import Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import free_port
from sandbox.front_door import FAULT_PREFIX
from workers.worker import connect

FAULT_THROTTLED = f"{FAULT_PREFIX}throttled"  # requests the sandbox refused as over its limit


@dataclass(frozen=True)
class Settings:
    floor_workflows: int = 400
    orders: int = 400
    concurrency: int = 20
    latency_orders: int = 60
    half_max_orders: int = 200
    parked: int = 10_000
    resume_sample: int = 300
    burst: int = 1_000
    cap_per_minute: int = 2_400
    burst_workers: int = 2
    workers: int = 1  # 2 or more: the throughput again with that many worker processes
    log_level: str = "INFO"


TINY = Settings(
    floor_workflows=40,
    orders=20,
    concurrency=5,
    latency_orders=8,
    half_max_orders=10,
    parked=200,
    resume_sample=20,
    burst=40,
    cap_per_minute=1_200,
)


@dataclass
class Figure:
    section: str
    name: str
    value: float | int | str
    unit: str = ""
    target: str = ""
    met: bool | None = None

    def line(self) -> str:
        value = f"{self.value:,.1f}" if isinstance(self.value, float) else f"{self.value:,}"
        if isinstance(self.value, str):
            value = self.value
        verdict = {True: "met", False: "MISSED", None: ""}[self.met]
        shown = f"{value} {self.unit}".strip()
        return f"  {self.name:<58} {shown:>18}   {self.target:<16} {verdict}"


@dataclass
class Report:
    settings: Settings
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def as_json(self) -> dict[str, Any]:
        return {
            "settings": asdict(self.settings),
            "seconds": round(self.seconds, 1),
            "figures": [asdict(f) for f in self.figures],
        }


def percentile(values: Iterable[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def cpu_ms(pid: int) -> float:
    """User and system CPU time of a process so far, in milliseconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------------- the stack


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    metrics_port: int
    log: Path


class Stack:
    """The embedded stack as subprocesses of this one."""

    def __init__(self, directory: Path, log_level: str) -> None:
        self.directory = directory
        self.log_level = log_level
        self.port = free_port()
        self.sandbox_port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.sandbox: subprocess.Popen[bytes] | None = None
        self.floor: subprocess.Popen[bytes] | None = None
        self.workers: list[WorkerProcess] = []
        self.client: Client | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def database(self) -> list[Path]:
        return [self.directory / f"temporal.db{suffix}" for suffix in ("", "-wal", "-shm")]

    async def start(self) -> Client:
        self.server = start_dev_server(
            [
                *dev_server_command(self.directory / "temporal.db", self.port, free_port()),
                "--headless",
            ],
            self.port,
            self.directory / "temporal.log",
        )
        self.sandbox = self._spawn(
            [
                "sandbox",
                "--port",
                str(self.sandbox_port),
                "--provisioning-delay",
                "0",
            ],
            "sandbox.log",
        )
        await self._until_answering(f"{self.sandbox_url}/_sandbox/health")
        self.floor = subprocess.Popen(
            [sys.executable, "-m", "devtools.floor", self.address],
            env=local_server_environment(os.environ, self.address, self.directory),
            stdout=subprocess.PIPE,
            stderr=open(self.directory / "floor.log", "wb"),  # noqa: SIM115
        )
        self.client = await connect(local_server(self.address))
        return self.client

    def _spawn(self, args: list[str], log: str, env: dict[str, str] | None = None) -> Any:
        return subprocess.Popen(
            [sys.executable, "-m", "workers.cli", *args],
            stdout=open(self.directory / log, "wb"),
            stderr=subprocess.STDOUT,
            env=env or local_server_environment(os.environ, self.address, self.directory),
        )

    async def start_workers(self, n: int, cap_per_minute: int | None) -> None:
        for _ in range(n):
            metrics = free_port()
            log = self.directory / f"worker-{len(self.workers)}.log"
            env = {
                **local_server_environment(os.environ, self.address, self.directory),
                "CSP_TASK_QUEUE": TASK_QUEUE,
                **sandbox_worker_env(self.sandbox_url),
                "CSP_PC_REQUESTS_PER_MINUTE": str(cap_per_minute)
                if cap_per_minute
                else "unlimited",
            }
            process = self._spawn(
                ["worker", "--log-level", self.log_level, "--metrics-port", str(metrics)],
                log.name,
                env,
            )
            self.workers.append(WorkerProcess(process, metrics, log))
        for worker in self.workers:
            await self._until_answering(f"http://127.0.0.1:{worker.metrics_port}/metrics")

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.process.terminate()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
        self.workers = []

    async def stop(self) -> None:
        self.stop_workers()
        for process in (self.floor, self.sandbox, self.server):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()

    async def _until_answering(self, url: str) -> None:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url, timeout=1)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"nothing answered at {url}")

    async def partner_center_seconds(self) -> float:
        """Seconds the workers spent inside Partner Center requests so far (their metrics)."""
        total = 0.0
        async with httpx.AsyncClient() as http:
            for worker in self.workers:
                text = (await http.get(f"http://127.0.0.1:{worker.metrics_port}/metrics")).text
                for row in text.splitlines():
                    if row.startswith("csp_orders_partner_center_seconds_sum"):
                        total += float(row.rsplit(" ", 1)[1])
        return total

    def cpu(self) -> dict[str, float]:
        pids = {"Temporal server": self.server, "sandbox": self.sandbox}
        shown = {name: cpu_ms(p.pid) for name, p in pids.items() if p is not None}
        shown["worker"] = sum(cpu_ms(w.process.pid) for w in self.workers)
        if self.floor is not None:
            shown["empty workflow's worker"] = cpu_ms(self.floor.pid)
        shown["storefront (this process)"] = cpu_ms(os.getpid())
        return shown


# ---------------------------------------------------------------------- load


def standard_order(tag: str) -> OrderDocument:
    unique = f"{tag}{uuid.uuid4().hex[:10]}"
    return order(f"std-{unique}", new_customer(f"std{unique}"), line(BUSINESS_BASIC, 3))


async def run_floor(client: Client, n: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await client.execute_workflow(
                FLOOR_WORKFLOW,
                FloorInput(n=i),
                id=f"floor-{uuid.uuid4().hex}",
                task_queue=FLOOR_TASK_QUEUE,
                result_type=int,
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - started)


async def place_and_wait(shop: Storefront, document: OrderDocument) -> float:
    started = time.perf_counter()
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    if outcome.phase is not Phase.COMPLETED:
        raise RuntimeError(f"order {document.order_id} ended {outcome.phase}: {outcome.refusal}")
    return time.perf_counter() - started


async def closed_loop(
    shop: Storefront, n: int, concurrency: int, tag: str
) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one() -> None:
        async with gate:
            latencies.append(await place_and_wait(shop, standard_order(tag)))

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - started), latencies


async def open_loop(shop: Storefront, n: int, per_second: float, tag: str) -> list[float]:
    """Orders arriving at `per_second`, whatever the engine's pace: their latencies."""
    running = []
    for _ in range(n):
        running.append(asyncio.ensure_future(place_and_wait(shop, standard_order(tag))))
        await asyncio.sleep(1 / per_second)
    return list(await asyncio.gather(*running))


# ---------------------------------------------------------------------- the sections


async def floor_and_throughput(
    report: Report,
    stack: Stack,
    client: Client,
    shop: Storefront,
    s: Settings,
    profile: Path | None,
) -> tuple[float, float]:
    section = "throughput"
    floor_before = await run_floor(client, s.floor_workflows, s.concurrency)
    report.add(Figure(section, "empty workflow, before the orders", floor_before, "/s"))
    await closed_loop(shop, max(5, s.concurrency), s.concurrency, "warm")
    cpu_before = stack.cpu()
    profiler = None
    if profile is not None:
        profiler = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(stack.workers[0].process.pid),
                "--output",
                str(profile),
                "--format",
                "raw",
                "--rate",
                "200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    rate, _ = await closed_loop(shop, s.orders, s.concurrency, "tp")
    if profiler is not None:
        profiler.send_signal(2)
        profiler.wait(timeout=60)
    cpu_after = stack.cpu()
    floor_after = await run_floor(client, s.floor_workflows, s.concurrency)
    cpu_floor = stack.cpu()
    report.add(Figure(section, "empty workflow, after the orders", floor_after, "/s"))
    for name in ("Temporal server", "empty workflow's worker"):
        used = (cpu_floor[name] - cpu_after[name]) / s.floor_workflows
        report.add(Figure(section, f"  CPU per empty workflow: {name}", used, "ms"))
    floor = (floor_before + floor_after) / 2
    report.add(Figure(section, f"standard order at concurrency {s.concurrency}", rate, "orders/s"))
    ratio = rate / floor
    report.add(Figure(section, "  ratio to the empty workflow", ratio, "", ">= 0.5", ratio >= 0.5))
    for name, before in cpu_before.items():
        if name == "empty workflow's worker":
            continue
        used = (cpu_after[name] - before) / s.orders
        report.add(Figure(section, f"  CPU per order: {name}", used, "ms"))
    return rate, floor


async def latency(
    report: Report, stack: Stack, shop: Storefront, s: Settings, max_rate: float
) -> None:
    section = "latency"
    overheads, latencies = [], []
    for _ in range(s.latency_orders):
        inside_before = await stack.partner_center_seconds()
        took = await place_and_wait(shop, standard_order("c1"))
        inside = await stack.partner_center_seconds() - inside_before
        latencies.append(took * 1000)
        overheads.append((took - inside) * 1000)
    report.add(Figure(section, "concurrency 1: latency p50", percentile(latencies, 50), "ms"))
    report.add(Figure(section, "concurrency 1: latency p99", percentile(latencies, 99), "ms"))
    overhead = percentile(overheads, 50)
    report.add(
        Figure(
            section,
            "concurrency 1: engine overhead p50 (less Partner Center)",
            overhead,
            "ms",
            "<= 100 ms",
            overhead <= 100,
        )
    )
    half = max_rate / 2
    inside_before = await stack.partner_center_seconds()
    latencies = [x * 1000 for x in await open_loop(shop, s.half_max_orders, half, "half")]
    inside = (await stack.partner_center_seconds() - inside_before) / s.half_max_orders * 1000
    report.add(
        Figure(
            section,
            f"half the maximum ({half:.1f} orders/s): latency p50",
            percentile(latencies, 50),
            "ms",
        )
    )
    report.add(Figure(section, "half the maximum: latency p99", percentile(latencies, 99), "ms"))
    report.add(
        Figure(
            section,
            "half the maximum: engine overhead p50",
            percentile(latencies, 50) - inside,
            "ms",
        )
    )


async def requests_per_scenario(report: Report, shop: Storefront, admin: SandboxAdmin) -> None:
    section = "Partner Center requests per order"
    await warm_up(shop, uuid.uuid4().hex[:8])
    for scenario in SCENARIOS:
        _, requests = await requests_of(scenario, shop, admin, uuid.uuid4().hex[:8])
        measured = requests.total()
        report.add(
            Figure(
                section,
                scenario.name,
                measured,
                "",
                f"= {scenario.minimum}",
                measured == scenario.minimum and requests == Counter(scenario.requests),
            )
        )
        for call, count in sorted(requests.items()):
            print(f"      {count} x {call}")


async def history_shape(report: Report, client: Client, shop: Storefront) -> None:
    section = "history per standard order"
    document = standard_order("shape")
    await place_and_wait(shop, document)
    history = await client.get_workflow_handle(order_workflow_id(document.order_id)).fetch_history()
    tasks = sum(
        1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    report.add(Figure(section, "order: history events", len(history.events)))
    report.add(Figure(section, "order: workflow tasks", tasks))
    status = await shop.status(document.order_id)
    slot = client.get_workflow_handle(slot_workflow_id(str(status.customer_id)))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(slot.result(), 30)
    slot_history = await slot.fetch_history()
    slot_tasks = sum(
        1
        for e in slot_history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    report.add(Figure(section, "its customer's slot: history events", len(slot_history.events)))
    report.add(Figure(section, "its customer's slot: workflow tasks", slot_tasks))


async def parked_orders(
    report: Report, stack: Stack, client: Client, shop: Storefront, s: Settings
) -> list[str]:
    section = f"{s.parked:,} orders waiting for a tax ID"
    tag = uuid.uuid4().hex[:6]
    ids = [f"park-{tag}-{n}" for n in range(s.parked)]
    gate = asyncio.Semaphore(50)

    async def park(order_id: str) -> None:
        async with gate:
            await shop.place_order(russian(order_id, order_id.replace("-", "")))

    started = time.perf_counter()
    await asyncio.gather(*(park(order_id) for order_id in ids))
    query = f'CspPhase = "{Phase.WAITING_FOR_TAX_ID.value}" AND CspOrderId STARTS_WITH "park-{tag}"'
    for _ in range(3600):
        waiting = (await client.count_workflows(query)).count
        if waiting >= s.parked:
            break
        await asyncio.sleep(1)
    parked_in = time.perf_counter() - started
    report.add(Figure(section, "time to place them all, until all wait", parked_in, "s"))
    worker_rss = max(rss_mb(w.process.pid) for w in stack.workers)
    report.add(Figure(section, "worker RSS", worker_rss, "MB", "<= 300 MB", worker_rss <= 300))
    size = sum(p.stat().st_size for p in stack.database if p.exists()) / 2**20
    report.add(Figure(section, "server database (with WAL)", size, "MB"))
    sample = random.Random(7).sample(ids, min(s.resume_sample, len(ids)))
    resumed = []
    for order_id in sample:
        began = time.perf_counter()
        await shop.provide_tax_id(order_id, VALID_RU_TAX_ID)
        resumed.append((time.perf_counter() - began) * 1000)
    report.add(
        Figure(
            section,
            f"tax ID to leaving the wait p50 ({len(sample)} sampled)",
            percentile(resumed, 50),
            "ms",
        )
    )
    p99 = percentile(resumed, 99)
    report.add(
        Figure(section, "tax ID to leaving the wait p99", p99, "ms", "<= 1000 ms", p99 <= 1000)
    )
    report.add(
        Figure(
            section,
            "worker RSS after the sample",
            max(rss_mb(w.process.pid) for w in stack.workers),
            "MB",
        )
    )
    return sample


async def burst(
    report: Report, stack: Stack, shop: Storefront, admin: SandboxAdmin, s: Settings
) -> None:
    section = f"burst of {s.burst:,} orders under a cap of {s.cap_per_minute:,} requests/min"
    stack.stop_workers()
    await admin.set_faults(rate_limit_per_minute=s.cap_per_minute)
    await stack.start_workers(s.burst_workers, s.cap_per_minute)
    await admin.clear_calls()
    documents = [standard_order("burst") for _ in range(s.burst)]
    outcomes: list[Phase] = []

    busy: list[str] = []

    async def one(document: OrderDocument) -> None:
        while True:  # as a storefront does when told the engine is busy: again in a moment
            try:
                await shop.place_order(document)
                break
            except EngineBusy as error:
                busy.append(repr(error.__cause__))
                await asyncio.sleep(1)
        outcomes.append((await shop.wait_for_outcome(document.order_id)).phase)

    started = time.perf_counter()
    await asyncio.gather(*(one(d) for d in documents))
    took = time.perf_counter() - started
    calls = await admin.calls()
    over = calls.get(FAULT_THROTTLED, 0)
    served = sum(n for name, n in calls.items() if not name.startswith(FAULT_PREFIX))
    failed = sum(1 for phase in outcomes if phase is not Phase.COMPLETED)
    minimum = served / s.cap_per_minute * 60
    report.add(Figure(section, "workers sharing the cap", s.burst_workers))
    report.add(Figure(section, "Partner Center requests", served))
    for call, count in sorted(calls.items()):  # where they went (and what a change moved)
        if not call.startswith(FAULT_PREFIX):
            print(f"      {count / s.burst:.2f} per order x {call}")
    report.add(Figure(section, "placements the engine answered busy (placed again)", len(busy)))
    if busy:
        print(f"  (busy: {Counter(busy).most_common(3)})", flush=True)
    report.add(Figure(section, "requests over the cap (throttled)", over, "", "= 0", over == 0))
    report.add(Figure(section, "orders failed", failed, "", "= 0", failed == 0))
    report.add(Figure(section, "completion time", took, "s"))
    report.add(Figure(section, "the cap's minimum for those requests", minimum, "s"))
    ratio = took / minimum if minimum else float("nan")
    report.add(Figure(section, "  ratio", ratio, "", "<= 1.2", ratio <= 1.2))
    await admin.set_faults()


async def many_workers(
    report: Report, stack: Stack, shop: Storefront, s: Settings, one_worker: float
) -> None:
    """The standard order's throughput with `s.workers` worker processes on the task queue,
    next to the one worker's (`one_worker`), then back to one worker for what follows."""
    section = "throughput"
    stack.stop_workers()
    await stack.start_workers(s.workers, None)
    # enough orders to warm every worker (its catalog facts and agreement template)
    await closed_loop(shop, max(5, s.concurrency) * s.workers, s.concurrency, "warm")
    cpu_before = stack.cpu()
    rate, _ = await closed_loop(shop, s.orders, s.concurrency, "tpn")
    cpu_after = stack.cpu()
    name = f"standard order at concurrency {s.concurrency}, {s.workers} workers"
    report.add(Figure(section, name, rate, "orders/s"))
    report.add(
        Figure(section, f"  ratio to 1 worker ({one_worker:.1f} orders/s)", rate / one_worker)
    )
    for process in ("Temporal server", "worker"):
        used = (cpu_after[process] - cpu_before[process]) / s.orders
        label = f"{s.workers} workers, together" if process == "worker" else process
        report.add(Figure(section, f"  CPU per order: {label}", used, "ms"))
    stack.stop_workers()
    await stack.start_workers(1, None)


# ---------------------------------------------------------------------- the run


SECTIONS = ("latency", "requests", "history", "parked", "burst")


async def run(
    settings: Settings, profile: Path | None = None, sections: Iterable[str] = SECTIONS
) -> Report:
    report = Report(settings)
    began = time.monotonic()
    if KeyRing.from_env() is None:  # encrypted as in production; subprocesses inherit the keys
        os.environ.update(KeyRing.generate("bench").to_env())
    print(f"csp-orders bench: {os.cpu_count()} cores; settings {asdict(settings)}", flush=True)
    print(f"  {'figure':<58} {'measured':>18}   {'target':<16}")
    with tempfile.TemporaryDirectory(prefix="csp-bench-") as tmp:
        stack = Stack(Path(tmp), settings.log_level)
        try:
            client = await stack.start()
            await stack.start_workers(1, None)
            admin = SandboxAdmin(stack.sandbox_url)
            shop = Storefront(client)
            wanted = set(sections)
            rate, _ = await floor_and_throughput(report, stack, client, shop, settings, profile)
            if settings.workers > 1:
                await many_workers(report, stack, shop, settings, rate)
            if "latency" in wanted:
                await latency(report, stack, shop, settings, rate)
            if "requests" in wanted:
                await requests_per_scenario(report, shop, admin)
            if "history" in wanted:
                await history_shape(report, client, shop)
            if "parked" in wanted:
                sample = await parked_orders(report, stack, client, shop, settings)
                for order_id in sample:  # they go on to be bought: before the burst
                    await shop.wait_for_outcome(order_id)
            if "burst" in wanted:
                await burst(report, stack, shop, admin, settings)
            await admin.aclose()
        finally:
            await stack.stop()
    report.seconds = time.monotonic() - began
    print(f"csp-orders bench: done in {report.seconds:.0f} s", flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="csp-orders bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tiny", action="store_true", help="a small run (CI): no targets judged")
    for name, default in asdict(Settings()).items():
        if isinstance(default, int):
            parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None)
    parser.add_argument("--log-level", default=None)
    parser.add_argument("--profile", type=Path, help="py-spy's raw profile of the worker, here")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help="after the throughput: which of " + ", ".join(SECTIONS) + " (comma-separated)",
    )
    args = parser.parse_args(argv)
    base = TINY if args.tiny else Settings()
    chosen = {k: v for k, v in vars(args).items() if k in asdict(base) and v is not None}
    settings = Settings(**{**asdict(base), **chosen})
    if settings.workers < 1:
        parser.error(f"--workers must be 1 or more (got {settings.workers})")
    sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: no section {', '.join(sorted(unknown))}")
    report = asyncio.run(run(settings, args.profile, sections))
    if args.json:
        args.json.write_text(json.dumps(report.as_json(), indent=2) + "\n")
    return 0
