"""An ASGI application served by uvicorn on a loopback port in a daemon thread: the sandbox
(`sandbox.server.SandboxServer`) inside `csp-orders dev` and in tests.

The sandbox uses nothing of the product (the product's dev tooling may use the sandbox, never
the other way round), so this helper lives here. The dev tooling's copy of it
(`devtools.background_server`, formerly `workers.background_server`) should import it from here
instead, so that a process keeps one record of the ports `free_port` handed out."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, for a server that may have to listen on it again after a restart.

    Taken below the kernel's ephemeral range: the kernel hands ports of that range to outgoing
    connections, so a server restarted on such a port can find it taken, by a client that
    reconnects to it meanwhile (even connected to itself). A port is handed out once per
    process, so servers started together never get the same one."""
    high = _ephemeral_range_start()
    low = max(1024, high - 12_000)
    for _ in range(50 if low < high else 0):
        port = _RANDOM.randrange(low, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind((host, port))
            _HANDED_OUT.add(port)
            return port
    with socket.socket() as s:
        s.bind((host, 0))
        port = int(s.getsockname()[1])
    _HANDED_OUT.add(port)
    return port


_RANDOM = random.SystemRandom()  # not the global generator, which tests may seed
_HANDED_OUT: set[int] = set()


def _ephemeral_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class BackgroundServer:
    """with BackgroundServer(app, name="codec server") as server: server.base_url"""

    def __init__(self, app: Any, *, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.name = name
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            log_level="warning",
            log_config=None,  # uvicorn's records go through the process's logging set-up
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} did not start on {self.base_url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
