"""Bad days at Partner Center: lost answers, throttling, 5xx, nonsense, restarts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from clients.partner_center import PartnerCenterClient, PartnerCenterError
from devtools.sandbox_settings import sandbox_client_config
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import free_port
from sandbox.server import SandboxServer
from tests.helpers import SandboxFactory, eventually
from tests.partner_center.builders import OFFICE_E3, cart, new_customer


async def test_retry_after_a_lost_answer_creates_exactly_one_customer(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    await admin.set_faults(lost_answer_rate=1.0)
    with pytest.raises(PartnerCenterError) as lost:
        await pc.create_customer(new_customer("contoso"), request_id="order-42:create-customer")
    assert lost.value.status == 504 and lost.value.retryable
    await admin.set_faults()
    # the customer exists although the caller never heard of it
    assert len((await admin.snapshot())["customers"]) == 1

    retried = await pc.create_customer(
        new_customer("contoso"), request_id="order-42:create-customer"
    )
    again = await pc.create_customer(new_customer("contoso"), request_id="order-42:create-customer")
    snapshot = await admin.snapshot()
    assert [c["id"] for c in snapshot["customers"]] == [retried.id]
    assert again.id == retried.id


async def test_retry_after_a_lost_checkout_answer_creates_exactly_one_order(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    customer_id = await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    created = await pc.create_cart(customer_id, cart((OFFICE_E3, 3, "monthly")), request_id="c")
    assert created.id
    await admin.set_faults(lost_answer_rate=1.0)
    with pytest.raises(PartnerCenterError):
        await pc.checkout_cart(customer_id, created.id, request_id="order-7:checkout")
    await admin.set_faults()
    result = await pc.checkout_cart(customer_id, created.id, request_id="order-7:checkout")
    snapshot = await admin.snapshot()
    assert [o["id"] for o in snapshot["orders"]] == [result.orders[0].id]
    assert len(snapshot["subscriptions"]) == 1


async def test_client_retries_transparently_and_buys_nothing_twice(
    make_sandbox: SandboxFactory,
) -> None:
    server = make_sandbox(faults={"lost_answer_rate": 0.4, "server_error_rate": 0.2, "seed": 7})
    admin = SandboxAdmin(server.base_url)
    config = sandbox_client_config(server, retries=12, max_backoff_seconds=0.05)
    async with PartnerCenterClient.from_config(config) as pc:
        created = [
            await pc.create_customer(new_customer(f"retry{n}"), request_id=f"o{n}:customer")
            for n in range(10)
        ]
    snapshot = await admin.snapshot()
    calls = await admin.calls()
    await admin.aclose()
    assert sorted(c["id"] for c in snapshot["customers"]) == sorted(str(c.id) for c in created)
    assert calls["POST /v1/customers"] > 10  # faults happened and were retried
    assert calls["FAULT lost_answer"] > 0 and calls["FAULT server_error"] > 0


async def test_throttling_carries_retry_after(pc: PartnerCenterClient, admin: SandboxAdmin) -> None:
    await admin.set_faults(throttle_rate=1.0, retry_after_seconds=7)
    with pytest.raises(PartnerCenterError) as caught:
        await pc.list_products("US")
    error = caught.value
    assert (error.status, error.retry_after, error.retryable) == (429, 7.0, True)
    assert error.code is None
    assert "Rate limit is exceeded" in error.description


async def test_request_rate_cap_throttles_like_partner_center(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    await admin.set_faults(rate_limit_per_minute=3)
    for _ in range(3):
        await pc.list_products("US")
    with pytest.raises(PartnerCenterError) as caught:
        await pc.list_products("US")
    assert caught.value.status == 429
    assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 61


async def test_client_waits_as_told_by_retry_after_then_succeeds(
    make_sandbox: SandboxFactory,
) -> None:
    server = make_sandbox(faults={"throttle_rate": 0.5, "retry_after_seconds": 1, "seed": 3})
    async with PartnerCenterClient.from_config(sandbox_client_config(server, retries=10)) as pc:
        for _ in range(4):
            assert await pc.list_products("US")
    calls = await SandboxAdmin(server.base_url).calls()
    assert calls["GET /v1/products"] > 4  # some were throttled and sent again


async def test_server_errors_are_retryable(pc: PartnerCenterClient, admin: SandboxAdmin) -> None:
    await admin.set_faults(server_error_rate=1.0)
    with pytest.raises(PartnerCenterError) as caught:
        await pc.list_products("US")
    assert caught.value.status == 503 and caught.value.retryable


@pytest.mark.parametrize("seed", range(6))
async def test_nonsense_answers_raise_the_typed_error(
    pc: PartnerCenterClient, admin: SandboxAdmin, seed: int
) -> None:
    await admin.set_faults(nonsense_rate=1.0, seed=seed)
    with pytest.raises(PartnerCenterError) as caught:
        await pc.get_subscription("c", "s")
    assert caught.value.retryable
    assert caught.value.status in (200, 502)


async def test_no_answer_at_all_is_a_retryable_error() -> None:
    from pydantic import SecretStr

    from clients.partner_center import PartnerCenterConfig

    port = free_port()
    config = PartnerCenterConfig(
        base_url=f"http://127.0.0.1:{port}",
        authority=f"http://127.0.0.1:{port}",
        tenant="t",
        client_id="c",
        client_secret=SecretStr("s"),
    )
    async with PartnerCenterClient.from_config(config) as pc:
        with pytest.raises(PartnerCenterError) as caught:
            await pc.list_products("US")
    assert caught.value.status == 0 and caught.value.retryable


async def test_persisted_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    from sandbox.core import SandboxSettings

    first = SandboxServer(SandboxSettings(state_file=state)).start()
    async with PartnerCenterClient.from_config(sandbox_client_config(first)) as pc:
        created = await pc.create_customer(new_customer("durable"), request_id="durable-1")
    first.stop()

    second = SandboxServer(SandboxSettings(state_file=state)).start()
    try:
        async with PartnerCenterClient.from_config(sandbox_client_config(second)) as pc:
            assert created.id
            assert (await pc.get_customer(created.id)).id == created.id
            replay = await pc.create_customer(new_customer("durable"), request_id="durable-1")
            assert replay.id == created.id
            assert len(await pc.list_customers()) == 1
    finally:
        second.stop()


async def test_concurrent_identical_requests_are_carried_out_once(
    pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    await admin.set_faults(latency_ms_min=5, latency_ms_max=30, seed=1)
    results = await asyncio.gather(
        *(pc.create_customer(new_customer("racer"), request_id="same-id") for _ in range(8))
    )
    assert len({r.id for r in results}) == 1
    assert len((await admin.snapshot())["customers"]) == 1


async def test_sandbox_command_serves_and_persists(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "state.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workers.cli",
            "sandbox",
            "--port",
            str(port),
            "--state",
            str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def health() -> httpx.Response | None:
                try:
                    return await http.get("/_sandbox/health")
                except httpx.TransportError:
                    return None

            answer = await eventually(
                health, timeout=10, every=0.05, what="the sandbox command serving"
            )
            assert answer.json()["status"] == "ok"
            await http.post("/_sandbox/resellers", json={"mpnId": "1", "tenantId": "t"})
        assert state.exists()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sandbox_command_refuses_bad_fault_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "workers.cli", "sandbox", "--faults", '{"throttle_rate": 2}'],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "throttle_rate" in result.stderr
    assert "Traceback" not in result.stderr
