"""The `csp-orders` command line against the test engine."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.helpers import TASK_QUEUE

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "new-customer.json"


def _env(temporal: WorkflowEnvironment) -> dict[str, str]:
    return {
        **os.environ,
        "CSP_TASK_QUEUE": TASK_QUEUE,
        "CSP_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
    }


def cli(temporal: WorkflowEnvironment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(temporal),
    )


async def acli(temporal: WorkflowEnvironment, *args: str) -> tuple[int, str, str]:
    """The command line, run without blocking the event loop the test's worker runs on."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.cli",
        *args,
        env=_env(temporal),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_place_an_order_file_and_wait(
    temporal: WorkflowEnvironment, worker: None, tmp_path: Path, unique: str
) -> None:
    order = json.loads(EXAMPLE.read_text())
    order["order_id"] = f"cli-{unique}"
    order["customer"]["domain_prefix"] = f"cli{unique}"
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order))
    code, out, err = await acli(temporal, "order", "place", str(path), "--wait")
    assert code == 0, err
    assert f"placed order cli-{unique}" in out
    outcome = json.loads(out[out.index("{") :])
    assert outcome["phase"] == "completed"
    code, out, err = await acli(temporal, "order", "status", f"cli-{unique}")
    assert json.loads(out)["phase"] == "completed"


def test_an_invalid_order_file_names_the_fields(
    temporal: WorkflowEnvironment, tmp_path: Path
) -> None:
    order = json.loads(EXAMPLE.read_text())
    order["lines"][0]["quantity"] = -1
    del order["customer"]["email"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(order))
    result = cli(temporal, "order", "place", str(path))
    assert result.returncode == 2
    assert "customer.email: is required" in result.stderr
    assert "lines[0].quantity" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_of_an_unknown_order(temporal: WorkflowEnvironment) -> None:
    result = cli(temporal, "order", "status", "no-such-order")
    assert result.returncode == 1
    assert "There is no order no-such-order" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_engine_is_a_sentence_not_a_stack_trace(
    temporal: WorkflowEnvironment,
) -> None:
    result = cli(temporal, "order", "status", "shop-1", "--address", "127.0.0.1:1")
    assert result.returncode == 1
    assert "cannot be reached" in result.stderr and "--address" in result.stderr
    assert "Traceback" not in result.stderr
