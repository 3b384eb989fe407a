"""The container image (deploy/Dockerfile), built and run for real: its base made by debootstrap
(deploy/image/build-base.sh: no registry can be pulled here), the image built with the command
deploy/README.md gives, and the worker in it, started by testcontainers on the host's network
(loopback only), completing an order placed through the storefront SDK against the session's
Temporal dev server and Partner Center sandbox.

Docker missing or stopped fails these tests with the command that starts it; developers without
Docker opt out explicitly with CSP_SKIP_CONTAINER_TESTS=1."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from temporalio.testing import WorkflowEnvironment

from clients.payloads import ACTIVE_VARIABLE, KEYS_VARIABLE
from clients.storefront import Storefront
from devtools.samples import OFFICE_E3, line, new_customer, order
from devtools.sandbox_settings import sandbox_worker_env
from ordering.planning import LineAction
from ordering.status import LineState, Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

REPO = Path(__file__).resolve().parents[2]
IMAGE = "csp-orders:0.1.0"  # the tag deploy/README.md builds (and compose.yaml and k8s/ run)
USER_ID = "10001"  # the image's fixed unprivileged user (deploy/Dockerfile)
SKIP_VARIABLE = "CSP_SKIP_CONTAINER_TESTS"
START_DOCKER = (
    "start one with `devtools/dockerd.sh start` (.ci/run does on CI), or set "
    f"{SKIP_VARIABLE}=1 to skip the container tests"
)
# Debian's place for the certificate authorities a machine adds to its trust store (a proxy
# that intercepts TLS, as on this project's machines): the image's builder stage needs them to
# reach PyPI (deploy/Dockerfile, EXTRA_CA_CERTS).
LOCAL_CAS = Path("/usr/local/share/ca-certificates")


async def _run(*command: str, timeout: float) -> str:
    """Run `command` in the repository's root; its output, or the test fails with its end."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"{command[0]} did not finish within {timeout:g} s", pytrace=False)
    text = out.decode(errors="replace")
    if process.returncode != 0:
        tail = "\n".join(text.splitlines()[-30:])
        pytest.fail(f"{' '.join(command[:3])} ... exited {process.returncode}:\n{tail}")
    return text


def _extra_ca_certs() -> list[str]:
    """The build argument that hands the image's builder the machine's own CAs, if any."""
    if not LOCAL_CAS.is_dir():
        return []
    pem = "".join(path.read_text() for path in sorted(LOCAL_CAS.glob("**/*.crt")))
    return ["--build-arg", f"EXTRA_CA_CERTS={pem}"] if pem else []


