"""A namespace other than `default`, from Temporal's standard client settings: with
`TEMPORAL_NAMESPACE=csp-other`, a real `csp-orders worker` and the storefront SDK complete an
order in that namespace of a dev server that has it besides `default`, `csp-orders api` answers
for it, and nothing of it is in `default`. A namespace given with a resolved connection (the
SDK's, the worker's and the API's `connection_for`) is the one used."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from clients.contract import SEARCH_ATTRIBUTES, order_workflow_id
from clients.payloads import KeyRing
from clients.storefront import Storefront
from clients.temporal_connection import local_server
from devtools.dev import dynamic_config_args
from devtools.samples import OFFICE_E3, line, new_customer, order
from devtools.temporal_cli import temporal_binary
from ordering.status import Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import BackgroundServer
from sandbox.server import SandboxServer
from tests.engine.test_temporal_tls import CONNECTION_VARIABLES, api_process, worker_process
from tests.helpers import worker_env
from workers.api.server import api_app
from workers.storefronts import add_api_key
from workers.worker import connect as worker_client

OTHER = "csp-other"
STOREFRONT = "shop-ns"


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of its own (the session's has `default` only) with the namespace
    `csp-other` besides `default`, the contract's search attributes in each; its client is in
    `default`."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[*dynamic_config_args(), "--namespace", OTHER],
        search_attributes=SEARCH_ATTRIBUTES,
    )
    yield env
    await env.shutdown()


async def test_worker_sdk_and_api_work_in_the_namespace_the_settings_name(
    server: WorkflowEnvironment,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address = server.client.service_client.config.target_host
    queue = f"ns-{unique}"
    keys = KeyRing.generate("namespace-test")
    settings = {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": OTHER, **keys.to_env()}
    # The SDK reads the environment, as the worker and the API do.
    for name in [n for n in os.environ if n.startswith(CONNECTION_VARIABLES)]:
        monkeypatch.delenv(name)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    storefronts = tmp_path / "storefronts.json"
    key, _ = add_api_key(storefronts, STOREFRONT)
    api_env = {**os.environ, "CSP_STOREFRONTS_FILE": str(storefronts), "CSP_TASK_QUEUE": queue}
    document = order(f"ns-{unique}", new_customer(f"ns{unique}"), line(OFFICE_E3, 1))
    workflow_id = order_workflow_id(document.order_id, STOREFRONT)

    worker = worker_env(address, engine_sandbox, CSP_TASK_QUEUE=queue, **settings)
    async with worker_process(worker, tmp_path / "worker"):
        shop = (await Storefront.connect(task_queue=queue)).for_storefront(STOREFRONT)
        await shop.place_order(document)
        outcome = await asyncio.wait_for(shop.wait_for_outcome(document.order_id), timeout=90)
        assert outcome.phase is Phase.COMPLETED, outcome

        async with api_process(api_env, tmp_path / "api.log") as http:
            assert (await http.get("/readyz")).status_code == 200
            status = await http.get(
                f"/v1/orders/{document.order_id}", headers={"Authorization": f"Bearer {key}"}
            )
            assert status.status_code == 200, status.text
            assert status.json()["phase"] == "completed", status.json()

        # A resolved connection to `default` with the namespace given: the API, the SDK and
        # the worker's client all use the namespace given.
        in_default = local_server(address)
        app = api_app(in_default, queue, namespace=OTHER, keys=keys, storefronts_file=storefronts)
        with BackgroundServer(app, name="storefront API") as api:
            async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
                status = await http.get(
                    f"/v1/orders/{document.order_id}", headers={"Authorization": f"Bearer {key}"}
                )
        assert status.status_code == 200 and status.json()["phase"] == "completed", status.text
        sdk = await Storefront.connect(in_default, namespace=OTHER, task_queue=queue, keys=keys)
        seen = await sdk.for_storefront(STOREFRONT).status(document.order_id)
        assert seen.phase is Phase.COMPLETED, seen
        client = await worker_client(in_default, OTHER, keys=keys)
        described = await client.get_workflow_handle(workflow_id).describe()
        assert described.status == WorkflowExecutionStatus.COMPLETED

    # The order is in csp-other (described there, above), not in default; Partner Center
    # holds its subscription.
    with pytest.raises(RPCError) as missing:
        await server.client.get_workflow_handle(workflow_id).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    snapshot = await admin.snapshot()
    bought = [s for s in snapshot["subscriptions"] if s["customerId"] == outcome.customer_id]
    assert [(s["offerId"].rsplit(":", 1)[0], s["quantity"]) for s in bought] == [(OFFICE_E3, 1)]
