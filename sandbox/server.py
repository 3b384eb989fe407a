"""Serving the sandbox: in the foreground (`csp-orders sandbox`) or in a background thread."""

from __future__ import annotations

import uvicorn

from sandbox.app import create_app
from sandbox.core import Sandbox, SandboxSettings
from workers.background_server import BackgroundServer

__all__ = ["SandboxServer", "serve"]


def serve(settings: SandboxSettings, host: str = "127.0.0.1", port: int = 8088) -> None:
    uvicorn.run(
        create_app(settings),
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
        super().__init__(create_app(sandbox=self.sandbox), name="sandbox", host=host, port=port)

    @property
    def settings(self) -> SandboxSettings:
        return self.sandbox.settings
