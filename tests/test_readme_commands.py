"""Every command line README.md documents, run as written (only ports, the Temporal address and
the `<id>` placeholders substituted), in a directory laid out like the repository (`.venv`,
`examples`), against the stack `csp-orders dev` starts. Each line is looked up in README.md, so
a changed README fails here until its test changes too.

README lines covered (section, command):
  Operators:  .venv/bin/csp-orders dev     (--port, --ui-port, --sandbox-port, --codec-port,
                                            --api-port)
              set -a; . .state/dev/codec-keys.env; set +a
              .venv/bin/csp-orders order place examples/russian-customer-tax-id-later.json
              .venv/bin/csp-orders order status shop-1005
              .venv/bin/csp-orders order tax-id shop-1005 7707083893
              .venv/bin/csp-orders order cancel shop-1005   (refused: the purchase has started)
              .venv/bin/csp-orders licences add --request-id r-1 --customer <id>
                  --subscription <id> --quantity 5
              .venv/bin/csp-orders worker                   (TEMPORAL_ADDRESS, CSP_PC_BASE_URL,
                                                             CSP_PC_* credentials of the sandbox,
                                                             --metrics-host on loopback)
              .venv/bin/csp-orders codec-server             (--port)
  Finding an order:    temporal workflow list --query ...  (CspPhase = "waiting_for_tax_id")
  After the purchase:  temporal schedule trigger --schedule-id reconciliation-csp-orders
  Decoding payloads:   export TEMPORAL_CODEC_ENDPOINT=http://127.0.0.1:8089
                           TEMPORAL_CODEC_AUTH="Bearer $CSP_CODEC_SERVER_TOKEN"
                       temporal workflow show --workflow-id order-shop-1005 --output json
                       (with the codec variables, and without the token)
                       CSP_CODEC_KEYS=... CSP_CODEC_SERVER_TOKEN=... csp-orders codec-server
                       --port 8089 --ui-origin https://temporal.example.com
  Signalling a tax ID: .venv/bin/temporal workflow signal --workflow-id order-shop-1005 \\
                           --name provide_tax_id --input '{"tax_id": "7707083893"}'
                       (with the codec variables: the history holds it encrypted)
                       temporal workflow update execute ... --name provide_tax_id
                       (the elided options filled in; an invalid tax ID, refused with the reason
                       through the codec, `ValueError (message encrypted)` without it)
  Storefronts over HTTP: set -a; . .state/dev/storefront-api.env; set +a and the five `curl`
                       lines (port substituted), against `csp-orders dev`'s API;
                       csp-orders api-key new / revoke --file storefronts.json ...;
                       CSP_STOREFRONTS_FILE=storefronts.json .venv/bin/csp-orders api --port 8090
  Traces, metrics:     csp-orders worker --metrics-port 9464
  The sandbox:         .venv/bin/csp-orders sandbox --port 8088 [--state sandbox.json]
                       [--provisioning-delay 1] [--vetting-delay SECONDS]
                       [--faults '{"throttle_rate": 0.05}']   (every option given)
              (with --trace-exporter console and --metrics-port, both documented beside it)
Covered elsewhere: `csp-orders worker --trace-exporter otlp` (tests/engine/test_otlp_export.py);
"After the purchase"'s `curl` lines (tests/engine/test_api_lifecycle.py) and its `csp-orders
order reduce / cancel-subscription / payment-failed` lines (tests/engine/test_cli_lifecycle.py);
the worker's TEMPORAL_TLS_* / TEMPORAL_API_KEY / profile (tests/engine/test_temporal_tls.py) and
TEMPORAL_DEPLOYMENT_NAME / TEMPORAL_WORKER_BUILD_ID (tests/engine/test_worker_versioning.py).
Run elsewhere: `make demo` (tests/test_demo.py). Not run here: `make test` and `make test-unit`
(.ci/run runs both, as written; a test below checks that it still does: `make test` is this
suite, and `make test-unit`, part of it, takes over a minute), `csp-orders chaos ...`
(tests/test_chaos.py runs the harness), `python -m tests.engine.record_histories` and
`CSP_UI_SCREENSHOTS=docs/ui` (they rewrite tracked files: the replay histories and the UI
screenshots). The worker's refusal without `CSP_PC_*` credentials: tests/test_cli_commands.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devtools.sandbox_settings import sandbox_worker_env
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import free_port
from tests.helpers import eventually, payload_data

ROOT = Path(__file__).parent.parent
README = " ".join((ROOT / "README.md").read_text().split())
VENV_BIN = Path(sys.executable).parent
SECRETS = "set -a; . .state/dev/codec-keys.env; set +a"


def documented(command: str) -> str:
    """`command` exactly as README.md shows it (whitespace aside)."""
    assert " ".join(command.split()) in README, f"README.md no longer documents: {command}"
    return command


def clean_env(**extra: str) -> dict[str, str]:
    """An operator's fresh terminal: none of the test session's engine settings or keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CSP_", "TEMPORAL_", "OTEL_"))}
    return {**env, "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


@dataclass
class Operator:
    """A terminal in a directory laid out like the repository, the dev stack's ports known."""

    cwd: Path
    temporal: str
    sandbox: str
    codec: str
    api: str = ""

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(
            CSP_TEMPORAL_ADDRESS=self.temporal, TEMPORAL_ADDRESS=self.temporal, **extra
        )

    async def run(self, line: str, **extra: str) -> tuple[int, str, str]:
        """One command line in bash, after the README's line that loads the dev secrets."""
        script = f"{documented(SECRETS)}\n{line}"
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            script,
            cwd=self.cwd,
            env=self.env(**extra),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=180)
        return int(process.returncode or 0), out.decode(), err.decode()

    async def status(self) -> dict[str, object]:
        code, out, err = await self.run(documented(".venv/bin/csp-orders order status shop-1005"))
        assert code == 0, err
        status: dict[str, object] = json.loads(out)
        return status

    async def until_phase(self, phase: str) -> dict[str, object]:
        async def reached() -> dict[str, object] | None:
            status = await self.status()
            assert status["phase"] not in {"refused", "cancelled", "failed"}, status
            return status if status["phase"] == phase else None

        return await eventually(reached, timeout=150, every=0.5, what=f"shop-1005 {phase}")


