"""`csp-orders chaos`: a stream of orders while workers die, the server restarts and Partner
Center misbehaves; then a reconciliation of what storefronts were told against what Partner
Center holds. Exit code 0 only when nothing is lost, duplicated or drifted.

Runs on this machine only: the Temporal dev server (file database) and the worker are
subprocesses; the sandbox runs in-process with faults on (5xx, 429 with Retry-After, writes
carried out whose answer is lost, latency).
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
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from clients.payloads import KeyRing
from clients.storefront import LicencesRefused, Storefront
from ordering.config import load_config
from ordering.document import OrderDocument
from ordering.status import OrderOutcome, Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.app import FAULT_PREFIX
from sandbox.core import SandboxSettings
from sandbox.faults import FaultSettings
from sandbox.server import SandboxServer
from workers.background_server import free_port
from workers.dev import dev_server_command, start_dev_server
from workers.worker import connect
from workflows.licences import LicenceOutcome, LicenceRequest

BUSINESS_BASIC = "CFQ7TTC0LH18:0001"
BUSINESS_STANDARD = "CFQ7TTC0LDPB:0001"
OFFICE_E3 = "CFQ7TTC0LF8Q:0001"
DYNAMICS = "CFQ7TTC0LHVK:0001"
EDUCATION_A1 = "CFQ7TTC0LF8R:0001"
VOICE = "CFQ7TTC0LGZT:0001"
ONE_PER_CYCLE = {"CFQ7TTC0LH18", "CFQ7TTC0LDPB", "CFQ7TTC0LCHC", "CFQ7TTC0LH1G"}
AGREEMENT = {
    "first_name": "Chaos",
    "last_name": "Monkey",
    "email": "chaos@example.com",
    "accepted_at": "2026-11-20T00:00:00Z",
}
CHAOS_FAULTS = FaultSettings(
    latency_ms_min=2,
    latency_ms_max=40,
    server_error_rate=0.10,
    throttle_rate=0.05,
    retry_after_seconds=1,
    lost_answer_rate=0.05,
    seed=7,
)


@dataclass
class Report:
    placed: int = 0
    outcomes: dict[str, OrderOutcome] = field(default_factory=dict)
    still_running: list[str] = field(default_factory=list)
    licence_requests: int = 0
    licence_outcomes: list[LicenceOutcome] = field(default_factory=list)
    licence_failures: list[str] = field(default_factory=list)
    duplicate_customers: list[str] = field(default_factory=list)
    duplicate_subscriptions: list[str] = field(default_factory=list)
    drift: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    faults: dict[str, int] = field(default_factory=dict)  # injected, each answered by a retry
    worker_kills: int = 0
    server_restarts: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        failed = [o for o in self.outcomes.values() if o.phase is Phase.FAILED]
        return not (
            self.still_running
            or self.duplicate_customers
            or self.duplicate_subscriptions
            or self.drift
            or failed
            or self.licence_failures
        )

    def render(self) -> str:
        phases = Counter(o.phase.value for o in self.outcomes.values())
        codes = Counter(
            o.refusal.code.value
            for o in self.outcomes.values()
            if o.refusal is not None and o.phase is not Phase.COMPLETED
        )
        lines = [
            "chaos run",
            f"  orders placed            {self.placed}",
            f"  completed                {phases.get('completed', 0)}",
            f"  refused                  {phases.get('refused', 0)}  "
            + ", ".join(f"{c}: {n}" for c, n in sorted(codes.items())),
            f"  cancelled / failed       {phases.get('cancelled', 0)} / {phases.get('failed', 0)}",
            f"  still running (lost?)    {len(self.still_running)}",
            f"  licence requests         {self.licence_requests} "
            f"({len(self.licence_outcomes)} done, {len(self.licence_failures)} failed)",
            f"  duplicate customers      {len(self.duplicate_customers)}",
            f"  duplicate subscriptions  {len(self.duplicate_subscriptions)}",
            f"  quantity drift           {len(self.drift)} subscription(s) {self.drift or ''}",
            f"  Partner Center requests  {self.calls} "
            f"({self.calls / max(1, self.placed + self.licence_requests):.1f} per order)",
            f"  retries (faults met)     {sum(self.faults.values())} "
            + ", ".join(f"{k}: {n}" for k, n in sorted(self.faults.items())),
            f"  worker kills             {self.worker_kills}",
            f"  server restarts          {self.server_restarts}",
            f"  wall time                {self.seconds:.1f} s",
            f"  verdict                  {'OK' if self.ok else 'NOT OK'}",
        ]
        return "\n".join(lines)


class Processes:
    """The Temporal dev server and the worker as subprocesses that can be killed."""

    def __init__(self, directory: Path, sandbox_url: str, task_queue: str) -> None:
        self.directory = directory
        self.port = free_port()
        self.ui_port = free_port()
        self.sandbox_url = sandbox_url
        self.task_queue = task_queue
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
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

    def start_worker(self) -> None:
        env = {
            **os.environ,
            "CSP_TEMPORAL_ADDRESS": self.address,
            "CSP_TASK_QUEUE": self.task_queue,
            "CSP_PC_BASE_URL": self.sandbox_url,
        }
        self.worker = subprocess.Popen(
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

    def kill_worker(self) -> None:
        if self.worker is not None:
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait(timeout=30)
            self.worker = None

    def stop_all(self) -> None:
        self.kill_worker()
        self.stop_server()


class Chaos:
    def __init__(self, orders: int, kills: int, server_restarts: int, seed: int) -> None:
        self.total = orders
        self.kills = kills
        self.server_restarts = server_restarts
        self.random = random.Random(seed)
        self.tag = f"{int(time.time()) % 100000:05d}"
        self.report = Report()
        self.seeded: dict[str, int] = {}  # subscription id -> quantity before the run
        self.domains: list[str] = []

    async def run(self) -> Report:
        started = time.monotonic()
        if KeyRing.from_env() is None:  # the worker subprocesses inherit the key ring
            os.environ.update(KeyRing.generate("chaos").to_env())
        with (
            tempfile.TemporaryDirectory() as tmp,
            SandboxServer(SandboxSettings(provisioning_delay_seconds=0.5)) as sandbox,
        ):
            admin = SandboxAdmin(sandbox.base_url)
            procs = Processes(Path(tmp), sandbox.base_url, "chaos")
            procs.start_server()
            procs.start_worker()
            try:
                await self._run(procs, admin)
            finally:
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
        instance = await admin.add_subscription(
            dynamics_owner, f"{DYNAMICS}:CFQ7TTC0KHVK", quantity=10
        )
        self.seeded[instance["id"]] = 10
        await admin.clear_calls()
        await admin.set_faults(**CHAOS_FAULTS.model_dump())

        shop = Storefront(await connect(procs.address), task_queue=procs.task_queue)
        documents = self._orders(known, racer)
        self.report.placed = len(documents)
        chaos = asyncio.ensure_future(self._disrupt(procs))
        # Orders arrive over time; the racing ones all at once.
        racing = [d for d in documents if d.order_id.startswith("race")]
        for document in documents:
            if document in racing:
                continue
            await self._retry(lambda d=document: shop.place_order(d))
            await asyncio.sleep(0.05)
        await asyncio.gather(*(self._retry(lambda d=d: shop.place_order(d)) for d in racing))
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
        await licence_results
        await self._collect(shop, documents, procs)
        await admin.set_faults()
        await self._reconcile(admin)

    def _orders(self, known: list[str], racer: str) -> list[OrderDocument]:
        docs: list[dict[str, Any]] = []
        regular = max(0, self.total - 20)
        for n in range(regular):
            roll = self.random.random()
            order_id = f"o{n}-{self.tag}"
            if roll < 0.35:
                prefix = f"new{n}x{self.tag}"
                self.domains.append(f"{prefix}.onmicrosoft.com")
                customer = _new(prefix)
                lines = [_line(BUSINESS_BASIC, self.random.randint(1, 5), "monthly")]
                if self.random.random() < 0.5:
                    lines.append(_line(OFFICE_E3, self.random.randint(1, 5), "annual"))
            elif roll < 0.45:
                prefix = f"ru{n}x{self.tag}"
                self.domains.append(f"{prefix}.onmicrosoft.com")
                customer = _new(prefix, country="RU", tax_id="7707083893")
                lines = [_line(OFFICE_E3, 2, "monthly")]
            elif roll < 0.9:
                customer = {
                    "kind": "known",
                    "customer_id": self.random.choice(known),
                    "country": "US",
                }
                offer = self.random.choice([BUSINESS_BASIC, BUSINESS_STANDARD, OFFICE_E3])
                lines = [
                    _line(
                        offer, self.random.randint(1, 3), self.random.choice(["monthly", "annual"])
                    )
                ]
            elif roll < 0.95:
                customer = {
                    "kind": "known",
                    "customer_id": self.random.choice(known),
                    "country": "US",
                }
                lines = [_line(EDUCATION_A1, 1, "monthly", segment="Education")]
            else:
                prefix = f"eos{n}x{self.tag}"
                customer = _new(prefix)
                lines = [_line(VOICE, 1, "monthly")]
            docs.append({"order_id": order_id, "customer": customer, "lines": lines})
        for n in range(min(20, self.total)):
            docs.append(
                {
                    "order_id": f"race{n}-{self.tag}",
                    "customer": {"kind": "known", "customer_id": racer, "country": "US"},
                    "lines": [_line(BUSINESS_BASIC, 1, "monthly")],
                }
            )
        return [OrderDocument.model_validate({**d, "customer_agreement": AGREEMENT}) for d in docs]

    async def _disrupt(self, procs: Processes) -> None:
        events = ["kill"] * self.kills + ["restart"] * self.server_restarts
        self.random.shuffle(events)
        for event in events:
            await asyncio.sleep(self.random.uniform(1.0, 4.0))
            if event == "kill":
                procs.kill_worker()
                self.report.worker_kills += 1
                await asyncio.sleep(self.random.uniform(0.2, 1.5))
                procs.start_worker()
            else:
                procs.stop_server()
                self.report.server_restarts += 1
                await asyncio.sleep(1.0)
                await asyncio.to_thread(procs.start_server)

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

    async def _reconcile(self, admin: SandboxAdmin) -> None:
        snapshot = await admin.snapshot()
        calls = await admin.calls()
        self.report.calls = sum(n for k, n in calls.items() if not k.startswith(FAULT_PREFIX))
        self.report.faults = {
            k.removeprefix(FAULT_PREFIX): n for k, n in calls.items() if k.startswith(FAULT_PREFIX)
        }
        by_domain = Counter(c["domain"] for c in snapshot["customers"])
        self.report.duplicate_customers = [d for d in self.domains if by_domain[d] > 1]
        slots: dict[tuple[str, str, str], int] = defaultdict(int)
        for sub in snapshot["subscriptions"]:
            product = sub["offerId"].split(":")[0]
            if product in ONE_PER_CYCLE and sub["status"] in ("active", "pending"):
                slots[(sub["customerId"], product, sub["billingCycle"])] += 1
        self.report.duplicate_subscriptions = [
            f"{c}/{p}/{b}" for (c, p, b), n in slots.items() if n > 1
        ]
        expected: dict[str, int] = defaultdict(int, self.seeded)
        for outcome in self.report.outcomes.values():
            for line in outcome.lines:
                if line.subscription_id and line.state.value == "fulfilled":
                    expected[line.subscription_id] += line.quantity
        for result in self.report.licence_outcomes:
            expected[result.subscription_id] += result.quantity_after - result.quantity_before
        actual = {s["id"]: s["quantity"] for s in snapshot["subscriptions"]}
        for sub_id, quantity in actual.items():
            if quantity != expected.get(sub_id, 0):
                self.report.drift[sub_id] = quantity - expected.get(sub_id, 0)


def _new(prefix: str, country: str = "US", tax_id: str | None = None) -> dict[str, Any]:
    city, postal = ("Moscow", "125009") if country == "RU" else ("Redmond", "98052")
    customer: dict[str, Any] = {
        "kind": "new",
        "company_name": f"{prefix} Ltd",
        "domain_prefix": prefix,
        "email": "it@example.com",
        "phone": "+1 425 555 0100",
        "billing_address": {
            "first_name": "A",
            "last_name": "B",
            "address_line1": "1 Main St",
            "city": city,
            "postal_code": postal,
            "country": country,
        },
    }
    if tax_id:
        customer["tax_id"] = tax_id
    return customer


def _line(offer: str, quantity: int, cycle: str, **extra: Any) -> dict[str, Any]:
    return {"offer": offer, "quantity": quantity, "billing_cycle": cycle, **extra}


async def run_chaos(orders: int, kills: int, server_restarts: int, seed: int = 1) -> Report:
    return await Chaos(orders, kills, server_restarts, seed).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="csp-orders chaos", description=__doc__)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--server-restarts", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    report = asyncio.run(run_chaos(args.orders, args.kills, args.server_restarts, args.seed))
    print(report.render())
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "placed": report.placed,
                    "outcomes": len(report.outcomes),
                    "still_running": report.still_running,
                    "drift": report.drift,
                    "duplicate_customers": report.duplicate_customers,
                    "duplicate_subscriptions": report.duplicate_subscriptions,
                    "calls": report.calls,
                    "seconds": report.seconds,
                    "ok": report.ok,
                },
                indent=2,
            )
        )
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
