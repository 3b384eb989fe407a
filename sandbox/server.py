"""Serving the sandbox: in the foreground (`csp-orders sandbox`) or in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from sandbox.app import create_app
from sandbox.core import Sandbox, SandboxSettings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(settings: SandboxSettings, host: str = "127.0.0.1", port: int = 8088) -> None:
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)


class SandboxServer:
    """The sandbox on a real loopback port, served by uvicorn in a daemon thread.

    with SandboxServer() as server:
        server.base_url   # http://127.0.0.1:<port>
        server.sandbox    # the state, for white-box checks
    """

    def __init__(
        self, settings: SandboxSettings | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.sandbox = Sandbox(settings)
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(
            create_app(sandbox=self.sandbox),
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sandbox", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def settings(self) -> SandboxSettings:
        return self.sandbox.settings

    def start(self) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start on {self.base_url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
