"""examples/storefront-client.mjs, the storefront client in Node.js (no packages), run as a
storefront developer would run it: against the storefront API on loopback, in front of the real
Temporal dev server, a worker that delivers the storefront's webhooks to the script's receiver,
and the Partner Center sandbox. The script places a Russian customer's order, supplies a tax ID
(first a wrong one, refused), follows the order to the end, verifies every webhook's signature
and shows that a tampered body fails; afterwards Partner Center holds the customer once, with
its subscription."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.webhooks import WebhookEndpoint
from clients.partner_center import PartnerCenterClient
from devtools.sandbox_settings import sandbox_client_config
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import BackgroundServer, free_port
from sandbox.server import SandboxServer
from tests.engine.partner_center_state import customer_subscriptions
from tests.helpers import TASK_QUEUE, engine_config_for_tests
from workers.api.server import api_app
from workers.storefronts import add_api_key
from workers.worker import build_worker

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "storefront-client.mjs"
ORDER_FILE = ROOT / "examples" / "russian-customer-tax-id-later.json"  # the script's default
STOREFRONT = "shop-node"
NODE_INSTALL = (
    "Node.js 20 or later must be on PATH as `node` (Debian/Ubuntu: "
    "`curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash - && "
    "sudo apt-get install nodejs`)"
)
RUN_TIMEOUT_SECONDS = 150  # the script gives up after 120 s on its own


@dataclass(frozen=True)
class Stack:
    api_url: str
    webhook_port: int
    api_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    assert found, NODE_INSTALL
    return found


@pytest.fixture
async def stack(
    temporal: WorkflowEnvironment, engine_sandbox: SandboxServer, tmp_path: Path
) -> AsyncIterator[Stack]:
    """The API and a worker of its own task queue whose webhooks for `STOREFRONT` go to
    127.0.0.1:<a free port>, where the script listens."""
    queue = f"{TASK_QUEUE}-node-{uuid.uuid4().hex[:8]}"
    port = free_port()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    endpoints = {
        STOREFRONT: WebhookEndpoint(url=f"http://127.0.0.1:{port}/", secret=SecretStr(secret))
    }
    key, _ = add_api_key(tmp_path / "storefronts.json", STOREFRONT, "n1")
    address = temporal.client.service_client.config.target_host
    app = api_app(address, queue, storefronts_file=tmp_path / "storefronts.json")
    async with (
        PartnerCenterClient.from_config(sandbox_client_config(engine_sandbox)) as pc,
        build_worker(
            temporal.client,
            pc,
            engine_config_for_tests(),
            task_queue=queue,
            webhook_endpoints=endpoints,
        ),
    ):
        with BackgroundServer(app, name="storefront API (Node example)") as server:
            yield Stack(server.base_url, port, key, secret)


@pytest.fixture
def unique_ids(unique: str) -> Iterator[tuple[str, str]]:
    yield f"node-{unique}", f"node{unique}"


async def run_script(node: str, stack: Stack, order_id: str, prefix: str) -> tuple[int, str]:
    environment = {
        **os.environ,
        "CSP_API_URL": stack.api_url,
        "CSP_API_KEY": stack.api_key,
        "CSP_WEBHOOK_SECRET": stack.webhook_secret,
        "WEBHOOK_PORT": str(stack.webhook_port),
        "ORDER_ID": order_id,
        "DOMAIN_PREFIX": prefix,
    }
    # (the worker runs on this test's event loop: the script must not block it)
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
    text = output.decode("utf-8", "replace")
    for hidden in (stack.api_key, stack.webhook_secret):
        assert hidden not in text, "the script printed a secret"
    return process.returncode if process.returncode is not None else -1, text


async def test_the_node_client_orders_supplies_a_tax_id_and_verifies_its_webhooks(
    node: str, stack: Stack, admin: SandboxAdmin, unique_ids: tuple[str, str]
) -> None:
    order_id, prefix = unique_ids
    code, output = await run_script(node, stack, order_id, prefix)
    print(output)
    assert code == 0, f"the script failed:\n{output}"
    lines = output.splitlines()

    assert f"order placed: {order_id} (201)" in lines
    refused = [line for line in lines if line.startswith("invalid tax ID refused: ")]
    assert refused and refused[0].startswith("invalid tax ID refused: TAX_ID_REJECTED: ")
    assert refused[0].removeprefix("invalid tax ID refused: TAX_ID_REJECTED: ") not in (
        "",
        "undefined",
    ), "the field's reason is printed"
    completed = [line for line in lines if line.startswith("order completed: customer ")]
    assert completed, output

    verified = [
        (match[1], int(match[2]))
        for line in lines
        if (match := re.fullmatch(r"webhook verified: (\S+) sequence (\d+)", line))
    ]
    assert [kind for kind, _ in verified] == ["order.waiting_for_tax_id", "order.completed"], (
        "each event verified once, in order"
    )
    assert [sequence for _, sequence in verified] == [1, 2]
    # the only webhook the receiver refused is the script's own forgery, answered 400
    assert lines.count("webhook rejected: bad signature or timestamp") == 1
    assert "tampered webhook body rejected (400)" in lines
    assert lines[-1] == "done"

    # What Partner Center holds: the customer, once, with the order's subscription.
    domain = f"{prefix}.onmicrosoft.com"
    customers = [c for c in (await admin.snapshot())["customers"] if c["domain"] == domain]
    assert len(customers) == 1, customers
    customer_id = customers[0]["id"]
    assert customer_id in completed[0]
    held = await customer_subscriptions(admin, customer_id)
    ordered = json.loads(ORDER_FILE.read_text())["lines"]
    assert [(s["offerId"][:17], s["quantity"], s["status"]) for s in held] == [
        (line["offer"], line["quantity"], "active") for line in ordered
    ], held
    assert all(s["id"] in completed[0] for s in held), "the script saw its subscription"
