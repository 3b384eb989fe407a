"""Waiting, in tests, for what an order shows the storefront."""

from __future__ import annotations

import asyncio

from clients.storefront import Storefront
from ordering.status import WaitingFor


async def wait_for(shop: Storefront, order_id: str, what: WaitingFor) -> None:
    """Until the order waits for `what` (at most about a minute; it must not end first)."""
    for _ in range(600):
        status = await shop.status(order_id)
        if status.waiting is not None and status.waiting.what is what:
            return
        assert not status.phase.final, status
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {order_id} never waited for {what}")