def repository_layout(tmp_path: Path) -> Path:
    """A working directory like the repository's: `.venv` and `examples` (state goes to
    `.state/` here, not into the repository)."""
    (tmp_path / ".venv").symlink_to(VENV_BIN.parent)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    return tmp_path


@contextlib.contextmanager
def started(
    command: list[str], cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running command, its output in `log`; Ctrl-C (SIGINT) at the end, as an operator
    stops it, then it must have exited cleanly."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # its own process group: it and its children
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def until_logged(process: subprocess.Popen[bytes], log: Path, text: str) -> None:
    async def logged() -> bool:
        if text in log.read_text(errors="replace"):
            return True
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        return False

    await eventually(
        logged,
        timeout=120,
        what=lambda: f"{text!r} logged: {log.read_text(errors='replace')[-3000:]}",
    )


async def until_answering(url: str) -> None:
    async with httpx.AsyncClient() as client:

        async def answering() -> bool:
            with contextlib.suppress(httpx.TransportError):
                await client.get(url)
                return True
            return False

        await eventually(answering, timeout=60, what=f"{url} answering")


@pytest.fixture
async def operator(tmp_path: Path) -> AsyncIterator[Operator]:
    """`.venv/bin/csp-orders dev`, ports substituted, running until the test ends (Ctrl-C)."""
    cwd = repository_layout(tmp_path)
    names = ("port", "ui-port", "sandbox-port", "codec-port", "api-port")
    ports = {name: free_port() for name in names}
    command = shlex.split(documented(".venv/bin/csp-orders dev"))
    for name, port in ports.items():
        command += [f"--{name}", str(port)]
    log = tmp_path / "dev.log"
    with started(command, cwd, clean_env(), log) as dev:
        await until_logged(dev, log, "Ctrl-C stops everything")
        yield Operator(
            cwd=cwd,
            temporal=f"127.0.0.1:{ports['port']}",
            sandbox=f"http://127.0.0.1:{ports['sandbox-port']}",
            codec=f"http://127.0.0.1:{ports['codec-port']}",
            api=f"http://127.0.0.1:{ports['api-port']}",
        )
    assert dev.returncode == 0, log.read_text(errors="replace")[-3000:]


async def test_the_operators_command_lines_on_the_dev_stack(operator: Operator) -> None:
    admin = SandboxAdmin(operator.sandbox)
    try:
        await walk_an_order_through_the_documented_commands(operator, admin)
    finally:
        await admin.aclose()

    # After the purchase: the scheduled reconciliation, triggered at once as the README says.
    trigger = documented("temporal schedule trigger --schedule-id reconciliation-csp-orders")
    code, out, err = await operator.run(trigger)
    assert code == 0, out + err

    async def reconciled() -> bool:
        code, out, err = await operator.run(
            "temporal workflow list --query \"WorkflowType = 'ReconciliationWorkflow'\""
        )
        assert code == 0, err
        return "reconciliation-csp-orders" in out

    await eventually(reconciled, timeout=30, every=0.5, what="the reconciliation run")


async def walk_an_order_through_the_documented_commands(
    operator: Operator, admin: SandboxAdmin
) -> None:
    run = operator.run
    # Microsoft takes its time provisioning: the order stays under way until the clock moves.
    await admin.set_settings(provisioning_delay_seconds=86_400)

    code, out, err = await run(
        documented(".venv/bin/csp-orders order place examples/russian-customer-tax-id-later.json")
    )
    assert code == 0, err
    assert out.startswith("placed order shop-1005 (workflow order-shop-1005)")
    waiting = await operator.until_phase("waiting_for_tax_id")
    assert waiting["waiting"]["what"] == "tax_id"  # type: ignore[index]

    # Finding an order: the query the README gives, with the `temporal` CLI.
    assert documented("`temporal workflow list --query ...`")
    assert documented('`CspPhase = "waiting_for_tax_id"`')

    async def listed() -> bool:  # visibility follows the order's search attributes shortly
        code, out, err = await run(
            "temporal workflow list --query 'CspPhase = \"waiting_for_tax_id\"'"
        )
        assert code == 0, err
        return "order-shop-1005" in out

    await eventually(listed, timeout=20, every=0.2, what="order-shop-1005 listed")

    # Decoding payloads: with the codec variables the input reads in the clear; without the
    # token, 401.
    codec = documented(
        "export TEMPORAL_CODEC_ENDPOINT=http://127.0.0.1:8089 "
        'TEMPORAL_CODEC_AUTH="Bearer $CSP_CODEC_SERVER_TOKEN"'
    ).replace("http://127.0.0.1:8089", operator.codec)
    show = documented("temporal workflow show --workflow-id order-shop-1005 --output json")
    code, out, err = await run(f"{codec}\n{show}")
    assert code == 0, err
    assert b"Romashka LLC" in payload_data(out)
    code, out, err = await run(f"export TEMPORAL_CODEC_ENDPOINT={operator.codec}\n{show}")
    assert code != 0, out
    assert "Romashka" not in out

    # Signalling a tax ID, the update from the `temporal` CLI (the README elides its options):
    # an invalid tax ID is refused with the reason, which reads only through the codec; the
    # order keeps waiting.
    assert documented("`temporal workflow update execute ... --name provide_tax_id`")
    update = (
        "temporal workflow update execute --workflow-id order-shop-1005 "
        '--name provide_tax_id --input \'{"tax_id": "7707083890"}\''
    )
    code, out, err = await run(f"{codec}\n{update}")
    assert code != 0 and "check digit" in out + err, out + err
    code, out, err = await run(update)
    assert documented("`ValueError (message encrypted)`")
    assert code != 0 and "ValueError (message encrypted)" in out + err, out + err
    assert "check digit" not in out + err
    assert (await operator.status())["phase"] == "waiting_for_tax_id"

    code, out, err = await run(documented(".venv/bin/csp-orders order tax-id shop-1005 7707083893"))
    assert (code, out.strip()) == (0, "tax ID accepted"), err
    await operator.until_phase("provisioning")

    # While it provisions: the signal, encrypted through the codec server, is delivered (the
    # order notes the customer exists); a cancellation is refused, the purchase having started.
    signal = documented(
        ".venv/bin/temporal workflow signal --workflow-id order-shop-1005 \\\n"
        '    --name provide_tax_id --input \'{"tax_id": "7707083893"}\''
    )
    code, out, err = await run(f"{codec}\n{signal}")
    assert code == 0, out + err
    # The history, read without the codec, holds the signal encrypted; the order notes no
    # unencrypted input.
    code, out, err = await run(show)
    assert code == 0, err
    signalled = [
        e for e in json.loads(out)["events"] if "workflowExecutionSignaledEventAttributes" in e
    ]
    assert signalled and all(
        payload["metadata"]["encoding"] == base64.b64encode(b"binary/encrypted").decode()
        for e in signalled
        for payload in e["workflowExecutionSignaledEventAttributes"]["input"]["payloads"]
    ), signalled
    assert "7707083893" not in out
    assert (await operator.status())["unencrypted_inputs"] == []
    code, out, err = await run(documented(".venv/bin/csp-orders order cancel shop-1005"))
    assert code == 1 and "can no longer be cancelled" in err, out + err
    assert "Traceback" not in err

    await admin.advance_clock(86_400)
    completed = await operator.until_phase("completed")
    lines: list[dict[str, object]] = completed["lines"]  # type: ignore[assignment]
    [bought] = lines
    assert bought["quantity_after"] == 7

    line = documented(
        ".venv/bin/csp-orders licences add --request-id r-1 --customer <id> "
        "--subscription <id> --quantity 5"
    )
    line = line.replace("<id>", str(completed["customer_id"]), 1)
    line = line.replace("<id>", str(bought["subscription_id"]), 1)
    code, out, err = await run(line)
    assert code == 0, err
    assert (json.loads(out)["quantity_before"], json.loads(out)["quantity_after"]) == (7, 12)


API_SECRETS = "set -a; . .state/dev/storefront-api.env; set +a"
CURL_PLACE = (
    'curl -s -X POST http://127.0.0.1:8090/v1/orders -H "Authorization: Bearer $CSP_API_KEY" '
    "-H 'Content-Type: application/json' --data @examples/russian-customer-tax-id-later.json"
)
CURL_STATUS = (
    'curl -s http://127.0.0.1:8090/v1/orders/shop-1005 -H "Authorization: Bearer $CSP_API_KEY"'
)
CURL_TAX_ID = (
    "curl -s -X POST http://127.0.0.1:8090/v1/orders/shop-1005/tax-id "
    "-H \"Authorization: Bearer $CSP_API_KEY\" -H 'Content-Type: application/json' "
    '-d \'{"tax_id": "7707083893"}\''
)
CURL_LIST = (
    "curl -s 'http://127.0.0.1:8090/v1/orders?phase=completed&page_size=20' "
    '-H "Authorization: Bearer $CSP_API_KEY"'
)
CURL_VALIDATE = (
    "curl -s -X POST http://127.0.0.1:8090/v1/orders/validate "
    "-H \"Authorization: Bearer $CSP_API_KEY\" -H 'Content-Type: application/json' "
    "--data @examples/new-customer.json"
)
KEY_NEW = ".venv/bin/csp-orders api-key new --file storefronts.json --storefront contoso-shop"
KEY_REVOKE = (
    ".venv/bin/csp-orders api-key revoke --file storefronts.json --storefront contoso-shop "
    "--key-id <id>"
)
API = "CSP_STOREFRONTS_FILE=storefronts.json .venv/bin/csp-orders api --port 8090"


async def test_the_storefront_api_command_lines_on_the_dev_stack(operator: Operator) -> None:
    """The README's `curl` lines against the dev stack's API, as the dev storefront; then a
    storefront of one's own: a key made, `csp-orders api` serving it, the key revoked."""

    async def curl(line: str) -> dict[str, object]:
        script = f"{documented(API_SECRETS)}\n{documented(line)}".replace(
            "http://127.0.0.1:8090", operator.api
        )
        code, out, err = await operator.run(script)
        assert code == 0, err
        answer: dict[str, object] = json.loads(out)
        return answer

    placed = await curl(CURL_PLACE)
    assert placed["order_id"] == "shop-1005" and placed["phase"] == "received", placed

    async def phase(wanted: str) -> bool:
        status = await curl(CURL_STATUS)
        assert status["phase"] not in {"refused", "cancelled", "failed"}, status
        return status["phase"] == wanted

    await eventually(lambda: phase("waiting_for_tax_id"), timeout=60, what="waiting for tax ID")
    assert await curl(CURL_TAX_ID) == {"accepted": True}
    await eventually(lambda: phase("completed"), timeout=60, what="completed")

    async def listed() -> bool:
        page = await curl(CURL_LIST)
        return "shop-1005" in [o["order_id"] for o in page["orders"]]  # type: ignore[attr-defined]

    await eventually(listed, timeout=20, what="shop-1005 listed as completed")
    report = await curl(CURL_VALIDATE)
    assert report["order_id"] == "shop-1001" and report["valid"] is True, report
    admin = SandboxAdmin(operator.sandbox)
    try:
        snapshot = await admin.snapshot()
    finally:
        await admin.aclose()
    assert "contosoexample.onmicrosoft.com" not in snapshot["takenDomains"], "the dry run wrote"
    assert not [c for c in snapshot["customers"] if c["domain"].startswith("contosoexample")]

    code, key, err = await operator.run(documented(KEY_NEW))
    assert code == 0 and key.startswith("csp_"), err
    key = key.strip()
    key_id = key.removeprefix("csp_").split(".", 1)[0]
    assert key not in (operator.cwd / "storefronts.json").read_text()
    port = free_port()
    secrets = (operator.cwd / ".state/dev/codec-keys.env").read_text().split()
    keys = dict(line.split("=", 1) for line in secrets if "=" in line)
    env = operator.env(**{k: v.strip("'") for k, v in keys.items()})
    command = shlex.split(documented(API).replace("--port 8090", f"--port {port}"))
    env[command[0].split("=", 1)[0]] = command[0].split("=", 1)[1]
    log = operator.cwd / "api.log"
    with started(command[1:], operator.cwd, env, log) as api:
        await until_logged(api, log, "storefront API on")
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            await until_answering(f"{url}/healthz")
            assert (await http.get("/readyz")).status_code == 200
            auth = {"Authorization": f"Bearer {key}"}
            mine = await http.get("/v1/orders", headers=auth)
            assert mine.status_code == 200 and mine.json()["orders"] == [], mine.text
            code, _, err = await operator.run(documented(KEY_REVOKE).replace("<id>", key_id))
            assert code == 0, err

            async def refused() -> bool:
                return (await http.get("/v1/orders", headers=auth)).status_code == 401

            await eventually(refused, timeout=10, what="the revoked key refused")
        assert "shop-1005" not in log.read_text() and key not in log.read_text()
    assert api.returncode == 0, log.read_text()[-3000:]


async def test_the_worker_and_codec_server_command_lines(
    operator: Operator, tmp_path: Path
) -> None:
    # A worker of one's own for the running Temporal (its own task queue, the dev sandbox),
    # with Prometheus metrics and console spans; an order placed through it completes.
    metrics = free_port()
    queue = {"CSP_TASK_QUEUE": "readme-worker"}
    assert documented("`csp-orders worker --metrics-port 9464`")
    assert documented("--trace-exporter console|otlp, --metrics-port 9464")
    assert documented("--metrics-host 0.0.0.0")  # (here loopback: the test reaches nothing else)
    worker_line = documented(".venv/bin/csp-orders worker") + (
        f" --trace-exporter console --metrics-port {metrics} --metrics-host 127.0.0.1"
    )
    log = tmp_path / "worker.log"
    # The dev stack's sandbox, named with its credentials: the worker has no default.
    env = operator.env(**sandbox_worker_env(operator.sandbox), **queue)
    with started(["bash", "-c", f"{SECRETS}; exec {worker_line}"], operator.cwd, env, log) as w:
        await until_logged(w, log, "worker on task queue readme-worker")
        code, out, err = await operator.run(
            ".venv/bin/csp-orders order place examples/new-customer.json --wait", **queue
        )
        assert code == 0, err
        assert json.loads(out[out.index("{") :])["phase"] == "completed"
        async with httpx.AsyncClient() as client:
            scraped = (await client.get(f"http://127.0.0.1:{metrics}/metrics")).text
        assert any(
            row.startswith("csp_orders_orders") and 'phase="completed"' in row
            for row in scraped.splitlines()
        )
    assert w.returncode == 0, log.read_text()[-3000:]
    # Stopped with Ctrl-C, it exported its last spans and logged JSON lines with the order id.
    written = log.read_text()
    assert '"name": "RunActivity:create_cart"' in written
    logged = [json.loads(row) for row in written.splitlines() if row.startswith('{"')]
    assert any(
        row.get("event") == "partner_center.call" and row.get("order_id") == "shop-1001"
        for row in logged
    )

    # The codec server with the dev stack's key ring and token, on a port of its own.
    port = free_port()
    line = documented(".venv/bin/csp-orders codec-server") + f" --port {port}"
    log = tmp_path / "codec.log"
    with started(["bash", "-c", f"{SECRETS}; exec {line}"], operator.cwd, operator.env(), log):
        await until_answering(f"http://127.0.0.1:{port}/decode")
        token = dict(
            (name, value.strip("'"))
            for name, value in (
                row.split("=", 1)
                for row in (operator.cwd / ".state/dev/codec-keys.env").read_text().split()
            )
        )
        async with httpx.AsyncClient() as client:
            body: dict[str, list[object]] = {"payloads": []}
            url = f"http://127.0.0.1:{port}/decode"
            assert (await client.post(url, json=body)).status_code == 401
            headers = {"Authorization": f"Bearer {token['CSP_CODEC_SERVER_TOKEN']}"}
            assert (await client.post(url, json=body, headers=headers)).status_code == 200

    # Elsewhere: the key ring and token given on the command line, a UI origin of one's own.
    elsewhere = documented(
        "CSP_CODEC_KEYS=... CSP_CODEC_SERVER_TOKEN=... csp-orders codec-server --port 8089 "
        "--ui-origin https://temporal.example.com"
    )
    port = free_port()
    elsewhere = (
        elsewhere.replace("CSP_CODEC_KEYS=...", f"CSP_CODEC_KEYS={token['CSP_CODEC_KEYS']}")
        .replace("CSP_CODEC_SERVER_TOKEN=...", "CSP_CODEC_SERVER_TOKEN=operators-token")
        .replace("--port 8089", f"--port {port}")
    )
    log = tmp_path / "elsewhere.log"
    with started(["bash", "-c", elsewhere], operator.cwd, clean_env(), log):
        await until_answering(f"http://127.0.0.1:{port}/decode")
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/decode"
            preflight = await client.options(
                url, headers={"Origin": "https://temporal.example.com"}
            )
            assert preflight.status_code == 204
            assert preflight.headers["access-control-allow-origin"] == (
                "https://temporal.example.com"
            )
            ok = await client.post(
                url, json={"payloads": []}, headers={"Authorization": "Bearer operators-token"}
            )
            assert ok.status_code == 200


async def test_the_sandbox_command_line_with_every_option(tmp_path: Path) -> None:
    line = documented(
        ".venv/bin/csp-orders sandbox --port 8088 [--state sandbox.json] [--provisioning-delay 1] "
        "\\ [--vetting-delay SECONDS] [--faults '{\"throttle_rate\": 0.05}']"
    )
    port = free_port()
    command = (
        line.replace("--port 8088", f"--port {port}")
        .replace("SECONDS", "5")
        .replace("[", "")
        .replace("]", "")
        .replace("\\ ", "")
    )
    cwd = repository_layout(tmp_path)
    log = tmp_path / "sandbox.log"
    with started(["bash", "-c", f"exec {command}"], cwd, clean_env(), log) as sandbox:
        base = f"http://127.0.0.1:{port}"
        await until_answering(f"{base}/_sandbox/health")
        async with httpx.AsyncClient() as client:
            faults = (await client.get(f"{base}/_sandbox/faults")).json()
            assert faults["throttle_rate"] == 0.05
            unauthorised = await client.get(f"{base}/v1/customers")
            assert unauthorised.status_code == 401
        admin = SandboxAdmin(base)
        try:
            await admin.add_customer("Readme", "readme.onmicrosoft.com")
        finally:
            await admin.aclose()
        state = json.loads((cwd / "sandbox.json").read_text())
        assert "readme.onmicrosoft.com" in json.dumps(state)
    assert sandbox.returncode == 0, log.read_text()[-3000:]


def test_ci_runs_the_make_targets_the_readme_documents() -> None:
    """`make test` and `make test-unit` are run by .ci/run, as the README writes them (this
    suite cannot run itself, and `make test-unit` is too slow to run twice here)."""
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "test-unit"):
        assert documented(f"make {target}")
        assert f"\n{target}:" in makefile
        assert any(line.split("#")[0].split() == ["make", target] for line in ci), target
