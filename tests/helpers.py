"""What the tests share besides fixtures (those are in the conftest files, which nothing
imports): waiting for a condition, the engine's test set-up, reading payloads and processes.
Sample orders and offers: devtools/samples.py."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from clients.partner_center import PartnerCenterClient
from clients.payloads import data_converter
from clients.storefront import Storefront
from devtools.sandbox_settings import sandbox_client_config, sandbox_worker_env
from ordering.config import EngineConfig, Waits, load_config
from ordering.status import WaitingFor
from sandbox.server import SandboxServer
from workers.worker import build_worker

T = TypeVar("T")
SandboxFactory = Callable[..., SandboxServer]  # the `make_sandbox` fixture (tests/conftest.py)

TASK_QUEUE = "csp-orders-test"  # the session's worker (tests/engine/conftest.py)
UI_WAIT_MS = 30_000  # the Web UI polls and renders asynchronously
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_INSTALL = (
    "sudo apt-get install chromium chromium-driver  (Debian's Chromium; Playwright drives it and "
    "downloads nothing; .ci/run installs it on CI)"
)


async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 30.0,
    every: float = 0.1,
    what: str | Callable[[], str] = "the condition",
) -> T:
    """`await check()` every `every` seconds until it answers something true, and return that
    answer; after `timeout` seconds, fail naming `what` (a text, or a function that says what
    was seen). An exception from `check` (an assertion that something must not happen while
    waiting) fails at once."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await check()
        if answer:
            return answer
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"not within {timeout:g} s: {said}")
        await asyncio.sleep(every)


async def wait_for(shop: Storefront, order_id: str, what: WaitingFor) -> None:
    """Until the order waits for `what` (at most a minute; it must not end first)."""

    async def waiting() -> bool:
        status = await shop.status(order_id)
        assert not status.phase.final, status
        return status.waiting is not None and status.waiting.what is what

    await eventually(waiting, timeout=60, what=f"order {order_id} waiting for {what}")


def engine_config_for_tests() -> EngineConfig:
    """The built-in configuration, polling Partner Center often (the sandbox is quick)."""
    waits = Waits(
        provisioning_poll_every=timedelta(milliseconds=200),
        relationship_poll_every=timedelta(seconds=1),
        vetting_poll_every=timedelta(seconds=1),
    )
    return load_config().model_copy(update={"waits": waits})


async def connect_client(temporal: WorkflowEnvironment, **options: Any) -> Client:
    """A client of its own for the test server (for a runtime or interceptors of its own),
    with the session's payload keys."""
    return await Client.connect(
        temporal.client.service_client.config.target_host,
        data_converter=data_converter(),
        **options,
    )


@contextlib.asynccontextmanager
async def engine_worker(
    client: Client,
    sandbox: SandboxServer,
    *,
    task_queue: str,
    config: EngineConfig | None = None,
) -> AsyncIterator[Storefront]:
    """A worker on `task_queue` talking to `sandbox`, for as long as the block runs; yields a
    storefront that places orders on that queue."""
    async with (
        PartnerCenterClient.from_config(sandbox_client_config(sandbox)) as pc,
        build_worker(
            client,
            pc,
            config or engine_config_for_tests(),
            task_queue=task_queue,
            webhook_endpoints={},  # the tests' storefronts have no webhook unless they say so
        ),
    ):
        yield Storefront(client, task_queue=task_queue)


def worker_env(temporal_address: str, sandbox: SandboxServer, **extra: str) -> dict[str, str]:
    """The environment of a `csp-orders worker` subprocess for the test server and `sandbox`:
    this process's (payload keys included), the Temporal address and the sandbox's
    Partner Center settings (the worker has no defaults). Temporal's client configuration of
    the developer's shell (TEMPORAL_API_KEY, TEMPORAL_PROFILE, ...) is left out: the worker
    talks to the test server, plainly."""
    return {
        **without(os.environ, "TEMPORAL_", "CSP_TEMPORAL_"),
        "TEMPORAL_ADDRESS": temporal_address,
        **sandbox_worker_env(sandbox.base_url, sandbox.settings),
        **extra,
    }


def without(environment: Mapping[str, str], *prefixes: str) -> dict[str, str]:
    """`environment` without the variables whose names start with one of `prefixes`."""
    return {k: v for k, v in environment.items() if not k.startswith(prefixes)}


def csp_orders() -> str:
    """The installed `csp-orders` entry point of this virtual environment."""
    return str(Path(sys.executable).with_name("csp-orders"))


def activity_type(event: HistoryEvent) -> str | None:
    """The activity an event schedules (a regular activity) or records (a local activity's
    marker); None for other events."""
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return str(event.activity_task_scheduled_event_attributes.activity_type.name)
    marker = event.marker_recorded_event_attributes
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    if marker.marker_name != "core_local_activity":
        return None
    [data] = marker.details["data"].payloads
    kind: str = json.loads(data.data)["activity_type"]
    return kind


def payload_data(history_json: str) -> bytes:
    """Every payload's data in a `temporal workflow show --output json` history, decoded."""
    found: list[bytes] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "metadata" in node and isinstance(node.get("data"), str):
                found.append(base64.b64decode(node["data"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    assert found, "no payloads in the history"
    return b"\n".join(found)


async def app_only_token(http: httpx.AsyncClient, sandbox: SandboxServer) -> str:
    """An app-only Partner Center token from the sandbox's Entra ID (`http` on its base URL),
    for tests that speak Partner Center's HTTP directly."""
    s = sandbox.settings
    token = await http.post(
        f"/{s.partner_tenant_id}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": s.client_id,
            "client_secret": s.client_secret,
            "resource": "https://api.partnercenter.microsoft.com",
        },
    )
    token.raise_for_status()
    access: str = token.json()["access_token"]
    return access
