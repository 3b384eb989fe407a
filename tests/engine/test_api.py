"""The storefronts' HTTP API (`csp-orders api`) over real HTTP on loopback, in front of the real
Temporal dev server, a worker and the Partner Center sandbox: placing and following orders, every
error class as problem details, isolation between storefronts, key rotation, the rate limit,
and what Partner Center holds after each refusal."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from google.protobuf.duration_pb2 import Duration
from starlette.exceptions import HTTPException as StarletteHTTPException
from structlog.testing import capture_logs
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from clients.contract import order_workflow_id
from clients.payloads import ACTIVE_VARIABLE, KEYS_VARIABLE, PLAINTEXT_SWITCH
from clients.storefront import Storefront
from devtools import samples
from ordering.config import EngineConfig
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import BackgroundServer, free_port
from sandbox.server import SandboxServer
from tests.engine.partner_center_state import assert_no_customer_created, holdings
from tests.helpers import (
    TASK_QUEUE,
    SandboxFactory,
    engine_config_for_tests,
    engine_worker,
    eventually,
)
from workers.api.server import api_app
from workers.storefronts import add_api_key, load_storefronts, revoke_api_key

PROBLEM = "application/problem+json"
EXISTING_TENANT = Path(__file__).parents[2] / "examples" / "existing-tenant.json"
A_DAY = 86_400


class Keys:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.a, _ = add_api_key(path, "shop-a", "a1")
        self.b, _ = add_api_key(path, "shop-b", "b1")
        self.slow, _ = add_api_key(path, "shop-slow", "s1")
        data = json.loads(path.read_text())
        data["storefronts"]["shop-slow"]["rate_limit_per_minute"] = 3
        path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("api") / "storefronts.json")


@pytest.fixture(scope="module")
def api_url(temporal: WorkflowEnvironment, worker: None, keys: Keys) -> Iterator[str]:
    address = temporal.client.service_client.config.target_host
    app = api_app(address, TASK_QUEUE, storefronts_file=keys.path)
    with BackgroundServer(app, name="storefront API") as server:
        yield server.base_url


@pytest.fixture
async def http(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        yield client


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An API of the test's own over HTTP on loopback, and a client for it."""
    with BackgroundServer(app, name="storefront API (the test's own)") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            yield http


def temporal_address(temporal: WorkflowEnvironment) -> str:
    return str(temporal.client.service_client.config.target_host)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def document(order: Any) -> dict[str, Any]:
    return dict(order.model_dump(mode="json", exclude_none=True))


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] == code, body
    assert body["type"].startswith("urn:csp-orders:problem:") and body["title"], body
    assert body["detail"] and "Traceback" not in response.text
    return body


async def place(http: httpx.AsyncClient, key: str, order: Any) -> None:
    placed = await http.post("/v1/orders", json=document(order), headers=auth(key))
    assert placed.status_code == 201, placed.text


