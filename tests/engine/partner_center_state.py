"""What Partner Center (the sandbox) holds, read through its admin snapshot: for asserting, after
every refusal, that nothing exists at Microsoft that the order created."""

from __future__ import annotations

from typing import Any

from sandbox.admin_client import SandboxAdmin

Holdings = dict[str, tuple[str, int, str]]  # subscription id -> (offer id, quantity, status)


async def holdings(admin: SandboxAdmin, customer_id: str) -> Holdings:
    """The customer's subscriptions: offer, quantity and status by subscription id."""
    snapshot = await admin.snapshot()
    return {
        s["id"]: (s["offerId"], s["quantity"], s["status"])
        for s in snapshot["subscriptions"]
        if s["customerId"] == customer_id
    }


async def customer_subscriptions(admin: SandboxAdmin, customer_id: str) -> list[dict[str, Any]]:
    """The customer's subscriptions as the snapshot shows them (Partner Center's JSON)."""
    snapshot = await admin.snapshot()
    return [s for s in snapshot["subscriptions"] if s["customerId"] == customer_id]


async def orders_of(admin: SandboxAdmin, customer_id: str) -> list[dict[str, Any]]:
    snapshot = await admin.snapshot()
    return [o for o in snapshot["orders"] if o["referenceCustomerId"] == customer_id]


async def assert_no_customer_created(admin: SandboxAdmin, domain_prefix: str) -> None:
    """The order left no tenant behind: no customer with the domain, and the domain still free."""
    domain = f"{domain_prefix}.onmicrosoft.com"
    snapshot = await admin.snapshot()
    assert domain not in snapshot["takenDomains"], f"{domain} was taken"
    assert not [c for c in snapshot["customers"] if c["domain"] == domain], "orphan customer"
