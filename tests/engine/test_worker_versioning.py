"""Versioned deploys (docs/VERSIONING.md): workers run as a Temporal Worker Deployment version,
named by the variables temporal-worker-controller sets; a running order finishes on the build it
started on, new orders run on the current build, and the old build drains.

The upgrade is the documented one, with the real `temporal` CLI against the session's dev server:
build 1 is a `csp-orders worker` process given `TEMPORAL_DEPLOYMENT_NAME` and
`TEMPORAL_WORKER_BUILD_ID`; build 2 runs in this process with an order workflow that running
orders could not replay (tests/engine/order_build_two.py). Not run here, though the document
shows it: `python -m tests.engine.record_histories` (it rewrites the tracked saved histories;
the replay test, tests/engine/test_operations.py, replays what it wrote).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.enums.v1 import VersioningBehavior as HistoryVersioningBehavior
from temporalio.client import Client, WorkflowHistory
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

import workers.worker
from clients.contract import (
    LicenceRequest,
    licences_workflow_id,
    order_workflow_id,
    quota_workflow_id,
    slot_workflow_id,
    webhooks_workflow_id,
)
from clients.partner_center import PartnerCenterClient
from clients.storefront import Storefront
from devtools.samples import (
    DYNAMICS_SALES,
    VALID_RU_TAX_ID,
    known_customer,
    line,
    order,
    russian_order,
)
from devtools.sandbox_settings import sandbox_client_config
from devtools.temporal_cli import temporal_binary
from ordering.status import Phase, WaitingFor
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.engine.order_build_two import BUILD_TWO_PAUSE, OrderWorkflowBuildTwo
from tests.helpers import (
    csp_orders,
    engine_config_for_tests,
    eventually,
    wait_for,
    worker_env,
)
from workers.settings import (
    BUILD_ID_VARIABLE,
    DEPLOYMENT_NAME_VARIABLE,
    WorkerDeploymentNotConfigured,
    worker_deployment_from_env,
)
from workers.worker import WORKFLOWS, build_worker
from workflows.order import OrderWorkflow

DOC = Path(__file__).parents[2] / "docs" / "VERSIONING.md"
BUILD_TWO_WORKFLOWS = [OrderWorkflowBuildTwo if w is OrderWorkflow else w for w in WORKFLOWS]


# ---------------------------------------------------------------- the choice, per worker

WRITTEN = {VersioningBehavior.PINNED: "pinned", VersioningBehavior.AUTO_UPGRADE: "auto-upgrade"}
QUEUE = "<queue>"  # how docs/VERSIONING.md writes the task queue (CSP_TASK_QUEUE)


def documented_queues() -> dict[str, tuple[str, set[str]]]:
    """The table of docs/VERSIONING.md: task queue -> (`pinned` or `auto-upgrade`, the workflow
    types its worker runs)."""
    rows = re.findall(r"^\| `([^`]+)` \| (pinned|auto-upgrade) \| (.+) \|$", DOC.read_text(), re.M)
    return {
        queue: (behaviour, set(re.findall(r"`(\w+)`", types))) for queue, behaviour, types in rows
    }


def definition_of(workflow_class: type) -> Any:
    return getattr(workflow_class, "__temporal_workflow_definition")


@contextlib.asynccontextmanager
async def engine_workers(
    client: Client,
    sandbox: SandboxServer,
    queue: str,
    deployment: WorkerDeploymentVersion | None = None,
    **options: Any,
) -> AsyncIterator[workers.worker.EngineWorker]:
    """The engine's worker as `build_worker` makes it (not started)."""
    async with PartnerCenterClient.from_config(sandbox_client_config(sandbox)) as pc:
        yield build_worker(
            client,
            pc,
            engine_config_for_tests(),
            task_queue=queue,
            webhook_endpoints={},
            deployment=deployment,
            **options,
        )


