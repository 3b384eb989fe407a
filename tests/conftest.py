"""Shared fixtures: the Partner Center sandbox on a real loopback port, and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from clients.partner_center import PartnerCenterClient
from sandbox.admin_client import SandboxAdmin
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from workers.logs import configure_logging
from workers.settings import sandbox_client_config

SandboxFactory = Callable[..., SandboxServer]


def pytest_configure(config: pytest.Config) -> None:
    configure_logging(json=True, level="INFO")


@pytest.fixture
def make_sandbox() -> Iterator[SandboxFactory]:
    """Start sandboxes with given settings; all are stopped at the end of the test."""
    started: list[SandboxServer] = []

    def start(**settings: Any) -> SandboxServer:
        server = SandboxServer(SandboxSettings(**settings)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox: SandboxFactory) -> SandboxServer:
    return make_sandbox(provisioning_delay_seconds=3600)


client_config = sandbox_client_config


@pytest.fixture
async def pc(sandbox: SandboxServer) -> AsyncIterator[PartnerCenterClient]:
    async with PartnerCenterClient.from_config(client_config(sandbox)) as client:
        yield client


@pytest.fixture
async def pc_app_only(sandbox: SandboxServer) -> AsyncIterator[PartnerCenterClient]:
    async with PartnerCenterClient.from_config(client_config(sandbox, app_user=False)) as client:
        yield client


@pytest.fixture
async def admin(sandbox: SandboxServer) -> AsyncIterator[SandboxAdmin]:
    client = SandboxAdmin(sandbox.base_url)
    yield client
    await client.aclose()
