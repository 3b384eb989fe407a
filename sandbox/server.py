"""Serving the sandbox: in the foreground (`csp-orders sandbox`) or in a background thread."""

from __future__ import annotations

import sys

import uvicorn

from sandbox.admin import PREFIX, admin_host_names, is_loopback
from sandbox.app import create_app
from sandbox.background_server import BackgroundServer
from sandbox.core import Sandbox, SandboxSettings

__all__ = ["SandboxServer", "exposure_warning", "serve"]


def exposure_warning(host: str) -> str | None:
    """What to tell the operator who serves the sandbox on `host`, when that is not loopback."""
    if is_loopback(host):
        return None
    return (
        f"WARNING: the sandbox listens on {host}, beyond this machine's loopback. Its admin "
        f"paths ({PREFIX}/...) have no authentication: anyone who can reach this address can "
        "read everything the sandbox holds and change it (seed, reset, move its clock, inject "
        "faults). Serve it on 127.0.0.1 unless that is what you want."
    )


def serve(settings: SandboxSettings, host: str = "127.0.0.1", port: int = 8088) -> None:
    warning = exposure_warning(host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    uvicorn.run(
        create_app(settings, admin_hosts=admin_host_names(host)),
        host=host,
        port=port,
        log_level="warning",
        log_config=None,
        access_log=False,
    )


class SandboxServer(BackgroundServer):
    """The sandbox on a real loopback port, served by uvicorn in a daemon thread.

    with SandboxServer() as server:
        server.base_url   # http://127.0.0.1:<port>
        server.sandbox    # the state, for white-box checks
    """

    def __init__(
        self, settings: SandboxSettings | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.sandbox = Sandbox(settings)
        app = create_app(sandbox=self.sandbox, admin_hosts=admin_host_names(host))
        super().__init__(app, name="sandbox", host=host, port=port)

    @property
    def settings(self) -> SandboxSettings:
        return self.sandbox.settings
