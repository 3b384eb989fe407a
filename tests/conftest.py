"""Shared fixtures: the Partner Center sandbox on a real loopback port, and clients for it; the
dev stack with its Web UI, and Chromium, for the browser tests. (Nothing imports a conftest:
what tests share besides fixtures is in tests/helpers.py and devtools/samples.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from clients.partner_center import PartnerCenterClient
from devtools.sandbox_settings import sandbox_client_config
from sandbox.admin_client import SandboxAdmin
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from tests.helpers import CHROMIUM, CHROMIUM_INSTALL, SandboxFactory
from workers.logs import configure_logging

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from devtools.dev import DevStack

# As root, in a closed network: no sandbox, no background calls to Google's hosts.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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


@pytest.fixture
async def pc(sandbox: SandboxServer) -> AsyncIterator[PartnerCenterClient]:
    async with PartnerCenterClient.from_config(sandbox_client_config(sandbox)) as client:
        yield client


@pytest.fixture
async def pc_app_only(sandbox: SandboxServer) -> AsyncIterator[PartnerCenterClient]:
    config = sandbox_client_config(sandbox, app_user=False)
    async with PartnerCenterClient.from_config(config) as client:
        yield client


@pytest.fixture
async def admin(sandbox: SandboxServer) -> AsyncIterator[SandboxAdmin]:
    client = SandboxAdmin(sandbox.base_url)
    yield client
    await client.aclose()


# ------------------------------------------------------------------ the browser tests


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DevStack]:
    """The stack `csp-orders dev` runs, with its Web UI. It makes its own secrets, as on an
    operator's machine; the test session's key ring comes back afterwards."""
    from clients.payloads import ACTIVE_VARIABLE, KEYS_VARIABLE
    from devtools.dev import dev_stack
    from workers.codec_server import TOKEN_VARIABLE

    for name in (KEYS_VARIABLE, ACTIVE_VARIABLE, TOKEN_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    async with dev_stack(state_dir=tmp_path / "dev") as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's headless Chromium, driven by Playwright. Missing, it fails the test, on CI and
    on a developer's machine alike, saying how to install it: nothing installs it behind the
    user's back."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing, which the Web UI tests drive: {CHROMIUM_INSTALL}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
        )
        yield launched
        await launched.close()
