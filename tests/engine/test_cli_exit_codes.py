"""`csp-orders` (the installed entry point, in a subprocess) against the test engine: a file it
cannot read is one line and exit 2, and `order place --wait` exits 0 only for a completed order;
refused 3, cancelled 4, failed 5 (README, "Operators")."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from clients.contract import order_workflow_id
from clients.storefront import OrderNotFound, Storefront
from devtools.samples import (
    DYNAMICS_SALES,
    OFFICE_E3,
    known_customer,
    line,
    new_customer,
    order,
    russian_order,
)
from devtools.samples import (
    VOICE_END_OF_SALE as VOICE,
)
from ordering.document import OrderDocument
from ordering.status import WaitingFor
from sandbox.admin_client import SandboxAdmin
from tests.engine.partner_center_state import assert_no_customer_created, holdings
from tests.helpers import TASK_QUEUE, eventually, wait_for

CSP_ORDERS = str(Path(sys.executable).with_name("csp-orders"))


def _env(temporal: WorkflowEnvironment, queue: str = TASK_QUEUE) -> dict[str, str]:
    return {
        **os.environ,
        "CSP_TASK_QUEUE": queue,
        "CSP_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
    }


async def run(
    temporal: WorkflowEnvironment, *args: str, queue: str = TASK_QUEUE
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        CSP_ORDERS,
        *args,
        env=_env(temporal, queue),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    return int(process.returncode or 0), out.decode(), err.decode()


def write(tmp_path: Path, document: OrderDocument) -> str:
    path = tmp_path / f"{document.order_id}.json"
    path.write_text(document.model_dump_json())
    return str(path)


@pytest.mark.parametrize("kind", ["missing", "directory", "not-utf8"])
async def test_a_file_it_cannot_read_is_one_line_and_exit_2(
    temporal: WorkflowEnvironment, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "order.json"
    if kind == "directory":
        path.mkdir()
    elif kind == "not-utf8":
        path.write_bytes(b'{"order_id": "\xff\xfe"}')
    code, out, err = await run(temporal, "order", "place", str(path), "--wait")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"csp-orders order place: cannot read {path}")
    assert "Traceback" not in err


async def test_a_worker_configuration_it_cannot_read_is_one_line_and_exit_2(
    temporal: WorkflowEnvironment, tmp_path: Path
) -> None:
    code, _, err = await run(temporal, "worker", "--config", str(tmp_path / "missing.json"))
    assert code == 2
    assert err.strip().endswith("No such file or directory") and "Traceback" not in err


async def test_place_and_wait_exits_0_only_when_the_order_completed(
    temporal: WorkflowEnvironment,
    worker: None,
    admin: SandboxAdmin,
    tmp_path: Path,
    unique: str,
) -> None:
    customer_id = await admin.add_customer("Exit", f"exit{unique}.onmicrosoft.com")
    completed = order(f"exit-ok-{unique}", known_customer(customer_id), line(OFFICE_E3, 1))
    code, out, err = await run(temporal, "order", "place", write(tmp_path, completed), "--wait")
    assert code == 0, err
    assert json.loads(out[out.index("{") :])["phase"] == "completed"

    refused = order(f"exit-no-{unique}", known_customer(customer_id), line("ABCD0000:0001", 1))
    code, out, err = await run(temporal, "order", "place", write(tmp_path, refused), "--wait")
    assert code == 3, err
    assert json.loads(out[out.index("{") :])["phase"] == "refused"
    assert f"order exit-no-{unique} refused: OFFER_NOT_FOUND" in err
    held = await holdings(admin, customer_id)  # the E3 of the first order only
    assert [offer for offer, _, _ in held.values()] == ["CFQ7TTC0LF8Q:0001:CFQ7TTC0KF8Q"]


async def test_a_discontinued_offer_for_a_new_customer_exits_3_and_leaves_no_tenant(
    temporal: WorkflowEnvironment,
    worker: None,
    admin: SandboxAdmin,
    tmp_path: Path,
    unique: str,
) -> None:
    document = order(f"exit-eos-{unique}", new_customer(f"exiteos{unique}"), line(VOICE, 2))
    code, out, err = await run(temporal, "order", "place", write(tmp_path, document), "--wait")
    assert code == 3, err
    assert json.loads(out[out.index("{") :])["phase"] == "refused"
    assert f"order exit-eos-{unique} refused: OFFER_DISCONTINUED" in err
    await assert_no_customer_created(admin, f"exiteos{unique}")


async def test_place_and_wait_exits_4_when_cancelled_and_5_when_failed(
    temporal: WorkflowEnvironment,
    worker: None,
    shop: Storefront,
    admin: SandboxAdmin,
    tmp_path: Path,
    unique: str,
) -> None:
    cancelled = russian_order(f"exit-cancel-{unique}", f"exitcancel{unique}")
    placing = asyncio.ensure_future(
        run(temporal, "order", "place", write(tmp_path, cancelled), "--wait")
    )
    await until_placed_and_waiting(shop, cancelled.order_id)
    code, out, err = await run(temporal, "order", "cancel", cancelled.order_id)
    assert (code, out.strip()) == (0, "cancellation accepted"), err
    code, out, err = await placing
    assert code == 4, err
    assert json.loads(out[out.index("{") :])["phase"] == "cancelled"
    await assert_no_customer_created(admin, f"exitcancel{unique}")

    terminated = russian_order(f"exit-term-{unique}", f"exitterm{unique}")
    placing = asyncio.ensure_future(
        run(temporal, "order", "place", write(tmp_path, terminated), "--wait")
    )
    await until_placed_and_waiting(shop, terminated.order_id)
    await temporal.client.get_workflow_handle(order_workflow_id(terminated.order_id)).terminate()
    code, out, err = await placing
    assert code == 5, err
    assert json.loads(out[out.index("{") :])["phase"] == "failed"
    assert "ORDER_ABORTED" in err
    await assert_no_customer_created(admin, f"exitterm{unique}")


async def until_placed_and_waiting(shop: Storefront, order_id: str) -> None:
    async def placed() -> bool:  # the CLI places it
        try:
            await shop.status(order_id)
        except OrderNotFound:
            return False
        return True

    await eventually(placed, timeout=60, what=f"order {order_id} placed")
    await wait_for(shop, order_id, WaitingFor.TAX_ID)  # then it waits for its tax ID


async def test_licences_refused_exit_3_and_a_reused_request_id_exits_1(
    temporal: WorkflowEnvironment, worker: None, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("LicExit", f"licexit{unique}.onmicrosoft.com")
    instance = await admin.add_subscription(
        customer_id, f"{DYNAMICS_SALES}:CFQ7TTC0KHVK", quantity=10
    )
    add = ["licenses", "add", "--customer", customer_id]
    code, out, err = await run(
        temporal, *add, "--request-id", f"lx-{unique}", "--subscription", instance["id"],
        "--quantity", "2",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["quantity_after"] == 12
    code, _, err = await run(
        temporal, *add, "--request-id", f"lx-{unique}", "--subscription", instance["id"],
        "--quantity", "3",
    )  # fmt: skip
    assert code == 1
    assert f"Licence request lx-{unique} was already made" in err
    code, _, err = await run(
        temporal, *add, "--request-id", f"lx-none-{unique}", "--subscription",
        "00000000-0000-0000-0000-000000000000", "--quantity", "1",
    )  # fmt: skip
    assert code == 3
    assert err.startswith("SUBSCRIPTION_NOT_FOUND: ")
    assert [q for _, q, _ in (await holdings(admin, customer_id)).values()] == [12]


async def test_status_with_no_worker_is_the_last_known_phase_not_no_order(
    temporal: WorkflowEnvironment, unique: str
) -> None:
    """Nobody serves this queue: the order was placed, and the engine cannot answer for it."""
    queue = f"nobody-{unique}"
    document = russian_order(f"exit-busy-{unique}", f"exitbusy{unique}")
    await Storefront(temporal.client, task_queue=queue).place_order(document)
    try:
        code, _, err = await run(temporal, "order", "status", document.order_id, queue=queue)
        assert code == 1
        assert "There is no order" not in err
        assert "not answering" in err and "last known phase is received" in err
    finally:
        await temporal.client.get_workflow_handle(order_workflow_id(document.order_id)).terminate()
