"""The codec server: an authorised operator reads decoded payloads with the `temporal` CLI;
anyone else gets 401, and CORS answers only the UI's origin."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from clients.contract import order_workflow_id
from clients.payloads import KeyRing
from clients.storefront import Storefront
from devtools.samples import OFFICE_E3, line, new_customer, order
from devtools.temporal_cli import temporal_binary
from ordering.status import Phase
from sandbox.background_server import BackgroundServer
from tests.helpers import payload_data
from workers.codec_server import create_codec_app

TOKEN = "operator-token"
UI = "http://127.0.0.1:8233"


@pytest.fixture(scope="module")
def codec_url(temporal: WorkflowEnvironment) -> Iterator[str]:
    keys = KeyRing.from_env()
    assert keys is not None  # the engine tests' key ring
    with BackgroundServer(create_codec_app(keys, TOKEN, [UI]), name="codec server") as server:
        yield server.base_url


async def show(temporal: WorkflowEnvironment, workflow_id: str, *codec: str) -> str:
    process = await asyncio.create_subprocess_exec(
        temporal_binary(),
        "workflow",
        "show",
        "--address",
        temporal.client.service_client.config.target_host,
        "--workflow-id",
        workflow_id,
        "--output",
        "json",
        *codec,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_CODEC")},
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return out.decode()


async def test_operators_with_the_token_read_decoded_payloads(
    shop: Storefront, temporal: WorkflowEnvironment, codec_url: str, unique: str
) -> None:
    document = order(
        f"codec-{unique}",
        new_customer(
            f"codec{unique}",
            country="RU",
            tax_id="7707083893",
            address={"city": "Moscow", "postal_code": "125009", "state": ""},
        ),
        line(OFFICE_E3, 1),
    )
    await shop.place_order(document)
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    workflow_id = order_workflow_id(document.order_id)
    assert b"7707083893" not in payload_data(await show(temporal, workflow_id))
    decoded = await show(
        temporal, workflow_id, "--codec-endpoint", codec_url, "--codec-auth", f"Bearer {TOKEN}"
    )
    assert b"7707083893" in payload_data(decoded)


def test_the_codec_server_refuses_strangers(codec_url: str) -> None:
    body: dict[str, list[object]] = {"payloads": []}
    assert httpx.post(f"{codec_url}/decode", json=body).status_code == 401
    assert (
        httpx.post(
            f"{codec_url}/decode", json=body, headers={"Authorization": "Bearer wrong"}
        ).status_code
        == 401
    )
    ok = httpx.post(f"{codec_url}/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    allowed = httpx.options(f"{codec_url}/decode", headers={"Origin": UI})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == UI
    other = httpx.options(f"{codec_url}/decode", headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers


def test_the_token_as_endpoint_path_is_accepted_only_where_enabled() -> None:
    """`csp-orders dev` gives its sign-in-less UI the endpoint `<codec>/<token>`."""
    keys = KeyRing.generate()
    body: dict[str, list[object]] = {"payloads": []}
    with (
        BackgroundServer(create_codec_app(keys, TOKEN, [UI]), name="strict") as strict,
        BackgroundServer(
            create_codec_app(keys, TOKEN, [UI], token_in_path=True), name="dev"
        ) as dev,
    ):
        assert httpx.post(f"{strict.base_url}/{TOKEN}/decode", json=body).status_code == 401
        assert httpx.post(f"{dev.base_url}/{TOKEN}/decode", json=body).status_code == 200
        assert httpx.post(f"{dev.base_url}/{TOKEN}x/decode", json=body).status_code == 401
        assert httpx.post(f"{dev.base_url}/decode", json=body).status_code == 401
        # The browser's preflight carries no credentials; CORS alone answers it.
        preflight = httpx.options(f"{dev.base_url}/{TOKEN}/decode", headers={"Origin": UI})
        assert preflight.status_code == 204


def test_a_loopback_codec_server_answers_only_loopback_host_names() -> None:
    """Against DNS rebinding: a web page whose name points at 127.0.0.1 gets nothing."""
    keys = KeyRing.generate()
    app = create_codec_app(
        keys, TOKEN, [UI], token_in_path=True, allowed_hosts=["127.0.0.1", "localhost"]
    )
    body: dict[str, list[object]] = {"payloads": []}
    with BackgroundServer(app, name="loopback codec") as server:
        url = f"{server.base_url}/{TOKEN}/decode"
        assert httpx.post(url, json=body).status_code == 200
        rebound = httpx.post(url, json=body, headers={"Host": "attacker.example"})
        assert rebound.status_code == 400


def test_a_codec_server_without_a_token_is_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        create_codec_app(KeyRing.generate(), "", token_in_path=True)


def test_a_separate_path_token_keeps_the_bearer_token_out_of_the_ui() -> None:
    """`csp-orders dev` gives its UI `<codec>/<UI token>`: the UI serves that URL to whoever
    asks, so it must not be the operators' bearer token, nor work as one."""
    keys = KeyRing.generate()
    body: dict[str, list[object]] = {"payloads": []}
    app = create_codec_app(keys, TOKEN, [UI], path_token="ui-capability")
    with BackgroundServer(app, name="dev codec") as server:
        base = server.base_url
        assert httpx.post(f"{base}/ui-capability/decode", json=body).status_code == 200
        assert httpx.post(f"{base}/{TOKEN}/decode", json=body).status_code == 401
        as_bearer = {"Authorization": "Bearer ui-capability"}
        assert httpx.post(f"{base}/decode", json=body, headers=as_bearer).status_code == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.post(f"{base}/decode", json=body, headers=bearer).status_code == 200


def test_a_request_body_over_4_mib_is_refused_with_413() -> None:
    keys = KeyRing.generate()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    limit = 4 * 2**20
    with BackgroundServer(create_codec_app(keys, TOKEN, [UI]), name="codec") as server:
        url = f"{server.base_url}/encode"
        # Just under the limit: encoded (encrypted) as usual.
        data = base64.b64encode(b"x" * (limit // 4 * 3 - 4096)).decode()
        fitting = json.dumps({"payloads": [{"metadata": {}, "data": data}]}).encode()
        assert len(fitting) <= limit
        encoded = httpx.post(url, content=fitting, headers=bearer, timeout=60)
        assert encoded.status_code == 200
        assert data not in encoded.text

        over = fitting + b" " * (limit + 1 - len(fitting))
        declared = httpx.post(url, content=over, headers=bearer, timeout=60)
        assert declared.status_code == 413
        assert declared.json()["error"].startswith("The request body is over 4194304 bytes")

        def undeclared() -> Iterator[bytes]:  # chunked: no Content-Length to go by
            yield over

        streamed = httpx.post(url, content=undeclared(), headers=bearer, timeout=60)
        assert streamed.status_code == 413
        assert "4 MiB" in streamed.json()["error"]
