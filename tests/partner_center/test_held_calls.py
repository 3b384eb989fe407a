"""A call held at the sandbox's door (`PUT /_sandbox/holds`) whose caller goes away meanwhile
(the chaos harness kills a worker while its carts request is held): the sandbox does nothing
for it and logs no error, as no one asked anything it could carry out."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlsplit

import httpx

from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.helpers import app_only_token
from tests.partner_center.builders import BUSINESS_BASIC

CARTS = "POST /v1/customers/{customer_id}/carts"


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_held_call_whose_caller_went_away_is_dropped_without_an_error(
    sandbox: SandboxServer, admin: SandboxAdmin
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as http:
        bearer = await app_only_token(http, sandbox)
    customer_id = await admin.add_customer("Held", "held.onmicrosoft.com")
    await admin.hold(CARTS)
    errors = Errors()
    watched = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn", "sandbox")]
    for logger in watched:
        logger.addHandler(errors)
    try:
        # A whole request, then the connection closed before any answer (the process died).
        line = {"id": 0, "catalogItemId": BUSINESS_BASIC, "quantity": 1}
        body = json.dumps({"lineItems": [line]}).encode()
        where = urlsplit(sandbox.base_url)
        reader, writer = await asyncio.open_connection(where.hostname, where.port)
        writer.write(
            (
                f"POST /v1/customers/{customer_id}/carts HTTP/1.1\r\n"
                f"Host: {where.netloc}\r\nAuthorization: Bearer {bearer}\r\n"
                "Content-Type: application/json\r\nMS-RequestId: held-then-gone\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        await writer.drain()

        async def arrived() -> bool:
            return (await admin.held()).get(CARTS, 0) == 1

        for _ in range(100):
            if await arrived():
                break
            await asyncio.sleep(0.05)
        assert await arrived(), await admin.held()
        writer.close()
        await writer.wait_closed()
        del reader
        await asyncio.sleep(0.2)  # (the server notices the closed connection)
        await admin.release_held()
        await asyncio.sleep(0.5)  # (the held call goes on, finds its caller gone)
    finally:
        for logger in watched:
            logger.removeHandler(errors)
    assert [r.getMessage() for r in errors.records] == []
    # No cart was made for it (the sandbox's state, white-box: carts are not in its snapshot).
    assert list(sandbox.sandbox.state.carts) == []
