"""The Partner Center client reads at most so much of an answer: past the limit it stops reading
and raises a clear error that is not retried, whether the body is declared too long, streams
without end, or expands from a small compressed body. Against the sandbox and against a small
loopback server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from clients.partner_center import PartnerCenterClient, PartnerCenterError
from clients.partner_center.client import MAX_RESPONSE_BYTES, PartnerCenterConfig
from devtools.sandbox_settings import sandbox_client_config
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import BackgroundServer
from sandbox.server import SandboxServer

MiB = 2**20


async def test_an_answer_over_the_limit_is_refused_once_not_retried(
    sandbox: SandboxServer, admin: SandboxAdmin
) -> None:
    config = sandbox_client_config(sandbox, retries=3, max_response_bytes=2000)
    async with PartnerCenterClient.from_config(config) as client:
        assert await client.is_domain_available("free.onmicrosoft.com")  # small answers pass
        with pytest.raises(PartnerCenterError) as caught:
            await client.list_products("US")  # the catalog is larger than 2000 bytes
    error = caught.value
    assert not error.retryable and error.status == 200
    assert "2000 bytes" in str(error) and "not retried" in str(error)
    assert (await admin.calls())["GET /v1/products"] == 1


class Misbehaving:
    """A Partner Center (and token endpoint) whose product list misbehaves by country."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.streamed = 0
        self.token_answer = {"access_token": "t", "expires_in": "3600", "token_type": "Bearer"}

    def app(self) -> Starlette:
        async def token(request: Request) -> Response:
            return JSONResponse(self.token_answer)

        async def products(request: Request) -> Response:
            kind = request.query_params["country"]
            self.calls[kind] += 1
            if kind == "XE":  # endless, chunked: no length declared
                return StreamingResponse(self._endless(), media_type="application/json")
            if kind == "XD":  # declared longer than the limit
                return Response(b" " * (MAX_RESPONSE_BYTES + 1), media_type="application/json")
            if kind == "XG":  # 64 MiB of spaces, gzipped to a few dozen kilobytes
                bomb = gzip.compress(b'{"items": []' + b" " * (64 * MiB) + b"}", 9)
                headers = {"Content-Encoding": "gzip"}
                return Response(bomb, media_type="application/json", headers=headers)
            # fine: under the limit, gzipped
            body = json.dumps({"items": [{"id": "P1", "title": "x" * 1000}]}).encode()
            headers = {"Content-Encoding": "gzip"}
            return Response(gzip.compress(body), media_type="application/json", headers=headers)

        return Starlette(
            routes=[
                Route("/{tenant}/oauth2/token", token, methods=["POST"]),
                Route("/v1/products", products),
            ]
        )

    async def _endless(self) -> AsyncIterator[bytes]:
        chunk = b'{"items": [' + b" " * 65_536
        while True:
            self.streamed += len(chunk)
            yield chunk
            await asyncio.sleep(0)


@pytest.fixture
def misbehaving() -> Iterator[tuple[Misbehaving, str]]:
    server = Misbehaving()
    with BackgroundServer(server.app(), name="misbehaving Partner Center") as running:
        yield server, running.base_url


def config_for(base_url: str) -> PartnerCenterConfig:
    return PartnerCenterConfig(
        base_url=base_url,
        authority=base_url,
        tenant="partner",
        client_id="app",
        client_secret=SecretStr("secret"),
        retries=3,
        max_backoff_seconds=0.01,
    )


async def test_an_endless_answer_is_read_only_up_to_the_limit(
    misbehaving: tuple[Misbehaving, str],
) -> None:
    server, base_url = misbehaving
    started = time.monotonic()
    async with PartnerCenterClient.from_config(config_for(base_url)) as client:
        with pytest.raises(PartnerCenterError) as caught:
            await asyncio.wait_for(client.list_products("XE"), timeout=60)
    assert not caught.value.retryable and "8 MiB" in str(caught.value)
    assert server.calls["XE"] == 1
    assert time.monotonic() - started < 60
    await asyncio.sleep(0.5)  # the server notices the closed connection
    # What was sent: the limit and what socket buffers took, not an unbounded stream.
    assert server.streamed < MAX_RESPONSE_BYTES + 16 * MiB


@pytest.mark.parametrize("country", ["XD", "XG"], ids=["declared", "compressed"])
async def test_an_answer_over_the_limit_is_refused(
    misbehaving: tuple[Misbehaving, str], country: str
) -> None:
    server, base_url = misbehaving
    async with PartnerCenterClient.from_config(config_for(base_url)) as client:
        with pytest.raises(PartnerCenterError) as caught:
            await client.list_products(country)
    assert not caught.value.retryable and "8 MiB" in str(caught.value)
    assert server.calls[country] == 1


async def test_an_answer_under_the_limit_reads_as_before(
    misbehaving: tuple[Misbehaving, str],
) -> None:
    _, base_url = misbehaving
    async with PartnerCenterClient.from_config(config_for(base_url)) as client:
        [product] = await client.list_products("US")
    assert product.id == "P1" and product.title == "x" * 1000


async def test_an_oversized_token_answer_is_refused(
    misbehaving: tuple[Misbehaving, str],
) -> None:
    server, base_url = misbehaving
    server.token_answer = {**server.token_answer, "padding": "x" * (2 * MiB)}
    async with PartnerCenterClient.from_config(config_for(base_url)) as client:
        with pytest.raises(PartnerCenterError) as caught:
            await client.list_products("US")
    assert not caught.value.retryable and "token endpoint" in str(caught.value)
    assert server.calls["US"] == 0
