"""After the purchase over the storefront API (`csp-orders api`), over real HTTP on loopback, in
front of the real Temporal dev server, the session's worker and its Partner Center sandbox (whose
clock is never moved here: every purchase is within its 168-hour refund window):
`POST /v1/orders/{order_id}/lines/{line}/cancel-subscription`, `.../lines/{line}/reduce` and
`.../payment-failed`, each refusal as problem details with the refusal's code, and what Partner
Center holds after every answer.

README lines covered: the `curl` lines of the storefront API's "after the purchase" routes
(`DOCUMENTED`, run as written with the port and the order id substituted)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from devtools import samples
from devtools.samples import BUSINESS_BASIC, BUSINESS_STANDARD, OFFICE_E3
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import BackgroundServer
from tests.engine.partner_center_state import assert_no_customer_created, holdings
from tests.helpers import TASK_QUEUE, eventually
from workers.api.server import api_app
from workers.storefronts import add_api_key

PROBLEM = "application/problem+json"
ROOT = Path(__file__).parent.parent.parent
EXAMPLE = ROOT / "examples" / "new-customer.json"  # lines[0] 10 Business Basic, lines[1] 5 E3
# As README.md documents them (the dev stack's API on 8090, its order shop-1001):
DOCUMENTED = (
    'curl -s -X POST http://127.0.0.1:8090/v1/orders -H "Authorization: Bearer $CSP_API_KEY" '
    "-H 'Content-Type: application/json' --data @examples/new-customer.json",
    "curl -s -X POST http://127.0.0.1:8090/v1/orders/shop-1001/lines/0/reduce "
    "-H \"Authorization: Bearer $CSP_API_KEY\" -H 'Content-Type: application/json' "
    "-d '{\"quantity\": 3}'",
    "curl -s -X POST http://127.0.0.1:8090/v1/orders/shop-1001/lines/1/cancel-subscription "
    '-H "Authorization: Bearer $CSP_API_KEY"',
    "curl -s -X POST http://127.0.0.1:8090/v1/orders/shop-1001/payment-failed "
    '-H "Authorization: Bearer $CSP_API_KEY"',
)


class Keys:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.a, _ = add_api_key(path, "life-a", "a1")
        self.b, _ = add_api_key(path, "life-b", "b1")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("api-lifecycle") / "storefronts.json")


@pytest.fixture(scope="module")
def api_url(temporal: WorkflowEnvironment, worker: None, keys: Keys) -> Iterator[str]:
    address = temporal.client.service_client.config.target_host
    app = api_app(address, TASK_QUEUE, storefronts_file=keys.path)
    with BackgroundServer(app, name="storefront API (after the purchase)") as server:
        yield server.base_url


@pytest.fixture
async def http(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=60) as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] == code, body
    assert body["type"].startswith("urn:csp-orders:problem:") and body["title"], body
    assert body["detail"] and "Traceback" not in response.text
    return body


async def bought(http: httpx.AsyncClient, key: str, order: Any) -> dict[str, Any]:
    """The order placed over HTTP and completed: its status."""
    placed = await http.post(
        "/v1/orders", json=order.model_dump(mode="json", exclude_none=True), headers=auth(key)
    )
    assert placed.status_code == 201, placed.text

    async def ended() -> dict[str, Any] | None:
        status = await http.get(f"/v1/orders/{order.order_id}", headers=auth(key))
        assert status.status_code == 200, status.text
        body: dict[str, Any] = status.json()
        return body if body["phase"] in ("completed", "refused", "failed", "cancelled") else None

    status = await eventually(ended, timeout=60, what=f"order {order.order_id} ended")
    assert status["phase"] == "completed", status
    return status


async def customer_with_basic(admin: SandboxAdmin, unique: str, seats: int) -> tuple[str, str]:
    """A customer of the partner's with a monthly Business Basic of `seats` of its own."""
    customer_id = await admin.add_customer(f"Apil {unique}", f"apil{unique}.onmicrosoft.com")
    subscription = await admin.add_subscription(
        customer_id, samples.catalog_item(BUSINESS_BASIC), quantity=seats, billingCycle="monthly"
    )
    return customer_id, str(subscription["id"])


