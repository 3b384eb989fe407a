"""The storefront API against its own OpenAPI document, as schemathesis sees it: a few hundred
generated requests (valid and invalid) over real HTTP on loopback, in front of the real Temporal
dev server, a worker and a Partner Center sandbox of their own. No answer is a 5xx, and every
answer (status, content type, headers, body) is one the document declares.

The run is deterministic (a fixed seed) and lasts well under two minutes. The storefront's key
has a high rate limit, so the run exercises the routes rather than the limiter (a 429 would
conform all the same: it is documented on every authenticated route)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from sandbox.background_server import BackgroundServer
from sandbox.server import SandboxServer
from tests.helpers import SandboxFactory, engine_worker
from workers.api.server import api_app
from workers.storefronts import add_api_key

SEED = 20261123
MAX_EXAMPLES = 25  # per operation and phase: a few hundred requests over the 14 operations
A_FEW_HUNDRED = 200  # requests the API must have been sent (counted as they arrive)
RUN_TIMEOUT_SECONDS = 110
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
)


@pytest.fixture(scope="module")
def fuzz_queue() -> str:
    return f"csp-orders-fuzz-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def fuzz_worker(
    temporal: WorkflowEnvironment, make_sandbox: SandboxFactory, fuzz_queue: str
) -> AsyncIterator[SandboxServer]:
    """A worker of its own, on its own task queue and sandbox: the orders the run generates
    (random customers, random domains) touch nothing the other tests look at."""
    sandbox = make_sandbox(provisioning_delay_seconds=0.3)
    async with engine_worker(temporal.client, sandbox, task_queue=fuzz_queue):
        yield sandbox


class Counted:
    """An ASGI app that counts the HTTP requests it is sent (but those for its document)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] != "/openapi.json":
            self.requests += 1
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class Api:
    base_url: str
    key: str = field(repr=False)
    app: Counted = field(repr=False)


@pytest.fixture
def fuzz_api(
    temporal: WorkflowEnvironment, fuzz_worker: SandboxServer, fuzz_queue: str, tmp_path: Path
) -> Iterator[Api]:
    storefronts = tmp_path / "storefronts.json"
    key, _ = add_api_key(storefronts, "shop-fuzz", "f1")
    data = json.loads(storefronts.read_text())
    data["storefronts"]["shop-fuzz"]["rate_limit_per_minute"] = 1_000_000
    storefronts.write_text(json.dumps(data))
    address = temporal.client.service_client.config.target_host
    app = Counted(api_app(address, fuzz_queue, storefronts_file=storefronts))
    with BackgroundServer(app, name="storefront API (schemathesis)") as server:
        yield Api(server.base_url, key, app)


def schemathesis() -> str:
    return str(Path(sys.executable).with_name("schemathesis"))


async def test_every_answer_conforms_to_the_openapi_document_and_none_is_a_5xx(
    fuzz_api: Api, tmp_path: Path
) -> None:
    base_url, key = fuzz_api.base_url, fuzz_api.key
    report = tmp_path / "report"
    command = [
        schemathesis(),
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--phases",
        "examples,coverage,fuzzing",
        # (one worker: Hypothesis describes strategies by parsing source with `ast`, which
        # is not thread-safe on Python 3.11 and failed the coverage phase with several)
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(report),
    ]
    # (the worker runs on this test's event loop: the run must not block it)
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    output = bytearray()

    async def read() -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            output.extend(chunk)

    reader = asyncio.create_task(read())
    try:
        await asyncio.wait_for(process.wait(), RUN_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
    await reader
    text = output.decode("utf-8", "replace").replace(key, "<API key>")
    print(text)
    assert process.returncode is not None and process.returncode >= 0, (
        f"schemathesis did not finish within {RUN_TIMEOUT_SECONDS} s:\n{text}"
    )
    assert process.returncode == 0, f"schemathesis found failures:\n{text}"
    print(f"requests the API was sent: {fuzz_api.app.requests}")
    assert fuzz_api.app.requests >= A_FEW_HUNDRED, (
        f"the API was sent {fuzz_api.app.requests} requests, not a few hundred:\n{text}"
    )