async def test_each_task_queue_pins_or_upgrades_its_workflows_as_the_document_says(
    temporal: WorkflowEnvironment, engine_sandbox: SandboxServer, unique: str
) -> None:
    """Versioned, each of the two workers runs as the version, with its own default behaviour
    for every workflow it runs, as docs/VERSIONING.md's table says; no workflow definition
    chooses one itself (the SDK would send it from an unversioned worker too, and the server
    would refuse every workflow task: docs/VERSIONING.md); unversioned, neither worker has a
    deployment."""
    queue = f"versioning-table-{unique}"
    version = WorkerDeploymentVersion(deployment_name=f"csp-tests/table-{unique}", build_id="1")
    configured: dict[str, tuple[str, set[str]]] = {}
    async with engine_workers(temporal.client, engine_sandbox, queue, version) as engine:
        for worker in (engine.orders, engine.coordination):
            config = worker.config()
            deployment = config.get("deployment_config")
            assert deployment is not None
            assert (deployment.version, deployment.use_worker_versioning) == (version, True)
            definitions = [definition_of(w) for w in config.get("workflows", [])]
            assert all(
                d.versioning_behavior is VersioningBehavior.UNSPECIFIED for d in definitions
            ), [d.name for d in definitions]
            label = config.get("task_queue", "").replace(queue, QUEUE)
            behaviour = WRITTEN[deployment.default_versioning_behavior]
            configured[label] = (behaviour, {d.name for d in definitions})
    assert documented_queues() == configured
    assert set(configured) == {QUEUE, f"{QUEUE}-coordination"}
    assert {definition_of(w).name for w in WORKFLOWS} == configured[QUEUE][1]

    async with engine_workers(temporal.client, engine_sandbox, queue) as engine:
        assert engine.orders.config().get("deployment_config") is None
        assert engine.coordination.config().get("deployment_config") is None


CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


async def followed_to_its_end(client: Client, workflow_id: str) -> None:
    """Follows the workflow's history as the server writes it, until the run closes; fails at
    its first workflow task that failed or timed out (a worker whose completions the server
    refuses would have it retried for ever), with the server's reason."""
    handle = client.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events(wait_new_event=True):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            reason = event.workflow_task_failed_event_attributes.failure.message
            pytest.fail(f"{workflow_id}: a workflow task failed: {reason}")
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            pytest.fail(f"{workflow_id}: a workflow task timed out (its completion was refused?)")
        if event.event_type in CLOSED:
            return


async def test_an_unversioned_worker_completes_workflows_of_every_type_on_both_queues(
    temporal: WorkflowEnvironment, engine_sandbox: SandboxServer, admin: SandboxAdmin, unique: str
) -> None:
    """The dev stack, the demo and every deploy without the two variables: an order (with its
    customer's slot, its webhooks and the Partner Center quota), a licence request and a dry
    run all complete, and their workflow tasks carry no deployment and no behaviour (with one,
    the server refuses every completion of an unversioned worker: docs/VERSIONING.md)."""
    client = temporal.client
    queue = f"unversioned-{unique}"
    async with (
        engine_workers(
            client, engine_sandbox, queue, partner_center_requests_per_minute=6000
        ) as engine,
        engine,
        # (a guard, not a measure: what waits on a refused slot or quota would wait for ever)
        asyncio.timeout(180),
    ):
        shop = Storefront(client, task_queue=queue).for_storefront("shop-unversioned")
        customer_id = await admin.add_customer("Unversioned", f"unv{unique}.onmicrosoft.com")
        document = order(f"unv-{unique}", known_customer(customer_id), line(DYNAMICS_SALES, 10))
        order_id = await shop.place_order(document)
        await followed_to_its_end(client, order_id)
        outcome = await shop.wait_for_outcome(document.order_id)
        assert outcome.phase is Phase.COMPLETED, outcome.refusal
        [subscription] = [str(done.subscription_id) for done in outcome.lines]
        request = LicenceRequest(
            request_id=f"unv-lic-{unique}",
            customer_id=customer_id,
            subscription_id=subscription,
            quantity=5,
        )
        await shop.request_licences(request)
        licences_id = licences_workflow_id(request.request_id, shop.storefront)
        await followed_to_its_end(client, licences_id)
        added = await shop.add_licences(request)  # (the same request: its outcome)
        assert (added.quantity_before, added.quantity_after) == (10, 15)
        report = await shop.validate_order(document)
        assert report.order_id == document.order_id
        ended = [
            order_id,
            licences_id,
            webhooks_workflow_id(order_id),  # each ends after its final event
            webhooks_workflow_id(licences_id),
        ]
        for workflow_id in ended[2:]:
            await followed_to_its_end(client, workflow_id)
        ran = [*ended, slot_workflow_id(customer_id), quota_workflow_id(queue)]
        histories = [await client.get_workflow_handle(w).fetch_history() for w in ran]

    assert {
        h.events[0].workflow_execution_started_event_attributes.workflow_type.name
        for h in histories
    } == {definition_of(w).name for w in WORKFLOWS} - {
        "ValidateOrderWorkflow"  # (its id is random; its report came back)
    }
    for workflow_id, history in zip(ran, histories, strict=True):
        assert no_failed_workflow_task(history), workflow_id
        unversioned = ("", "", HistoryVersioningBehavior.VERSIONING_BEHAVIOR_UNSPECIFIED)
        assert set(completed_by(history)) == {unversioned}, workflow_id
    # What Partner Center holds: the customer's subscription, with the licences added.
    held = {s["id"]: s for s in (await admin.snapshot())["subscriptions"]}[subscription]
    assert (held["customerId"], held["quantity"]) == (customer_id, 15)


