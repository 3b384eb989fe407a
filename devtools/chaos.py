"""`csp-orders chaos`: a stream of orders while workers die, the server restarts and Partner
Center misbehaves; then a reconciliation of what storefronts were told against what Partner
Center holds. Exit code 0 only when nothing is lost, duplicated, drifted or orphaned (nothing
at Partner Center belongs to an order that bought nothing, i.e. was refused or cancelled, or to
no order at all).

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

from clients.contract import LicenceOutcome, LicenceRequest
from clients.payloads import KeyRing
from clients.storefront import LicencesRefused, Storefront
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

    @property
    def ok(self) -> bool:
        failed = [o for o in self.outcomes.values() if o.phase is Phase.FAILED]
        return not (
            self.still_running
            or self.duplicate_customers
            or self.duplicate_subscriptions
            or self.drift
            or self.orphans.total()
            or failed
            or self.licence_failures
        )

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
            f"  cancelled / failed       {phases.get('cancelled', 0)} / {phases.get('failed', 0)}",
            f"  still running (lost?)    {len(self.still_running)}",
            f"  licence requests         {self.licence_requests} "
            f"({len(self.licence_outcomes)} done, {len(self.licence_failures)} failed)",
            f"  duplicate customers      {len(self.duplicate_customers)}",
            f"  duplicate subscriptions  {len(self.duplicate_subscriptions)}",
            f"  quantity drift           {len(self.drift)} subscription(s) {self.drift or ''}",
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
            f"  wall time                {self.seconds:.1f} s",
            f"  verdict                  {'OK' if self.ok else 'NOT OK'}",
        ]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "placed": self.placed,
            "outcomes": len(self.outcomes),
            "phases": dict(Counter(o.phase.value for o in self.outcomes.values())),
            "refusals": dict(self.refusals()),
            "still_running": self.still_running,
            "drift": self.drift,
            "duplicate_customers": self.duplicate_customers,
            "duplicate_subscriptions": self.duplicate_subscriptions,
            "orphans": self.orphans.as_json(),
            "calls": self.calls,
            "worker_kills": self.worker_kills,
            "server_restarts": self.server_restarts,
            "seconds": self.seconds,
            "ok": self.ok,
        }


class Processes:
    """The Temporal dev server and the worker as subprocesses that can be killed."""

    def __init__(self, directory: Path, sandbox: SandboxServer, task_queue: str) -> None:
        self.directory = directory
        self.port = free_port()
        self.ui_port = free_port()
        self.sandbox = sandbox
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
            # The sandbox's URL and credentials, given explicitly: the worker has no default.
            **sandbox_worker_env(self.sandbox.base_url, self.sandbox.settings),
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
        self.seeded_customers: set[str] = set()
        self.documents: list[OrderDocument] = []

    async def run(self) -> Report:
        started = time.monotonic()
        if KeyRing.from_env() is None:  # the worker subprocesses inherit the key ring
            os.environ.update(KeyRing.generate("chaos").to_env())
        with (
            tempfile.TemporaryDirectory() as tmp,
            SandboxServer(SandboxSettings(provisioning_delay_seconds=0.5)) as sandbox,
        ):
            admin = SandboxAdmin(sandbox.base_url)
            procs = Processes(Path(tmp), sandbox, "chaos")
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
        instance = await admin.add_subscription(dynamics_owner, catalog_item(DYNAMICS), quantity=10)
        self.seeded[instance["id"]] = 10
        self.seeded_customers = {*known, racer, dynamics_owner}
        await admin.clear_calls()
        await admin.set_faults(**CHAOS_FAULTS.model_dump())

        shop = Storefront(await connect(procs.address), task_queue=procs.task_queue)
        documents = self.documents = self._orders(known, racer)
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
        for n in range(min(20, self.total)):
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
        return {
            "orders": self.total,
            **dict(sorted(kinds.items())),
            "licence requests": 5,
            "worker kills": self.kills,
            "server restarts": self.server_restarts,
        }

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
        reconcile(self.report, snapshot, self.documents, self.seeded, self.seeded_customers)


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
    for sub in subscriptions:
        if sub["quantity"] != expected.get(sub["id"], 0):
            report.drift[sub["id"]] = sub["quantity"] - expected.get(sub["id"], 0)

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


async def run_chaos(orders: int, kills: int, server_restarts: int, seed: int = 1) -> Report:
    return await Chaos(orders, kills, server_restarts, seed).run()


def run_from_args(args: argparse.Namespace) -> int:
    """`csp-orders chaos` (its options are defined by the chaos subparser in `workers.cli`)."""
    if args.plan_only:
        plan = Chaos(args.orders, args.kills, args.server_restarts, args.seed).plan()
        print("chaos plan (nothing started)")
        for name, n in plan.items():
            print(f"  {name:<46} {n}")
        return 0
    report = asyncio.run(run_chaos(args.orders, args.kills, args.server_restarts, args.seed))
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