async def phase_of(http: httpx.AsyncClient, key: str, order_id: str) -> str:
    response = await http.get(f"/v1/orders/{order_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    return str(response.json()["phase"])


async def until_phase(http: httpx.AsyncClient, key: str, order_id: str, phase: str) -> None:
    async def reached() -> bool:
        return await phase_of(http, key, order_id) == phase

    await eventually(reached, timeout=60, what=f"order {order_id} in phase {phase}")


# ---------------------------------------------------------------------- placing and following


async def test_an_order_placed_over_http_completes_and_placing_it_again_is_the_same_order(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    order = samples.order(f"api-{unique}", samples.new_customer(f"api{unique}"))
    placed = await http.post("/v1/orders", json=document(order), headers=auth(keys.a))
    assert placed.status_code == 201, placed.text
    assert placed.headers["location"] == f"/v1/orders/{order.order_id}"
    assert placed.json()["order_id"] == order.order_id and placed.json()["phase"] == "received"
    await until_phase(http, keys.a, order.order_id, "completed")

    again = await http.post("/v1/orders", json=document(order), headers=auth(keys.a))
    assert again.status_code == 200 and again.json()["phase"] == "completed", again.text
    customers = [
        c
        for c in (await admin.snapshot())["customers"]
        if c["domain"] == f"api{unique}.onmicrosoft.com"
    ]
    assert len(customers) == 1, "placing the same order again created nothing more"

    other = samples.order(order.order_id, samples.new_customer(f"apix{unique}"))
    conflict = await http.post("/v1/orders", json=document(other), headers=auth(keys.a))
    body = assert_problem(conflict, 409, "ORDER_ID_CONFLICT")
    assert order.order_id in body["detail"]
    await assert_no_customer_created(admin, f"apix{unique}")


async def test_a_tax_id_supplied_over_http_is_checked_and_the_order_then_completes(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    order = samples.russian_order(f"ru-{unique}", f"ru{unique}")
    await place(http, keys.a, order)
    await until_phase(http, keys.a, order.order_id, "waiting_for_tax_id")

    wrong = await http.post(
        f"/v1/orders/{order.order_id}/tax-id", json={"tax_id": "7707083890"}, headers=auth(keys.a)
    )
    body = assert_problem(wrong, 422, "TAX_ID_REJECTED")
    assert body["errors"][0]["field"] == "tax_id" and "7707083890" not in wrong.text
    await assert_no_customer_created(admin, f"ru{unique}")

    right = await http.post(
        f"/v1/orders/{order.order_id}/tax-id",
        json={"tax_id": samples.VALID_RU_TAX_ID},
        headers=auth(keys.a),
    )
    assert right.status_code == 200 and right.json() == {"accepted": True}, right.text
    await until_phase(http, keys.a, order.order_id, "completed")
    ended = await http.post(
        f"/v1/orders/{order.order_id}/tax-id",
        json={"tax_id": samples.VALID_RU_TAX_ID},
        headers=auth(keys.a),
    )
    assert_problem(ended, 409, "ORDER_ENDED")


async def test_an_order_cancelled_over_http_leaves_nothing_at_partner_center(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    order = samples.russian_order(f"cx-{unique}", f"cx{unique}")
    await place(http, keys.a, order)
    await until_phase(http, keys.a, order.order_id, "waiting_for_tax_id")
    cancelled = await http.post(
        f"/v1/orders/{order.order_id}/cancel", json={"reason": "changed mind"}, headers=auth(keys.a)
    )
    assert cancelled.status_code == 200, cancelled.text
    await until_phase(http, keys.a, order.order_id, "cancelled")
    await assert_no_customer_created(admin, f"cx{unique}")
    again = await http.post(f"/v1/orders/{order.order_id}/cancel", headers=auth(keys.a))
    assert_problem(again, 409, "ORDER_ENDED")


async def test_a_cancellation_once_the_purchase_started_is_refused_and_the_purchase_stands(
    temporal: WorkflowEnvironment, make_sandbox: SandboxFactory, keys: Keys, unique: str
) -> None:
    """Microsoft provisions slowly (a sandbox of the test's own, whose clock it moves): the
    order is past its point of no return, so a cancellation is 409 CANCEL_REJECTED, and what it
    bought is bought."""
    sandbox = make_sandbox(provisioning_delay_seconds=A_DAY)
    queue = f"{TASK_QUEUE}-late-{unique}"
    async with (
        contextlib.aclosing(SandboxAdmin(sandbox.base_url)) as admin,
        engine_worker(temporal.client, sandbox, task_queue=queue),
        served(api_app(temporal_address(temporal), queue, storefronts_file=keys.path)) as http,
    ):
        customer_id = await admin.add_customer("Late Ltd", f"late{unique}.onmicrosoft.com")
        order = samples.order(
            f"late-{unique}",
            samples.known_customer(customer_id),
            samples.line(samples.OFFICE_E3, 2),
        )
        await place(http, keys.a, order)
        await until_phase(http, keys.a, order.order_id, "provisioning")
        refused = await http.post(
            f"/v1/orders/{order.order_id}/cancel", json={"reason": "too late"}, headers=auth(keys.a)
        )
        body = assert_problem(refused, 409, "CANCEL_REJECTED")
        assert "can no longer be cancelled" in body["detail"], body

        await admin.advance_clock(A_DAY)
        await until_phase(http, keys.a, order.order_id, "completed")
        held = await holdings(admin, customer_id)
    assert [(quantity, status) for _, quantity, status in held.values()] == [(2, "active")], held


async def test_an_existing_tenants_order_goes_on_when_told_the_relationship_was_accepted(
    temporal: WorkflowEnvironment,
    shop_with: Callable[[EngineConfig], Awaitable[Storefront]],
    keys: Keys,
    admin: SandboxAdmin,
    unique: str,
) -> None:
    """examples/existing-tenant.json, for a tenant of its own: the order waits for the reseller
    relationship. This worker asks Partner Center only hourly, so the order goes on within the
    test only because the storefront's nudge (202) made it ask at once."""
    config = engine_config_for_tests()
    hourly = config.waits.model_copy(update={"relationship_poll_every": timedelta(hours=1)})
    worker = await shop_with(config.model_copy(update={"waits": hourly}))
    domain = f"nw{unique}.onmicrosoft.com"
    tenant_id = await admin.add_tenant(domain, "Northwind Traders")
    example = json.loads(EXISTING_TENANT.read_text())
    order_id = example["order_id"] = f"nw-{unique}"
    example["customer"]["domain"] = domain
    app = api_app(temporal_address(temporal), worker.task_queue, storefronts_file=keys.path)
    async with served(app) as http:
        placed = await http.post("/v1/orders", json=example, headers=auth(keys.a))
        assert placed.status_code == 201, placed.text
        await until_phase(http, keys.a, order_id, "waiting_for_relationship")
        await admin.accept_relationship(domain)
        nudged = await http.post(
            f"/v1/orders/{order_id}/relationship-accepted", headers=auth(keys.a)
        )
        assert nudged.status_code == 202 and nudged.json() == {"accepted": True}, nudged.text
        await until_phase(http, keys.a, order_id, "completed")
        status = (await http.get(f"/v1/orders/{order_id}", headers=auth(keys.a))).json()
    assert status["customer_id"] == tenant_id
    held = await holdings(admin, tenant_id)
    [line] = example["lines"]
    assert list(held.values()) == [
        (samples.catalog_item(line["offer"]), line["quantity"], "active")
    ], held


async def test_a_dry_run_over_http_reports_the_refusal_and_changes_nothing(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    order = samples.order(f"dry-{unique}", samples.new_customer(f"dry{unique}", tax_id="12"))
    checked = await http.post("/v1/orders/validate", json=document(order), headers=auth(keys.a))
    # (documented: 200 with the report, the refusal the order would end with included)
    assert checked.status_code == 200, checked.text
    report = checked.json()
    assert report["valid"] is False and report["order_id"] == order.order_id
    assert report["refusal"]["code"] == "CUSTOMER_REJECTED", report
    assert "5 to 22 characters" in report["refusal"]["message"], report
    await assert_no_customer_created(admin, f"dry{unique}")
    nothing = await http.get(f"/v1/orders/{order.order_id}", headers=auth(keys.a))
    assert_problem(nothing, 404, "ORDER_NOT_FOUND")


async def test_licences_are_requested_and_followed_over_http(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Lic Ltd", f"lic{unique}.onmicrosoft.com")
    subscription = await admin.add_subscription(
        customer_id, samples.catalog_item(samples.DYNAMICS_SALES), quantity=3
    )
    request = {
        "request_id": f"lr-{unique}",
        "customer_id": customer_id,
        "subscription_id": subscription["id"],
        "quantity": 2,
    }
    started = await http.post("/v1/licence-requests", json=request, headers=auth(keys.a))
    assert started.status_code == 202, started.text
    assert started.headers["location"] == f"/v1/licence-requests/lr-{unique}"

    async def done() -> dict[str, Any] | None:
        got = await http.get(f"/v1/licence-requests/lr-{unique}", headers=auth(keys.a))
        assert got.status_code == 200, got.text
        return got.json() if got.json()["state"] != "running" else None

    state = await eventually(done, timeout=60, what="the licence request ended")
    assert state["state"] == "completed", state
    assert (state["outcome"]["quantity_before"], state["outcome"]["quantity_after"]) == (3, 5)
    held = [s for s in (await admin.snapshot())["subscriptions"] if s["id"] == subscription["id"]]
    assert held[0]["quantity"] == 5

    theirs = await http.get(f"/v1/licence-requests/lr-{unique}", headers=auth(keys.b))
    body = assert_problem(theirs, 404, "LICENCE_REQUEST_NOT_FOUND")
    assert body["detail"] == f"There is no licence request lr-{unique}."

    again = await http.post("/v1/licence-requests", json=request, headers=auth(keys.a))
    assert again.status_code == 200 and again.json()["state"] == "completed", again.text
    other = await http.post(
        "/v1/licence-requests", json={**request, "quantity": 7}, headers=auth(keys.a)
    )
    assert_problem(other, 409, "REQUEST_ID_CONFLICT")
    held = [s for s in (await admin.snapshot())["subscriptions"] if s["id"] == subscription["id"]]
    assert held[0]["quantity"] == 5, "the conflicting request changed nothing"


async def test_orders_are_listed_by_phase_and_customer_page_by_page(
    http: httpx.AsyncClient, keys: Keys, unique: str
) -> None:
    ids = [f"ls{n}-{unique}" for n in range(3)]
    for n, order_id in enumerate(ids):
        order = samples.russian_order(order_id, f"ls{n}{unique}")
        await place(http, keys.b, order)
    for order_id in ids:
        await until_phase(http, keys.b, order_id, "waiting_for_tax_id")

    async def listed() -> list[str] | None:
        seen: list[str] = []
        token: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"phase": "waiting_for_tax_id", "page_size": 2}
            if token:
                params["page_token"] = token
            page = await http.get("/v1/orders", params=params, headers=auth(keys.b))
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["orders"]) <= 2
            assert all(o["phase"] == "waiting_for_tax_id" for o in body["orders"]), body
            seen += [o["order_id"] for o in body["orders"]]
            pages += 1
            token = body.get("next_page_token")
            if not token:
                break
        return seen if set(ids) <= set(seen) and pages >= 2 else None

    seen = await eventually(listed, timeout=30, what="the three orders listed over pages")
    assert len(seen) == len(set(seen)), "no order listed twice"
    mine = await http.get(
        "/v1/orders", params={"phase": "waiting_for_tax_id"}, headers=auth(keys.a)
    )
    assert not set(ids) & {o["order_id"] for o in mine.json()["orders"]}, "shop-a sees none"
    for order_id in ids:
        await http.post(f"/v1/orders/{order_id}/cancel", headers=auth(keys.b))


async def test_a_page_token_the_api_did_not_give_out_is_refused_at_once(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    # (Temporal's client would retry a forged token for the whole answer timeout before it
    # fails: the API checks its own signature on it first, and Temporal never sees it)
    for forged in ("AAAA", "0wBhYmM=", "eyJhIjoxfQ==~AAAAAAAAAAAAAAAAAAAAAAAA"):
        answer = await http.get("/v1/orders", params={"page_token": forged}, headers=auth(keys.b))
        body = assert_problem(answer, 422, "INVALID_INPUT")
        assert [e["field"] for e in body["errors"]] == ["page_token"]


async def test_a_list_temporal_refuses_is_a_503_as_placing_is_never_a_page_token_problem(
    temporal: WorkflowEnvironment, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    """A namespace without the `Csp*` search attributes (README: register them before the first
    API order): Temporal refuses the list's query and the order's start alike."""
    namespace = f"csp-bare-{unique}"
    await temporal.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=A_DAY)
        )
    )
    bare = Client(temporal.client.service_client, namespace=namespace)

    async def served_by_temporal() -> bool:  # (its frontend learns of a namespace in seconds)
        with contextlib.suppress(Exception):
            await bare.count_workflows()
            return True
        return False

    await eventually(served_by_temporal, what=f"namespace {namespace} served")
    app = api_app(
        temporal_address(temporal), TASK_QUEUE, namespace=namespace, storefronts_file=keys.path
    )
    order = samples.order(f"bare-{unique}", samples.new_customer(f"bare{unique}"))
    async with served(app) as http:
        listed = await http.get("/v1/orders", headers=auth(keys.a))
        placed = await http.post("/v1/orders", json=document(order), headers=auth(keys.a))
    body = assert_problem(listed, 503, "ENGINE_BUSY")
    assert "errors" not in body and "page_token" not in listed.text, body
    assert int(listed.headers["retry-after"]) >= 1
    assert_problem(placed, 503, "ENGINE_BUSY")
    await assert_no_customer_created(admin, f"bare{unique}")


async def test_orders_are_listed_by_customer(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("By Cust Ltd", f"bycust{unique}.onmicrosoft.com")
    order = samples.order(f"bc-{unique}", samples.known_customer(customer_id))
    await place(http, keys.b, order)

    async def listed() -> bool:
        page = await http.get(
            "/v1/orders", params={"customer_id": customer_id.upper()}, headers=auth(keys.b)
        )
        assert page.status_code == 200, page.text
        return [o["order_id"] for o in page.json()["orders"]] == [order.order_id]

    await eventually(listed, timeout=30, what="the order listed by its customer id")


# ---------------------------------------------------------------------- isolation


async def test_a_storefront_never_sees_or_touches_another_storefronts_orders(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    order = samples.russian_order(f"iso-{unique}", f"iso{unique}")
    await place(http, keys.a, order)
    await until_phase(http, keys.a, order.order_id, "waiting_for_tax_id")

    unknown = await http.get(f"/v1/orders/never-{unique}", headers=auth(keys.b))
    unknown_body = assert_problem(unknown, 404, "ORDER_NOT_FOUND")
    theirs = await http.get(f"/v1/orders/{order.order_id}", headers=auth(keys.b))
    body = assert_problem(theirs, 404, "ORDER_NOT_FOUND")
    assert body["detail"] == unknown_body["detail"].replace(f"never-{unique}", order.order_id)
    for path, payload in (
        ("tax-id", {"tax_id": samples.VALID_RU_TAX_ID}),
        ("cancel", {}),
        ("relationship-accepted", None),
    ):
        touched = await http.post(
            f"/v1/orders/{order.order_id}/{path}", json=payload, headers=auth(keys.b)
        )
        assert_problem(touched, 404, "ORDER_NOT_FOUND")
    # shop-a's order went on waiting, untouched: no tax ID taken, not cancelled
    status = (await http.get(f"/v1/orders/{order.order_id}", headers=auth(keys.a))).json()
    assert status["phase"] == "waiting_for_tax_id" and status["waiting"]["what"] == "tax_id"
    await assert_no_customer_created(admin, f"iso{unique}")

    # the same order id is shop-b's own order: a second, separate run and customer, and
    # Partner Center request ids of its own (were they shared, shop-a's creation below would
    # get shop-b's customer back as the answer to "its" request)
    same_id = samples.order(order.order_id, samples.new_customer(f"isob{unique}"))
    placed = await http.post("/v1/orders", json=document(same_id), headers=auth(keys.b))
    assert placed.status_code == 201, placed.text
    await until_phase(http, keys.b, order.order_id, "completed")
    assert await phase_of(http, keys.a, order.order_id) == "waiting_for_tax_id"
    await http.post(
        f"/v1/orders/{order.order_id}/tax-id",
        json={"tax_id": samples.VALID_RU_TAX_ID},
        headers=auth(keys.a),
    )
    await until_phase(http, keys.a, order.order_id, "completed")
    a = (await http.get(f"/v1/orders/{order.order_id}", headers=auth(keys.a))).json()
    b = (await http.get(f"/v1/orders/{order.order_id}", headers=auth(keys.b))).json()
    assert a["customer_id"] != b["customer_id"]
    domains = {c["id"]: c["domain"] for c in (await admin.snapshot())["customers"]}
    assert domains[a["customer_id"]] == f"iso{unique}.onmicrosoft.com"
    assert domains[b["customer_id"]] == f"isob{unique}.onmicrosoft.com"


async def test_the_storefront_is_in_the_workflow_id_and_a_search_attribute(
    http: httpx.AsyncClient, keys: Keys, temporal: WorkflowEnvironment, unique: str
) -> None:
    order = samples.russian_order(f"wid-{unique}", f"wid{unique}")
    await place(http, keys.a, order)
    handle = temporal.client.get_workflow_handle(order_workflow_id(order.order_id, "shop-a"))
    description = await handle.describe()
    assert description.id == f"order-shop-a/{order.order_id}"
    assert description.search_attributes["CspStorefront"] == ["shop-a"]
    await http.post(f"/v1/orders/{order.order_id}/cancel", headers=auth(keys.a))


# ---------------------------------------------------------------------- keys and limits


async def test_a_key_is_rotated_without_a_restart(
    http: httpx.AsyncClient, keys: Keys, unique: str
) -> None:
    new_key, _ = add_api_key(keys.path, "shop-a", f"a2{unique[:6]}")
    assert "sha256" in keys.path.read_text() and new_key not in keys.path.read_text()

    async def accepted(key: str) -> bool:
        return (await http.get("/v1/orders", headers=auth(key))).status_code == 200

    await eventually(lambda: accepted(new_key), timeout=10, what="the new key accepted")
    assert await accepted(keys.a), "the old key works until it is revoked"
    revoke_api_key(keys.path, "shop-a", f"a2{unique[:6]}")

    async def refused() -> bool:
        return (await http.get("/v1/orders", headers=auth(new_key))).status_code == 401

    await eventually(refused, timeout=10, what="the revoked key refused")
    assert await accepted(keys.a)
    assert [k.id for k in load_storefronts(keys.path).storefronts["shop-a"].api_keys] == ["a1"]


async def test_past_the_rate_limit_a_key_gets_429_with_retry_after(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    answers = [await http.get("/v1/orders", headers=auth(keys.slow)) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    body = assert_problem(answers[3], 429, "RATE_LIMITED")
    assert int(answers[3].headers["retry-after"]) >= 1 and body["detail"]
    # another storefront's key is not limited by it
    assert (await http.get("/v1/orders", headers=auth(keys.b))).status_code == 200


# ---------------------------------------------------------------------- every error class


async def test_every_error_is_a_problem_document(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    assert_problem(await http.get("/v1/orders"), 401, "UNAUTHORIZED")
    assert_problem(await http.get("/v1/orders", headers=auth("csp_a1.wrong")), 401, "UNAUTHORIZED")
    assert_problem(
        await http.get("/v1/orders", headers={"Authorization": "Basic abc"}), 401, "UNAUTHORIZED"
    )
    assert (await http.get("/v1/orders")).headers["www-authenticate"].startswith("Bearer")
    not_ascii = {b"Authorization": "Bearer csp_\xe9.abc".encode("latin-1")}
    assert_problem(await http.get("/v1/orders", headers=not_ascii), 401, "UNAUTHORIZED")
    assert_problem(await http.get("/v1/nothing", headers=auth(keys.a)), 404, "NOT_FOUND")
    not_allowed = await http.delete("/v1/orders", headers=auth(keys.a))
    assert_problem(not_allowed, 405, "METHOD_NOT_ALLOWED")
    assert "Allow" in not_allowed.headers  # (RFC 9110: a 405 says what the resource allows)
    assert_problem(
        await http.get("/v1/orders/bad%20id", headers=auth(keys.a)), 422, "INVALID_INPUT"
    )
    assert_problem(
        await http.get("/v1/orders", params={"page_size": 0}, headers=auth(keys.a)),
        422,
        "INVALID_INPUT",
    )
    assert_problem(
        await http.get("/v1/orders", params={"phase": "nope"}, headers=auth(keys.a)),
        422,
        "INVALID_INPUT",
    )
    assert_problem(
        await http.post(
            "/v1/orders",
            content=b"<order/>",
            headers={**auth(keys.a), "content-type": "application/xml"},
        ),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    assert_problem(
        await http.post(
            "/v1/orders",
            content=b"[" * 300_000,
            headers={**auth(keys.a), "content-type": "application/json"},
        ),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    not_json = assert_problem(
        await http.post(
            "/v1/orders", content=b"{", headers={**auth(keys.a), "content-type": "application/json"}
        ),
        422,
        "INVALID_INPUT",
    )
    assert [e["field"] for e in not_json["errors"]] == ["body"], not_json


async def test_the_frameworks_refusals_keep_their_status(
    temporal: WorkflowEnvironment, keys: Keys
) -> None:
    app = api_app(temporal_address(temporal), TASK_QUEUE, storefronts_file=keys.path)

    @app.get("/v1/refused/{status}", include_in_schema=False)
    async def refused(status: int) -> None:  # as the framework refuses a request
        raise StarletteHTTPException(status)

    async with served(app) as http:
        for status, code in (
            (400, "BAD_REQUEST"),
            (413, "PAYLOAD_TOO_LARGE"),
            (404, "NOT_FOUND"),
            (405, "METHOD_NOT_ALLOWED"),
        ):
            answer = await http.get(f"/v1/refused/{status}")
            body = assert_problem(answer, status, code)
            assert body["title"] == HTTPStatus(status).phrase, body
            assert body["detail"] != HTTPStatus(status).phrase, "a sentence of the API's own"


async def test_without_payload_keys_the_customer_gets_503_and_the_operator_the_reason(
    temporal: WorkflowEnvironment,
    keys: Keys,
    admin: SandboxAdmin,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (KEYS_VARIABLE, ACTIVE_VARIABLE, PLAINTEXT_SWITCH):
        monkeypatch.delenv(name, raising=False)
    operator = "Orders carry personal data and are only sent encrypted"
    order = samples.order(f"nokeys-{unique}", samples.new_customer(f"nokeys{unique}"))
    with capture_logs() as logs:
        app = api_app(temporal_address(temporal), TASK_QUEUE, storefronts_file=keys.path)
        async with served(app) as http:
            placed = await http.post("/v1/orders", json=document(order), headers=auth(keys.a))
            listed = await http.get("/v1/orders", headers=auth(keys.a))
    for answer in (placed, listed):
        assert_problem(answer, 503, "ENGINE_UNREACHABLE")
        assert int(answer.headers["retry-after"]) >= 1
        assert operator not in answer.text and KEYS_VARIABLE not in answer.text, answer.text
    said = [e for e in logs if e.get("event") == "payload keys missing"]
    assert said and operator in said[0]["reason"] and KEYS_VARIABLE in said[0]["reason"], logs
    await assert_no_customer_created(admin, f"nokeys{unique}")


async def test_with_no_worker_polling_an_order_is_503_engine_busy_with_its_last_phase(
    temporal: WorkflowEnvironment, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    queue = f"{TASK_QUEUE}-nobody-{unique}"  # no worker polls it
    order = samples.russian_order(f"idle-{unique}", f"idle{unique}")
    async with served(
        api_app(temporal_address(temporal), queue, storefronts_file=keys.path)
    ) as http:
        await place(http, keys.a, order)  # (a start needs no worker)
        busy = await http.get(f"/v1/orders/{order.order_id}", headers=auth(keys.a))
    body = assert_problem(busy, 503, "ENGINE_BUSY")
    assert body["last_known_phase"] == "received" and order.order_id in body["detail"], body
    assert int(busy.headers["retry-after"]) >= 1
    await assert_no_customer_created(admin, f"idle{unique}")
    await temporal.client.get_workflow_handle(
        order_workflow_id(order.order_id, "shop-a")
    ).terminate()


async def test_an_invalid_order_names_every_field_and_echoes_nothing(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    order = document(samples.order(f"bad-{unique}", samples.new_customer(f"bad{unique}")))
    order["customer"]["email"] = "not-an-email-secret-value"
    order["lines"][0]["quantity"] = "3"
    response = await http.post("/v1/orders", json=order, headers=auth(keys.a))
    body = assert_problem(response, 422, "INVALID_INPUT")
    fields = {e["field"]: e["reason"] for e in body["errors"]}
    assert set(fields) == {"customer.email", "lines[0].quantity"}, fields
    assert "not-an-email-secret-value" not in response.text
    await assert_no_customer_created(admin, f"bad{unique}")
    status = await http.get(f"/v1/orders/bad-{unique}", headers=auth(keys.a))
    assert_problem(status, 404, "ORDER_NOT_FOUND")


async def test_the_served_openapi_document_is_the_committed_one(http: httpx.AsyncClient) -> None:
    committed = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
    served = await http.get("/openapi.json")
    assert served.status_code == 200 and served.json() == committed


async def test_the_relationship_nudges_answer_is_not_named_a_cancellation(
    http: httpx.AsyncClient,
) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]

    def schema(path: str, status: str) -> Any:
        return paths[path]["post"]["responses"][status]["content"]["application/json"]["schema"]

    nudge = schema("/v1/orders/{order_id}/relationship-accepted", "202")
    assert nudge == {"$ref": "#/components/schemas/RelationshipNudgeTaken"}, nudge
    assert nudge != schema("/v1/orders/{order_id}/cancel", "200")


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).json() == {"status": "ready"}


async def test_without_temporal_the_api_answers_503_and_is_not_ready(
    keys: Keys, unique: str
) -> None:
    app = api_app(f"127.0.0.1:{free_port()}", TASK_QUEUE, storefronts_file=keys.path)
    with BackgroundServer(app, name="API without Temporal") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert_problem(await http.get("/readyz"), 503, "ENGINE_UNREACHABLE")
            order = samples.order(f"down-{unique}", samples.new_customer(f"down{unique}"))
            placed = await http.post("/v1/orders", json=document(order), headers=auth(keys.a))
            assert_problem(placed, 503, "ENGINE_UNREACHABLE")
            assert int(placed.headers["retry-after"]) >= 1
            assert_problem(
                await http.get("/v1/orders", headers=auth(keys.a)), 503, "ENGINE_UNREACHABLE"
            )


async def test_the_api_logs_no_personal_data(
    http: httpx.AsyncClient, keys: Keys, unique: str, engine_sandbox: SandboxServer
) -> None:
    """Whatever is logged while the API takes an order, a wrong and a right tax ID and an
    invalid order carrying personal data in a wrong field: access lines and everything else
    (the worker's Partner Center call lines aside: they name the path Partner Center was asked,
    the engine's own logs, docs/SECURITY.md)."""
    order = samples.russian_order(f"log-{unique}", f"log{unique}")
    invalid = document(samples.order(f"logbad-{unique}", samples.new_customer(f"logb{unique}")))
    invalid["customer"]["phone"] = {"number": "+7 495 123-45-67"}
    with capture_logs() as logs:
        await http.post("/v1/orders", json=document(order), headers=auth(keys.a))
        await until_phase(http, keys.a, order.order_id, "waiting_for_tax_id")
        await http.post(
            f"/v1/orders/{order.order_id}/tax-id",
            json={"tax_id": samples.INVALID_RU_TAX_ID},
            headers=auth(keys.a),
        )
        await http.post(
            f"/v1/orders/{order.order_id}/tax-id",
            json={"tax_id": samples.VALID_RU_TAX_ID},
            headers=auth(keys.a),
        )
        assert (
            await http.post("/v1/orders", json=invalid, headers=auth(keys.a))
        ).status_code == 422
        await until_phase(http, keys.a, order.order_id, "completed")
    access = [entry for entry in logs if entry.get("event") == "request"]
    assert len(access) >= 5, logs
    assert {"/v1/orders", "/v1/orders/{order_id}/tax-id"} <= {e["route"] for e in access}
    text = "\n".join(
        json.dumps(entry, default=str)
        for entry in logs
        if entry.get("event") != "partner_center.call"
    )
    personal_data = (
        samples.VALID_RU_TAX_ID,
        samples.INVALID_RU_TAX_ID,
        "it@example.com",
        f"log{unique}",
        f"logb{unique}",
        "Tverskaya",
        "123-45-67",
        "Lovelace",
    )
    for personal in (*personal_data, keys.a):
        assert personal not in text, personal