# ---------------------------------------------------------------- the environment


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(DEPLOYMENT_NAME_VARIABLE, raising=False)
    monkeypatch.delenv(BUILD_ID_VARIABLE, raising=False)
    return monkeypatch


def test_without_the_variables_the_worker_runs_unversioned(clean_env: pytest.MonkeyPatch) -> None:
    assert worker_deployment_from_env() is None


def test_with_both_the_worker_runs_as_that_version(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(DEPLOYMENT_NAME_VARIABLE, "payments/csp-orders")  # the controller's form
    clean_env.setenv(BUILD_ID_VARIABLE, "v1-5d8f7c")
    assert worker_deployment_from_env() == WorkerDeploymentVersion(
        deployment_name="payments/csp-orders", build_id="v1-5d8f7c"
    )


@pytest.mark.parametrize(
    ("given", "missing"),
    [(DEPLOYMENT_NAME_VARIABLE, BUILD_ID_VARIABLE), (BUILD_ID_VARIABLE, DEPLOYMENT_NAME_VARIABLE)],
)
def test_one_without_the_other_names_the_missing_one(
    clean_env: pytest.MonkeyPatch, given: str, missing: str
) -> None:
    clean_env.setenv(given, "x")
    with pytest.raises(WorkerDeploymentNotConfigured) as refused:
        worker_deployment_from_env()
    assert str(refused.value).startswith(f"{missing} is not set, but {given} is:")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (DEPLOYMENT_NAME_VARIABLE, "csp.orders"),
        (DEPLOYMENT_NAME_VARIABLE, "csp:orders"),
        (DEPLOYMENT_NAME_VARIABLE, "__csp"),
        (BUILD_ID_VARIABLE, "__unversioned__"),
    ],
)
def test_what_temporal_reserves_is_refused_naming_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(DEPLOYMENT_NAME_VARIABLE, "csp-orders")
    clean_env.setenv(BUILD_ID_VARIABLE, "1")
    clean_env.setenv(variable, value)
    with pytest.raises(WorkerDeploymentNotConfigured, match=f"^{variable} must not "):
        worker_deployment_from_env()


