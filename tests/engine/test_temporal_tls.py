"""Temporal behind an mTLS- and API-key-terminating proxy (nginx on loopback, as Temporal Cloud
or a company's ingress would be): a real `csp-orders worker` and the storefront SDK find it by
Temporal's standard client settings (the worker from a `temporal.toml` profile, the SDK from
`TEMPORAL_ADDRESS`, `TEMPORAL_TLS_*` and `TEMPORAL_API_KEY`) and an order completes through it;
`csp-orders api` is ready through it with the same profile. Without a client certificate, with
a client key that is not the certificate's, or with a wrong API key, the CLI, the SDK, the
worker and the API are refused with one line naming the setting, and nothing reaches
Temporal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from clients.contract import order_workflow_id
from clients.storefront import EngineUnreachable, Storefront
from devtools.samples import OFFICE_E3, line, new_customer, order
from devtools.sandbox_settings import sandbox_worker_env
from ordering.status import Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import free_port
from sandbox.server import SandboxServer
from tests.engine.partner_center_state import assert_no_customer_created
from tests.engine.tls_proxy import Proxy, grpc_proxy, make_certificates
from tests.helpers import csp_orders, eventually, without
from workers.storefronts import add_api_key

CONNECTION_VARIABLES = ("TEMPORAL_", "CSP_TEMPORAL_")


@pytest.fixture(scope="module")
def proxy(
    temporal: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    upstream = temporal.client.service_client.config.target_host
    with grpc_proxy(tmp_path_factory.mktemp("nginx"), upstream, secrets.token_urlsafe(24)) as p:
        yield p


def tls_env(proxy: Proxy, **changes: str | None) -> dict[str, str]:
    """This process's environment (payload keys) with Temporal's standard settings for the
    proxy; `changes` set (or, with None, remove) variables."""
    env = {
        **without(os.environ, *CONNECTION_VARIABLES),
        "TEMPORAL_ADDRESS": proxy.address,
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(proxy.certificates.ca),
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(proxy.certificates.client_cert),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(proxy.certificates.client_key),
        "TEMPORAL_API_KEY": proxy.api_key,
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def write_profile(path: Path, proxy: Proxy, *, api_key: str | None = None) -> Path:
    """A `temporal.toml` at `path` whose profile `behind-proxy` reaches Temporal through the
    proxy (with `api_key` instead of the proxy's, when given)."""
    path.write_text(
        f"""
[profile.behind-proxy]
address = "{proxy.address}"
namespace = "default"
api_key = "{api_key or proxy.api_key}"
[profile.behind-proxy.tls]
server_ca_cert_path = "{proxy.certificates.ca}"
client_cert_path = "{proxy.certificates.client_cert}"
client_key_path = "{proxy.certificates.client_key}"
"""
    )
    return path


@contextlib.asynccontextmanager
async def worker_process(
    env: dict[str, str], logs: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`csp-orders worker`, once it says it runs (its output in `logs`.out/.err); stopped
    (SIGTERM) when the block ends."""
    out, err = logs.with_suffix(".out"), logs.with_suffix(".err")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            csp_orders(), "worker", "--log-level", "WARNING", env=env, stdout=stdout, stderr=stderr
        )
    try:
        for _ in range(600):
            if (
                out.read_bytes().startswith(b"worker on task queue")
                or process.returncode is not None
            ):
                break
            await asyncio.sleep(0.1)
        if not out.read_bytes().startswith(b"worker on task queue"):
            raise AssertionError(f"the worker did not start: {err.read_text()}")
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=60)


@contextlib.asynccontextmanager
async def api_process(env: dict[str, str], log: Path) -> AsyncIterator[httpx.AsyncClient]:
    """`csp-orders api` on a free loopback port, once it answers /healthz (its output, stdout
    and stderr, in `log`): an HTTP client for it; stopped (SIGTERM) when the block ends."""
    port = free_port()
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            csp_orders(), "api", "--port", str(port), env=env, stdout=output, stderr=output
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

            async def answering() -> bool:
                assert process.returncode is None, log.read_text()
                with contextlib.suppress(httpx.TransportError):
                    return (await http.get("/healthz")).status_code == 200
                return False

            await eventually(answering, timeout=60, what=lambda: f"the API: {log.read_text()}")
            yield http
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=60)


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        csp_orders(),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return int(process.returncode or 0), out.decode(), err.decode()


def assert_one_line(stderr: str, *names: str, secret: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for name in names:
        assert name in lines[0], lines[0]
    assert secret not in stderr
    return lines[0]


async def assert_never_started(temporal: WorkflowEnvironment, workflow_id: str) -> None:
    with pytest.raises(RPCError) as missing:
        await temporal.client.get_workflow_handle(workflow_id).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_worker_and_sdk_place_an_order_through_mtls_and_api_key(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    proxy: Proxy,
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = f"tls-{unique}"
    # The worker reads a temporal.toml profile (docs/TEMPORAL_CONNECTION.md's command line:
    # TEMPORAL_PROFILE=... csp-orders worker), as the temporal CLI would.
    profile = write_profile(tmp_path / "temporal.toml", proxy)
    env = {
        **without(os.environ, *CONNECTION_VARIABLES),
        **sandbox_worker_env(engine_sandbox.base_url, engine_sandbox.settings),
        "CSP_TASK_QUEUE": queue,
        "TEMPORAL_CONFIG_FILE": str(profile),
        "TEMPORAL_PROFILE": "behind-proxy",
    }
    # The SDK reads the TEMPORAL_* variables.
    for name in [n for n in os.environ if n.startswith(CONNECTION_VARIABLES)]:
        monkeypatch.delenv(name)
    for name, value in tls_env(proxy).items():
        monkeypatch.setenv(name, value)
    document = order(f"tls-{unique}", new_customer(f"tls{unique}"), line(OFFICE_E3, 2))

    async with worker_process(env, tmp_path / "worker"):
        shop = await Storefront.connect(task_queue=queue)
        assert shop.client.service_client.config.target_host == proxy.address
        await shop.place_order(document)
        outcome = await asyncio.wait_for(shop.wait_for_outcome(document.order_id), timeout=90)

    assert outcome.phase is Phase.COMPLETED, outcome
    assert outcome.customer_id is not None
    snapshot = await admin.snapshot()
    bought = [s for s in snapshot["subscriptions"] if s["customerId"] == outcome.customer_id]
    # (Partner Center's offer id of a subscription is the catalog item's product:sku:availability)
    assert [(s["offerId"].rsplit(":", 1)[0], s["quantity"]) for s in bought] == [(OFFICE_E3, 2)]
    # The traffic went through the proxy, each request with the client certificate: the SDK's
    # start, the worker's polls.
    requests = proxy.requests()
    calls = {entry.split()[2].rsplit("/", 1)[-1] for entry in requests if entry.startswith("200 ")}
    assert {"StartWorkflowExecution", "PollWorkflowTaskQueue", "PollActivityTaskQueue"} <= calls
    assert all(entry.endswith("client-cert=SUCCESS") for entry in requests if "Poll" in entry)


async def test_without_a_client_certificate_one_line_and_nothing_sent(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    proxy: Proxy,
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = tls_env(proxy, TEMPORAL_TLS_CLIENT_CERT_PATH=None, TEMPORAL_TLS_CLIENT_KEY_PATH=None)
    document = order(f"nocert-{unique}", new_customer(f"nocert{unique}"))
    file = tmp_path / "order.json"
    file.write_text(document.model_dump_json())

    code, _, err = await run_cli(env, "order", "place", str(file))
    assert code == 1, err
    said = assert_one_line(
        err,
        proxy.address,
        "requires a client certificate",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_KEY_PATH",
        secret=proxy.api_key,
    )
    assert "Nothing was sent" in said

    # The SDK says the same, as an EngineUnreachable (a StorefrontError).
    for name in [n for n in os.environ if n.startswith(CONNECTION_VARIABLES)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(EngineUnreachable) as refused:
        await Storefront.connect()
    assert_one_line(
        str(refused.value),
        proxy.address,
        "requires a client certificate",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        secret=proxy.api_key,
    )

    # The worker is refused alike, and exits.
    worker = {**env, **sandbox_worker_env(engine_sandbox.base_url, engine_sandbox.settings)}
    code, out, err = await run_cli(worker, "worker")
    assert code == 1, (out, err)
    assert_one_line(
        err, "csp-orders worker:", "TEMPORAL_TLS_CLIENT_CERT_PATH", secret=proxy.api_key
    )
    await assert_never_started(temporal, order_workflow_id(document.order_id))
    await assert_no_customer_created(admin, f"nocert{unique}")


async def test_a_client_key_not_of_the_certificate_one_line_and_nothing_sent(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    proxy: Proxy,
    unique: str,
    tmp_path: Path,
) -> None:
    """A certificate with another certificate's key (a renewal half done, two Secrets mixed
    up): the CLI and the worker say which two settings do not belong together."""
    other = make_certificates(tmp_path)
    env = tls_env(proxy, TEMPORAL_TLS_CLIENT_KEY_PATH=str(other.client_key))
    document = order(f"mixed-{unique}", new_customer(f"mixed{unique}"))
    file = tmp_path / "order.json"
    file.write_text(document.model_dump_json())

    code, _, err = await run_cli(env, "order", "place", str(file))
    assert code == 1, err
    said = assert_one_line(
        err,
        proxy.address,
        "does not belong to the client certificate",
        "TEMPORAL_TLS_CLIENT_KEY_PATH",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        secret=proxy.api_key,
    )
    assert "Nothing was sent" in said

    worker = {**env, **sandbox_worker_env(engine_sandbox.base_url, engine_sandbox.settings)}
    code, out, err = await run_cli(worker, "worker")
    assert code == 1, (out, err)
    assert_one_line(
        err,
        "csp-orders worker:",
        "does not belong to the client certificate",
        "TEMPORAL_TLS_CLIENT_KEY_PATH",
        secret=proxy.api_key,
    )
    await assert_never_started(temporal, order_workflow_id(document.order_id))
    await assert_no_customer_created(admin, f"mixed{unique}")


async def test_a_wrong_api_key_is_refused_in_one_line_without_the_key(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    proxy: Proxy,
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = f"wrong-{secrets.token_urlsafe(16)}"
    env = tls_env(proxy, TEMPORAL_API_KEY=wrong)
    document = order(f"badkey-{unique}", new_customer(f"badkey{unique}"))
    file = tmp_path / "order.json"
    file.write_text(document.model_dump_json())

    code, _, err = await run_cli(env, "order", "place", str(file))
    assert code == 1, err
    said = assert_one_line(
        err, proxy.address, "refused the API key", "TEMPORAL_API_KEY", secret=wrong
    )
    assert proxy.api_key not in said
    await assert_never_started(temporal, order_workflow_id(document.order_id))
    await assert_no_customer_created(admin, f"badkey{unique}")

    # The SDK says the same, as an EngineUnreachable (a StorefrontError).
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(EngineUnreachable) as refused:
        await Storefront.connect()
    assert "TEMPORAL_API_KEY" in str(refused.value) and wrong not in str(refused.value)
    assert "\n" not in str(refused.value)

    # And the worker, which exits.
    worker = {**env, **sandbox_worker_env(engine_sandbox.base_url, engine_sandbox.settings)}
    code, out, err = await run_cli(worker, "worker")
    assert code == 1, (out, err)
    assert_one_line(
        err, "csp-orders worker:", "refused the API key", "TEMPORAL_API_KEY", secret=wrong
    )


async def test_the_api_process_through_mtls_and_api_key(
    temporal: WorkflowEnvironment, proxy: Proxy, tmp_path: Path
) -> None:
    """`csp-orders api` with the profile is ready, and answers a storefront, through the
    proxy; with a wrong API key it answers 503 to /readyz and logs why in one line, without the
    key, each time it tries."""
    storefronts = tmp_path / "storefronts.json"
    key, _ = add_api_key(storefronts, "shop-tls")
    env = {
        **without(os.environ, *CONNECTION_VARIABLES),
        "CSP_STOREFRONTS_FILE": str(storefronts),
        "TEMPORAL_CONFIG_FILE": str(write_profile(tmp_path / "temporal.toml", proxy)),
        "TEMPORAL_PROFILE": "behind-proxy",
    }
    before = len(proxy.requests())
    async with api_process(env, tmp_path / "api.log") as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        listed = await http.get("/v1/orders", headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200 and listed.json()["orders"] == [], listed.text
    # Its health check and its list went through the proxy, with the client certificate.
    requests = proxy.requests()[before:]
    calls = {entry.split()[2].rsplit("/", 1)[-1] for entry in requests if entry.startswith("200 ")}
    assert {"Check", "ListWorkflowExecutions"} <= calls, requests
    assert all(entry.endswith("client-cert=SUCCESS") for entry in requests), requests

    wrong = f"wrong-{secrets.token_urlsafe(16)}"
    env["TEMPORAL_CONFIG_FILE"] = str(write_profile(tmp_path / "wrong.toml", proxy, api_key=wrong))
    log = tmp_path / "wrong-api.log"
    async with api_process(env, log) as http:
        refused = await http.get("/readyz")
        assert refused.status_code == 503, refused.text
    # Each attempt to connect (at start, at /readyz) logs why in one line: the same one.
    started, *lines = log.read_text().splitlines()
    assert started.startswith("storefront API on"), started
    entries = [json.loads(line) for line in lines]  # (a traceback would not be JSON)
    reasons = {e["reason"] for e in entries if e["event"] == "temporal unreachable"}
    assert len(reasons) == 1, lines
    [reason] = reasons
    for name in (proxy.address, "refused the API key", "TEMPORAL_API_KEY"):
        assert name in reason, reason
    assert wrong not in log.read_text() and proxy.api_key not in log.read_text()
    assert wrong not in refused.text