@pytest.fixture(scope="module")
async def image() -> str:
    """The base image (cached: made once per Docker engine) and the image, built as
    deploy/README.md says (Docker's layer cache makes a rebuild of unchanged code quick)."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1: the container image is neither built nor run")
    if shutil.which("docker") is None:
        pytest.fail(
            "docker is not installed (sudo apt-get install docker.io debootstrap); then "
            + START_DOCKER,
            pytrace=False,
        )
    probe = await asyncio.create_subprocess_exec(
        "docker",
        "info",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await probe.wait() != 0:
        pytest.fail(f"No Docker engine answers: {START_DOCKER}", pytrace=False)
    # The lines deploy/README.md documents, as written (the CA argument aside: this machine's)
    readme = (Path(__file__).parents[2] / "deploy" / "README.md").read_text("utf-8")
    assert "\ndeploy/image/build-base.sh   # (docker)" in readme
    assert f"\ndocker build --network host -f deploy/Dockerfile -t {IMAGE} .   # (docker)" in readme
    await _run("deploy/image/build-base.sh", timeout=600)
    await _run(
        "docker",
        "build",
        "--network",
        "host",
        "-f",
        "deploy/Dockerfile",
        "-t",
        IMAGE,
        *_extra_ca_certs(),
        ".",
        timeout=900,
    )
    return IMAGE


@pytest.fixture(scope="module")
def containers() -> type[DockerContainer]:
    """testcontainers' DockerContainer, set up for this engine: no Ryuk (its image would have to
    be pulled; each test removes its own container) and the Docker host's address for
    containers (no bridge network: they use the host's)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
        patch.setenv("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
        from testcontainers.core.config import ConnectionMode, testcontainers_config
        from testcontainers.core.container import DockerContainer

        # (read when testcontainers is first imported: make sure they took)
        assert testcontainers_config.ryuk_disabled
        assert testcontainers_config.connection_mode_override is ConnectionMode.docker_host
    return DockerContainer


@pytest.fixture
async def worker_in_container(
    image: str,
    containers: type[DockerContainer],
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    tmp_path: Path,
    unique: str,
) -> AsyncIterator[tuple[DockerContainer, Storefront]]:
    """`docker run --network host --env-file worker.env csp-orders` through testcontainers: the
    image's worker on a task queue of its own, for the session's Temporal and sandbox (both on
    loopback), with the built-in engine configuration; and a storefront for that queue."""
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    queue = f"container-{unique}"
    env_file = tmp_path / "worker.env"
    variables = {
        "TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "CSP_TASK_QUEUE": queue,
        **sandbox_worker_env(engine_sandbox.base_url, engine_sandbox.settings),
        KEYS_VARIABLE: os.environ[KEYS_VARIABLE],  # the session's key ring (conftest)
        ACTIVE_VARIABLE: os.environ[ACTIVE_VARIABLE],
    }
    env_file.touch(mode=0o600)
    env_file.write_text("".join(f"{name}={value}\n" for name, value in variables.items()))
    container = (
        containers(image)
        .with_env_file(env_file)
        .with_kwargs(network_mode="host")
        .waiting_for(LogMessageWaitStrategy("worker on task queue").with_startup_timeout(60))
    )
    await asyncio.to_thread(container.start)
    try:
        yield container, Storefront(temporal.client, task_queue=queue)
    finally:
        await asyncio.to_thread(container.stop)


async def test_the_image_prints_its_help(image: str) -> None:
    out = await _run("docker", "run", "--rm", image, "--help", timeout=60)
    assert "usage: csp-orders" in out
    for command in ("worker", "api", "codec-server", "order"):
        assert command in out


async def test_the_image_holds_no_secret_and_runs_unprivileged(image: str) -> None:
    [inspected] = json.loads(await _run("docker", "image", "inspect", image, timeout=60))
    config = inspected["Config"]
    assert config["User"] == f"{USER_ID}:{USER_ID}"
    assert config["Entrypoint"] == ["/opt/csp-orders/bin/csp-orders"]
    assert config["Cmd"] == ["worker"]
    assert set(config["ExposedPorts"]) == {"8089/tcp", "8090/tcp", "9464/tcp"}
    names = {variable.split("=", 1)[0] for variable in config["Env"]}
    assert not {name for name in names if name.startswith(("CSP_", "TEMPORAL", "OTEL_"))}
    # The builder's CA argument stays in the builder: not in the image's history.
    history = await _run("docker", "history", "--no-trunc", image, timeout=60)
    assert "EXTRA_CA_CERTS" not in history and "CERTIFICATE" not in history


async def test_the_worker_image_completes_an_order(
    worker_in_container: tuple[DockerContainer, Storefront],
    admin: SandboxAdmin,
    unique: str,
) -> None:
    container, shop = worker_in_container
    who = await asyncio.to_thread(container.exec, ["id", "-u"])
    assert (who.exit_code, who.output.decode().strip()) == (0, USER_ID)

    document = order(f"ctr-{unique}", new_customer(f"ctr{unique}"), line(OFFICE_E3, 2))
    await shop.place_order(document)
    try:
        outcome = await asyncio.wait_for(shop.wait_for_outcome(document.order_id), 120)
    except TimeoutError:
        pytest.fail(f"no outcome within 120 s; the worker's last lines:\n{_logs(container)}")

    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    [bought] = outcome.lines
    assert (bought.action, bought.state, bought.quantity_after) == (
        LineAction.CREATE,
        LineState.FULFILLED,
        2,
    )
    snapshot = await admin.snapshot()
    [customer] = [c for c in snapshot["customers"] if c["domain"] == f"ctr{unique}.onmicrosoft.com"]
    assert customer["id"] == outcome.customer_id
    held = [s for s in snapshot["subscriptions"] if s["customerId"] == outcome.customer_id]
    assert [(s["id"], s["offerId"][:17], s["quantity"], s["status"]) for s in held] == [
        (bought.subscription_id, OFFICE_E3, 2, "active")
    ]

    # `docker stop` (SIGTERM to the worker, the container's first process) stops it gracefully:
    # exit code 0, not the SIGKILL Docker sends when the process ignores SIGTERM (137).
    wrapped = container.get_wrapped_container()
    await asyncio.to_thread(wrapped.stop, timeout=30)
    await asyncio.to_thread(wrapped.reload)
    assert wrapped.attrs["State"]["ExitCode"] == 0, _logs(container)


def _logs(container: DockerContainer, lines: int = 40) -> str:
    """The end of the container's output (stdout and stderr)."""
    out, err = container.get_logs()
    return "\n".join((out + err).decode(errors="replace").splitlines()[-lines:])
