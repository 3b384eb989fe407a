"""The sandbox's admin paths (`/_sandbox/...`) refuse what a web page in the operator's browser
could send them: a form or text POST, a request from another site, a Host name rebound to
loopback. They never answer with CORS headers. Whatever they refuse leaves the sandbox as it was.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import httpx
import pytest

from sandbox.admin import PREFIX
from sandbox.admin_client import SandboxAdmin
from sandbox.background_server import free_port
from sandbox.server import SandboxServer, exposure_warning


def no_cors(response: httpx.Response) -> httpx.Response:
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    return response


async def held(sandbox: SandboxServer, admin: SandboxAdmin) -> dict[str, Any]:
    """Everything the sandbox holds, bar the wall clock's ticking, and its fault settings."""
    snapshot = await admin.snapshot()
    offset = sandbox.sandbox.state.clock.offset_seconds
    async with httpx.AsyncClient() as http:
        faults = (await http.get(f"{sandbox.base_url}{PREFIX}/faults")).json()
    return {**{k: v for k, v in snapshot.items() if k != "now"}, "offset": offset, **faults}


async def send(sandbox: SandboxServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return no_cors(await http.request(method, f"{sandbox.base_url}{PREFIX}{path}", **kwargs))


CUSTOMER = {"companyName": "Fabrikam", "domain": "fabrikam.onmicrosoft.com"}


async def test_a_form_or_text_post_is_refused_and_changes_nothing(
    sandbox: SandboxServer, admin: SandboxAdmin
) -> None:
    await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    before = await held(sandbox, admin)
    as_form = await send(sandbox, "POST", "/customers", data=CUSTOMER)
    assert as_form.status_code == 415
    assert "application/json" in as_form.json()["description"]
    # What `<form enctype="text/plain">` sends: a body that reads as JSON, not typed as JSON.
    as_text = await send(
        sandbox,
        "POST",
        "/clock/advance",
        content=b'{"seconds": 86400}',
        headers={"Content-Type": "text/plain"},
    )
    assert as_text.status_code == 415
    assert (await send(sandbox, "POST", "/reset", data={"x": "1"})).status_code == 415
    untyped = await send(sandbox, "PUT", "/faults", content=b'{"throttle_rate": 1}')
    assert untyped.status_code == 415
    assert await held(sandbox, admin) == before


async def test_a_request_from_another_site_is_refused_and_changes_nothing(
    sandbox: SandboxServer, admin: SandboxAdmin
) -> None:
    await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    before = await held(sandbox, admin)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame, a redirect across sites
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        posted = await send(sandbox, "POST", "/customers", json=CUSTOMER, headers=headers)
        assert posted.status_code == 403, headers
        # body-less, as `fetch(url, {method: "POST", mode: "no-cors"})` sends it
        assert (await send(sandbox, "POST", "/reset", headers=headers)).status_code == 403
        snapshot = await send(sandbox, "GET", "/snapshot", headers=headers)
        assert snapshot.status_code == 403 and "Contoso" not in snapshot.text
    assert await held(sandbox, admin) == before


async def test_a_host_name_other_than_loopback_is_refused_and_changes_nothing(
    sandbox: SandboxServer, admin: SandboxAdmin
) -> None:
    """A page whose name an attacker rebinds to 127.0.0.1 is same-origin with it for the
    browser; the Host header still names the attacker's site."""
    await admin.add_customer("Contoso", "contoso.onmicrosoft.com")
    before = await held(sandbox, admin)
    rebound = {"Host": f"attacker.example:{sandbox.port}"}
    same_origin = {**rebound, "Origin": f"http://attacker.example:{sandbox.port}"}
    for headers in (rebound, same_origin):
        assert (await send(sandbox, "POST", "/reset", headers=headers)).status_code == 421
        posted = await send(sandbox, "POST", "/customers", json=CUSTOMER, headers=headers)
        assert posted.status_code == 421
        snapshot = await send(sandbox, "GET", "/snapshot", headers=headers)
        assert snapshot.status_code == 421 and "Contoso" not in snapshot.text
    assert await held(sandbox, admin) == before


async def test_no_cors_answer_not_even_to_a_preflight(sandbox: SandboxServer) -> None:
    preflight = await send(
        sandbox,
        "OPTIONS",
        "/customers",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code >= 400
    await send(sandbox, "GET", "/health", headers={"Origin": sandbox.base_url})


async def test_the_operators_own_requests_are_taken(
    sandbox: SandboxServer, admin: SandboxAdmin
) -> None:
    """JSON with a charset, the loopback names, a same-origin request, a body-less POST."""
    for host in ("127.0.0.1", "localhost"):
        headers = {"Host": f"{host}:{sandbox.port}", "Origin": f"http://{host}:{sandbox.port}"}
        posted = await send(
            sandbox,
            "POST",
            "/customers",
            content=f'{{"companyName": "C", "domain": "c{host[0]}.onmicrosoft.com"}}'.encode(),
            headers={**headers, "Content-Type": "application/json; charset=utf-8"},
        )
        assert posted.status_code == 200, posted.text
    assert len((await admin.snapshot())["customers"]) == 2
    assert (await send(sandbox, "POST", "/reset")).status_code == 200
    assert (await admin.snapshot())["customers"] == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_serving_on_loopback_needs_no_warning(host: str) -> None:
    assert exposure_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "sandbox.example"])
def test_serving_beyond_loopback_warns_that_the_admin_paths_are_open(host: str) -> None:
    warning = exposure_warning(host)
    assert warning is not None
    assert "/_sandbox/" in warning and "no authentication" in warning


def test_the_sandbox_command_warns_before_it_listens_beyond_loopback() -> None:
    """`csp-orders sandbox --host 0.0.0.0` on a port this test holds on 127.0.0.1: the command
    warns, then cannot bind, so nothing listens beyond loopback during the test."""
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "workers.cli",
                "sandbox",
                "--host",
                "0.0.0.0",
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0  # it never served
    assert "WARNING" in result.stderr and "no authentication" in result.stderr
