"""`csp-orders dev` closed to other local users, and stopped whole.

Run as an operator runs it (a subprocess, real ports on 127.0.0.1): its state directory is 0700
and its files 0600, the Temporal server's database included; no command line in the process
tree carries the codec token; the Web UI is not handed the operators' bearer token; SIGTERM (or
SIGINT) sent to the `csp-orders dev` process alone stops every process of its tree.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sandbox.background_server import free_port

VENV_BIN = Path(sys.executable).parent


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    state: Path
    log: Path
    ports: dict[str, int]


def clean_env() -> dict[str, str]:
    """A fresh terminal: none of the test session's engine settings or keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CSP_", "TEMPORAL_", "OTEL_"))}
    return {**env, "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"}


@contextlib.contextmanager
def dev_stack_process(tmp_path: Path, state: Path) -> Iterator[RunningStack]:
    ports = {
        name: free_port() for name in ("port", "ui-port", "sandbox-port", "codec-port", "api-port")
    }
    command = [str(VENV_BIN / "csp-orders"), "dev", "--state-dir", str(state)]
    for name, port in ports.items():
        command += [f"--{name}", str(port)]
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        # A session of its own, so that whatever a failed test leaves can be cleaned up.
        process = subprocess.Popen(
            command, env=clean_env(), stdout=out, stderr=out, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops everything" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.1)
        yield RunningStack(process, state, log, ports)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


# ------------------------------------------------------------ /proc


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> dict[int, str]:
    """Every live descendant of `root`: pid -> start time (to tell a reused pid apart)."""
    parents: dict[int, int] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            parents[int(entry.name)] = int(fields[1])
            started[int(entry.name)] = fields[19]
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = started[pid]
                frontier.append(pid)
    return found


def alive(pid: int, started: str) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[19] == started and fields[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:  # gone meanwhile
        return ""


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def stored_secrets(state: Path) -> dict[str, str]:
    rows = (row.split("=", 1) for row in (state / "codec-keys.env").read_text().split())
    return {name: value.strip("'") for name, value in rows}


# ------------------------------------------------------------ the promises


def test_the_state_directory_and_the_codec_token_stay_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # A state directory from before: open to all, a log readable by all.
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    (state / "temporal.log").write_text("an earlier run\n")
    (state / "temporal.log").chmod(0o644)
    with dev_stack_process(tmp_path, state) as stack:
        sandbox = f"http://127.0.0.1:{stack.ports['sandbox-port']}"
        moved = httpx.post(f"{sandbox}/_sandbox/clock/advance", json={"seconds": 1}, timeout=10)
        assert moved.status_code == 200  # the sandbox writes its state file
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        files = {path.name: stat.S_IMODE(path.stat().st_mode) for path in state.iterdir()}
        assert {"temporal.db", "temporal.log", "codec-keys.env", "sandbox.json"} <= set(files)
        assert any(name.startswith("temporal.db-") for name in files), files  # WAL files
        assert files == dict.fromkeys(files, 0o600)

        token = stored_secrets(state)["CSP_CODEC_SERVER_TOKEN"]
        keys = stored_secrets(state)["CSP_CODEC_KEYS"]
        tree = descendants(stack.process.pid)
        lines = [cmdline(stack.process.pid)] + [cmdline(pid) for pid in tree]
        assert any("start-dev" in line for line in lines), lines
        ui_settings = httpx.get(
            f"http://127.0.0.1:{stack.ports['ui-port']}/api/v1/settings", timeout=10
        ).json()
        endpoint = ui_settings["Codec"]["Endpoint"]
        ui_token = endpoint.rsplit("/", 1)[1]
        for line in lines:
            assert token not in line and ui_token not in line and keys not in line

        # The UI decodes through its own capability, not the operators' bearer token.
        assert token not in endpoint
        decoded = httpx.post(f"{endpoint}/decode", json={"payloads": []}, timeout=10)
        assert decoded.status_code == 200
        codec = f"http://127.0.0.1:{stack.ports['codec-port']}"
        as_bearer = {"Authorization": f"Bearer {ui_token}"}
        assert (
            httpx.post(f"{codec}/decode", json={"payloads": []}, headers=as_bearer).status_code
            == 401
        )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_dev_process_stops_its_whole_tree(
    tmp_path: Path, signum: signal.Signals
) -> None:
    with dev_stack_process(tmp_path, tmp_path / "state") as stack:
        tree = descendants(stack.process.pid)
        assert any("start-dev" in cmdline(pid) for pid in tree), "no Temporal server child"
        assert all(listening(port) for port in stack.ports.values())

        stack.process.send_signal(signum)  # to that process only, as `kill` or systemd does
        try:
            code = stack.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running 60 s after {signum.name}: "
                + stack.log.read_text(errors="replace")[-3000:]
            ) from None
        survivors = {pid: cmdline(pid) for pid, started in tree.items() if alive(pid, started)}
        assert survivors == {}
        assert code == 0, stack.log.read_text(errors="replace")[-3000:]
        assert [name for name, port in stack.ports.items() if listening(port)] == []