async def test_a_worker_given_half_a_version_does_not_start(
    engine_sandbox: SandboxServer,
) -> None:
    """One line naming the missing variable, exit 2, no stack trace, before connecting to
    anything (no Temporal listens on the address given)."""
    env = {
        **worker_env("127.0.0.1:9", engine_sandbox),  # (none of the shell's TEMPORAL_*)
        BUILD_ID_VARIABLE: "2",
    }
    worker = await asyncio.create_subprocess_exec(
        csp_orders(),
        "worker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(worker.communicate(), timeout=60)
    assert worker.returncode == 2, err
    assert out == b""
    [line] = err.decode().splitlines()
    assert line.startswith(f"csp-orders worker: {DEPLOYMENT_NAME_VARIABLE} is not set, but ")
    assert "Traceback" not in err.decode()


# ---------------------------------------------------------------- the upgrade


class Deployment:
    """One Worker Deployment on the session's dev server, driven with the `temporal` CLI as an
    operator would (docs/VERSIONING.md)."""

    def __init__(self, address: str, name: str) -> None:
        self.address = address
        self.name = name

    async def cli(self, *args: str) -> tuple[int, str]:
        done = await asyncio.create_subprocess_exec(
            temporal_binary(),
            "worker",
            "deployment",
            *args,
            "--deployment-name",
            self.name,
            "--address",
            self.address,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await done.communicate()
        assert done.returncode is not None
        return done.returncode, out.decode()

    async def describe(self, build_id: str) -> dict[str, Any]:
        code, out = await self.cli("describe-version", "--build-id", build_id, "--output", "json")
        assert code == 0, out
        described: dict[str, Any] = json.loads(out)
        return described

    async def wait_until_polled(self, build_id: str, *task_queues: str) -> None:
        """Until the build's workers poll every one of `task_queues` (both of a worker's)."""

        async def polled() -> bool:
            code, out = await self.cli(
                "describe-version", "--build-id", build_id, "--output", "json"
            )
            if code != 0:  # (not known yet: its workers have not polled)
                return False
            known = {q["name"] for q in json.loads(out)["taskQueuesInfos"] or []}
            return known >= set(task_queues)

        await eventually(polled, timeout=30, every=0.2, what=f"build {build_id} polling")

    async def set_current(self, build_id: str) -> None:
        code, out = await self.cli("set-current-version", "--build-id", build_id, "--yes")
        assert code == 0, out

    async def drainage(self, build_id: str) -> dict[str, str] | None:
        """The version's `drainageInfo` (None until it has been current and is no more)."""
        info: dict[str, str] | None = (await self.describe(build_id))["drainageInfo"]
        return info


@contextlib.asynccontextmanager
async def build_one_process(
    address: str, sandbox: SandboxServer, queue: str, deployment: str, tmp_path: Path
) -> AsyncIterator[Path]:
    """Build 1: `csp-orders worker`, told its version as temporal-worker-controller tells a
    pod. Yields the file its output goes to; stops it as a service is stopped (SIGTERM)."""
    config = tmp_path / "engine.json"
    config.write_text(engine_config_for_tests().model_dump_json(by_alias=True))
    output = tmp_path / "build-1.log"
    with output.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            csp_orders(),
            "worker",
            env=worker_env(
                address,
                sandbox,
                CSP_TASK_QUEUE=queue,
                CSP_ORDERS_CONFIG=str(config),
                **{DEPLOYMENT_NAME_VARIABLE: deployment, BUILD_ID_VARIABLE: "1"},
            ),
            stdout=log,
            stderr=log,
        )
        try:
            yield output
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), timeout=60)
    assert process.returncode == 0, output.read_text()


@contextlib.asynccontextmanager
async def build_two_worker(
    client: Client, sandbox: SandboxServer, queue: str, deployment: str
) -> AsyncIterator[None]:
    """Build 2, in this process: the engine's worker with the changed order workflow."""
    async with PartnerCenterClient.from_config(sandbox_client_config(sandbox)) as pc:
        with pytest.MonkeyPatch.context() as build_two:
            build_two.setattr(workers.worker, "WORKFLOWS", BUILD_TWO_WORKFLOWS)
            worker = build_worker(
                client,
                pc,
                engine_config_for_tests(),
                task_queue=queue,
                webhook_endpoints={},
                deployment=WorkerDeploymentVersion(deployment_name=deployment, build_id="2"),
            )
        async with worker:
            yield


def completed_by(history: WorkflowHistory) -> Iterator[tuple[str, str, int]]:
    """(deployment, build, versioning behaviour) of each completed workflow task."""
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            done = event.workflow_task_completed_event_attributes
            yield (
                done.deployment_version.deployment_name,
                done.deployment_version.build_id,
                done.versioning_behavior,
            )


def first_command(history: WorkflowHistory) -> int:
    """The type of the first event a workflow task's commands recorded."""
    types = [event.event_type for event in history.events]
    return types[types.index(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) + 1]


def no_failed_workflow_task(history: WorkflowHistory) -> bool:
    return all(
        event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for event in history.events
    )