def lifecycle_routes(order_id: str) -> list[tuple[str, dict[str, Any] | None]]:
    return [
        (f"/v1/orders/{order_id}/lines/0/cancel-subscription", None),
        (f"/v1/orders/{order_id}/lines/0/reduce", {"quantity": 1}),
        (f"/v1/orders/{order_id}/payment-failed", None),
    ]


# ---------------------------------------------------------------------- cancel


async def test_a_subscription_the_order_created_is_cancelled_and_only_by_its_storefront(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    order = samples.order(
        f"al-c-{unique}", samples.new_customer(f"alc{unique}"), samples.line(BUSINESS_STANDARD, 2)
    )
    status = await bought(http, keys.a, order)
    customer_id = status["customer_id"]
    subscription_id = status["lines"][0]["subscription_id"]
    assert status["lines"][0]["refund_window_closes_at"], status

    # another storefront: the same order id is no order of its own (404, nothing changed)
    for path, body in lifecycle_routes(order.order_id):
        theirs = await http.post(path, json=body, headers=auth(keys.b))
        problem = assert_problem(theirs, 404, "ORDER_NOT_FOUND")
        assert problem["detail"] == f"There is no order {order.order_id}."
    assert (await holdings(admin, customer_id))[subscription_id][1:] == (2, "active")

    cancelled = await http.post(
        f"/v1/orders/{order.order_id}/lines/0/cancel-subscription", headers=auth(keys.a)
    )

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {
        "order_id": order.order_id,
        "line": 0,
        "subscription_id": subscription_id,
        "cancelled": True,
        "quantity_before": 2,
        "quantity_after": 2,  # (a cancelled subscription keeps its count, status deleted)
    }
    assert (await holdings(admin, customer_id))[subscription_id][2] == "deleted"

    again = await http.post(
        f"/v1/orders/{order.order_id}/lines/0/cancel-subscription", headers=auth(keys.a)
    )
    assert_problem(again, 409, "SUBSCRIPTION_NOT_ACTIVE")
    assert (await holdings(admin, customer_id))[subscription_id][2] == "deleted"


# ---------------------------------------------------------------------- reduce


async def test_a_reduction_takes_back_only_the_orders_licences_and_invalid_input_names_the_field(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    customer_id, basic = await customer_with_basic(admin, unique, seats=5)
    order = samples.order(
        f"al-r-{unique}", samples.known_customer(customer_id), samples.line(BUSINESS_BASIC, 3)
    )
    status = await bought(http, keys.a, order)
    assert status["lines"][0]["subscription_id"] == basic
    assert (await holdings(admin, customer_id))[basic][1] == 8
    reduce = f"/v1/orders/{order.order_id}/lines/0/reduce"

    too_many = await http.post(reduce, json={"quantity": 4}, headers=auth(keys.a))

    body = assert_problem(too_many, 409, "QUANTITY_REDUCTION_NOT_ALLOWED")
    assert "nothing was changed" in body["detail"]
    assert (await holdings(admin, customer_id))[basic][1:] == (8, "active")

    cancel = await http.post(
        f"/v1/orders/{order.order_id}/lines/0/cancel-subscription", headers=auth(keys.a)
    )
    assert_problem(cancel, 409, "NOT_CANCELLABLE")  # it added licences: it did not create it
    assert (await holdings(admin, customer_id))[basic][1:] == (8, "active")

    for invalid in ({"quantity": 0}, {"quantity": 10_001}, {"quantity": "2"}, {"quantity": 2.5}):
        refused = await http.post(reduce, json=invalid, headers=auth(keys.a))
        problem = assert_problem(refused, 422, "INVALID_INPUT")
        assert [e["field"] for e in problem["errors"]] == ["quantity"], problem
    missing = await http.post(reduce, json={}, headers=auth(keys.a))
    assert assert_problem(missing, 422, "INVALID_INPUT")["errors"] == [
        {"field": "quantity", "reason": "is required"}
    ]
    unknown = await http.post(reduce, json={"quantity": 1, "seats": 1}, headers=auth(keys.a))
    assert [e["field"] for e in assert_problem(unknown, 422, "INVALID_INPUT")["errors"]] == [
        "seats"
    ]
    for bad_line in ("50", "-1", "x"):
        refused = await http.post(
            f"/v1/orders/{order.order_id}/lines/{bad_line}/reduce",
            json={"quantity": 1},
            headers=auth(keys.a),
        )
        problem = assert_problem(refused, 422, "INVALID_INPUT")
        assert [e["field"] for e in problem["errors"]] == ["line"], problem
    assert (await holdings(admin, customer_id))[basic][1:] == (8, "active")

    bad_key = await http.post(
        reduce, json={"quantity": 2}, headers={**auth(keys.a), "Idempotency-Key": "a b"}
    )
    assert [e["field"] for e in assert_problem(bad_key, 422, "INVALID_INPUT")["errors"]] == [
        "Idempotency-Key"
    ]
    assert (await holdings(admin, customer_id))[basic][1:] == (8, "active")

    keyed = {**auth(keys.a), "Idempotency-Key": f"reduce-{unique}"}
    change = await http.post(reduce, json={"quantity": 2}, headers=keyed)

    assert change.status_code == 200, change.text
    assert change.json() == {
        "order_id": order.order_id,
        "line": 0,
        "subscription_id": basic,
        "cancelled": False,
        "quantity_before": 8,
        "quantity_after": 6,
    }
    assert (await holdings(admin, customer_id))[basic][1:] == (6, "active")
    # retried with the same key (the answer was lost to a timeout): the same change, once
    again = await http.post(reduce, json={"quantity": 2}, headers=keyed)
    assert (again.status_code, again.json()) == (200, change.json())
    assert (await holdings(admin, customer_id))[basic][1:] == (6, "active")


# ---------------------------------------------------------------------- payment failed


async def test_a_failed_payment_undoes_exactly_the_orders_lines_and_says_what_it_could_not(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    customer_id, basic = await customer_with_basic(admin, unique, seats=5)
    order = samples.order(
        f"al-p-{unique}",
        samples.known_customer(customer_id),
        samples.line(BUSINESS_BASIC, 2),
        samples.line(BUSINESS_STANDARD, 4),
    )
    status = await bought(http, keys.a, order)
    standard = status["lines"][1]["subscription_id"]
    held = await holdings(admin, customer_id)
    assert (held[basic][1], held[standard][1:]) == (7, (4, "active"))

    failed = await http.post(f"/v1/orders/{order.order_id}/payment-failed", headers=auth(keys.a))

    assert failed.status_code == 200, failed.text
    outcome = failed.json()
    assert outcome["order_id"] == order.order_id and outcome["not_undone"] == []
    assert sorted(
        (c["line"], c["subscription_id"], c["cancelled"], c["quantity_after"])
        for c in outcome["undone"]
    ) == [(0, basic, False, 5), (1, standard, True, 4)]
    held = await holdings(admin, customer_id)
    assert held[basic][1:] == (5, "active")  # the customer's own 5 stay
    assert held[standard][2] == "deleted"

    again = await http.post(f"/v1/orders/{order.order_id}/payment-failed", headers=auth(keys.a))

    # told again (a retry): the same answer, and nothing more undone
    assert again.status_code == 200, again.text
    assert again.json() == outcome
    assert await holdings(admin, customer_id) == held


# ---------------------------------------------------------------------- not finished, unknown


async def test_an_order_still_running_is_refused_and_partner_center_is_untouched(
    http: httpx.AsyncClient, keys: Keys, admin: SandboxAdmin, unique: str
) -> None:
    order = samples.russian_order(f"al-w-{unique}", f"alw{unique}")
    placed = await http.post(
        "/v1/orders", json=order.model_dump(mode="json", exclude_none=True), headers=auth(keys.a)
    )
    assert placed.status_code == 201, placed.text

    async def waiting() -> bool:
        status = await http.get(f"/v1/orders/{order.order_id}", headers=auth(keys.a))
        return bool(status.json()["phase"] == "waiting_for_tax_id")

    await eventually(waiting, timeout=60, what="the order waiting for its tax ID")
    try:
        for path, body in lifecycle_routes(order.order_id):
            refused = await http.post(path, json=body, headers=auth(keys.a))
            problem = assert_problem(refused, 409, "ORDER_NOT_FINISHED")
            assert "nothing was changed" in problem["detail"], problem
        await assert_no_customer_created(admin, f"alw{unique}")
        status = await http.get(f"/v1/orders/{order.order_id}", headers=auth(keys.a))
        assert status.json()["phase"] == "waiting_for_tax_id"  # the order itself goes on
    finally:
        await http.post(f"/v1/orders/{order.order_id}/cancel", headers=auth(keys.a))


async def test_an_unknown_order_is_404_and_no_key_is_401(
    http: httpx.AsyncClient, keys: Keys, unique: str
) -> None:
    for path, body in lifecycle_routes(f"al-none-{unique}"):
        assert_problem(
            await http.post(path, json=body, headers=auth(keys.a)), 404, "ORDER_NOT_FOUND"
        )
        assert_problem(await http.post(path, json=body), 401, "UNAUTHORIZED")


# ---------------------------------------------------------------------- README's lines


async def test_the_documented_curl_lines_run_as_written(
    api_url: str, keys: Keys, admin: SandboxAdmin, tmp_path: Path, unique: str
) -> None:
    order_id = f"al-doc-{unique}"
    example = json.loads(EXAMPLE.read_text())
    example["order_id"] = order_id
    example["customer"]["domain_prefix"] = f"aldoc{unique}"
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "new-customer.json").write_text(json.dumps(example))
    port = api_url.rsplit(":", 1)[1]

    async def run(documented: str) -> dict[str, Any]:
        command = documented.replace(":8090/", f":{port}/").replace("shop-1001", order_id)
        process = await asyncio.create_subprocess_exec(
            str(shutil.which("bash")),
            "-c",
            command,
            cwd=tmp_path,
            env={**os.environ, "CSP_API_KEY": keys.a},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, err.decode()
        answer: dict[str, Any] = json.loads(out)
        return answer

    place, reduce, cancel, payment_failed = DOCUMENTED
    assert (await run(place))["order_id"] == order_id

    async with httpx.AsyncClient(base_url=api_url, timeout=60) as http:

        async def completed() -> dict[str, Any] | None:
            status = await http.get(f"/v1/orders/{order_id}", headers=auth(keys.a))
            body: dict[str, Any] = status.json()
            return body if body["phase"] == "completed" else None

        status = await eventually(completed, timeout=60, what=f"order {order_id} completed")
    customer_id = status["customer_id"]
    basic, e3 = (line["subscription_id"] for line in status["lines"])
    assert [line["offer"] for line in status["lines"]] == [BUSINESS_BASIC, OFFICE_E3]

    reduced = await run(reduce)
    assert (reduced["quantity_before"], reduced["quantity_after"]) == (10, 7)
    assert (await holdings(admin, customer_id))[basic][1:] == (7, "active")

    cancelled = await run(cancel)
    assert cancelled["cancelled"] and cancelled["subscription_id"] == e3
    assert (await holdings(admin, customer_id))[e3][2] == "deleted"

    outcome = await run(payment_failed)
    assert [(c["line"], c["cancelled"]) for c in outcome["undone"]] == [(0, True)]
    assert [(n["line"], n["refusal"]["code"]) for n in outcome["not_undone"]] == [
        (1, "SUBSCRIPTION_NOT_ACTIVE")
    ]
    held = await holdings(admin, customer_id)
    assert (held[basic][2], held[e3][2]) == ("deleted", "deleted")


def test_the_lines_are_the_readmes() -> None:
    """The lines above are README.md's, as written (a changed README fails here first)."""
    readme = " ".join((ROOT / "README.md").read_text().split())
    for line in DOCUMENTED:
        assert " ".join(line.split()) in readme, f"README.md no longer documents: {line}"