async def test_a_running_order_ends_on_its_build_new_orders_run_on_the_next_and_the_old_drains(
    temporal: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    unique: str,
    tmp_path: Path,
) -> None:
    client = temporal.client
    address = client.service_client.config.target_host
    queue = f"versioning-{unique}"
    coordination = f"{queue}-coordination"
    deployment = Deployment(address, f"csp-tests/versioning-{unique}")
    shop = Storefront(client, task_queue=queue)

    async with build_one_process(address, engine_sandbox, queue, deployment.name, tmp_path) as log:
        await deployment.wait_until_polled("1", queue, coordination)
        await deployment.set_current("1")
        assert f"as build 1 of the Worker Deployment {deployment.name}" in log.read_text()

        old = russian_order(f"ru-old-{unique}", f"ruold{unique}")  # waits for its tax ID
        await shop.place_order(old)
        await wait_for(shop, old.order_id, WaitingFor.TAX_ID)

        async with build_two_worker(client, engine_sandbox, queue, deployment.name):
            await deployment.wait_until_polled("2", queue, coordination)
            await deployment.set_current("2")

            new = russian_order(f"ru-new-{unique}", f"runew{unique}", tax_id=VALID_RU_TAX_ID)
            await shop.place_order(new)
            assert (await shop.wait_for_outcome(new.order_id)).phase is Phase.COMPLETED

            # Build 1 drains: no longer current, and past the grace period the server looks for
            # open orders pinned to it and finds the one waiting for its tax ID.
            async def checked() -> dict[str, str] | None:
                info = await deployment.drainage("1")
                return info if info and info["lastCheckedTime"] != info["lastChangedTime"] else None

            drainage = await eventually(checked, timeout=30, every=0.5, what="build 1 checked")
            assert drainage["drainageStatus"] == "draining"

            await shop.provide_tax_id(old.order_id, VALID_RU_TAX_ID)
            outcome = await shop.wait_for_outcome(old.order_id)
            assert outcome.phase is Phase.COMPLETED, outcome.refusal

            async def drained() -> bool:
                info = await deployment.drainage("1")
                return info is not None and info["drainageStatus"] == "drained"

            await eventually(drained, timeout=30, every=0.5, what="build 1 drained")
        # Build 1 is stopped (and exits 0) only now, once drained.

    pinned = HistoryVersioningBehavior.VERSIONING_BEHAVIOR_PINNED
    upgrading = HistoryVersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
    # The old order: every workflow task on build 1, though build 2 was current when its tax
    # ID came; no workflow task failed, so no non-determinism either.
    old_history = await client.get_workflow_handle(order_workflow_id(old.order_id)).fetch_history()
    assert set(completed_by(old_history)) == {(deployment.name, "1", pinned)}
    assert first_command(old_history) != EventType.EVENT_TYPE_TIMER_STARTED
    assert no_failed_workflow_task(old_history)
    # The new order: on build 2, with build 2's change.
    new_history = await client.get_workflow_handle(order_workflow_id(new.order_id)).fetch_history()
    assert set(completed_by(new_history)) == {(deployment.name, "2", pinned)}
    assert first_command(new_history) == EventType.EVENT_TYPE_TIMER_STARTED
    [timer] = [e for e in new_history.events if e.HasField("timer_started_event_attributes")]
    assert timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == (
        BUILD_TWO_PAUSE
    )
    assert no_failed_workflow_task(new_history)
    # The change was a real one: build 2 cannot replay the old order; build 1 (this code) can.
    with pytest.raises(NondeterminismError):
        await Replayer(
            workflows=BUILD_TWO_WORKFLOWS, data_converter=client.data_converter
        ).replay_workflow(old_history)
    await Replayer(workflows=WORKFLOWS, data_converter=client.data_converter).replay_workflow(
        old_history
    )
    # The old order's customer slot, an upgrading workflow, follows the current build: its
    # build-1 order started it (eagerly: its first task may run on the starter's worker, build
    # 1), and it went on on build 2, replaying what build 1 had done, while the order held it.
    assert outcome.customer_id is not None
    slot = await client.get_workflow_handle(slot_workflow_id(outcome.customer_id)).fetch_history()
    slot_tasks = list(completed_by(slot))
    assert {behaviour for _, _, behaviour in slot_tasks} == {upgrading}
    assert {name for name, _, _ in slot_tasks} == {deployment.name}
    assert slot_tasks[-1][1] == "2"
    assert no_failed_workflow_task(slot)

    # What the orders say is what Partner Center holds: each a customer with its tax ID.
    customers = {c["id"]: c for c in (await admin.snapshot())["customers"]}
    new_outcome = await shop.wait_for_outcome(new.order_id)
    for customer_id in (outcome.customer_id, new_outcome.customer_id):
        assert customers[customer_id]["organizationRegistrationNumber"] == VALID_RU_TAX_ID
