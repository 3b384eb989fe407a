"""Entra ID tokens: app-only and app+user, cached, refreshed, never leaked; 403 900329."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from pydantic import SecretStr

from clients.partner_center import (
    AuthMode,
    PartnerCenterClient,
    PartnerCenterError,
    TokenProvider,
)
from devtools.sandbox_settings import sandbox_client_config
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.partner_center.builders import new_customer


async def test_tokens_are_cached_across_calls(pc: PartnerCenterClient) -> None:
    for _ in range(5):
        await pc.list_products("US")
    await pc.get_relationship_request()
    # one app+user token served every call (reads default to app+user when a refresh token exists)
    assert pc.tokens.fetch_count == 1


async def test_token_is_refreshed_before_it_expires(sandbox: SandboxServer) -> None:
    now = [1000.0]
    config = sandbox_client_config(sandbox)
    async with httpx.AsyncClient() as http:
        tokens = TokenProvider(config.credentials(), http, refresh_margin=300, clock=lambda: now[0])
        client = PartnerCenterClient(sandbox.base_url, tokens, http)
        await client.list_products("US")
        now[0] += 3599 - 301  # still outside the margin: cached
        await client.list_products("US")
        assert tokens.fetch_count == 1
        now[0] += 2  # within 300 s of expiry: a fresh token is fetched first
        await client.list_products("US")
        assert tokens.fetch_count == 2


async def test_expired_token_rejected_by_partner_center_is_fetched_again(
    sandbox: SandboxServer, pc: PartnerCenterClient, admin: SandboxAdmin
) -> None:
    await pc.list_products("US")
    await admin.advance_clock(7200)  # the sandbox now sees the cached token as expired
    products = await pc.list_products("US")
    assert products
    assert pc.tokens.fetch_count == 2


async def test_wrong_secret_is_a_clear_non_retryable_error(sandbox: SandboxServer) -> None:
    config = sandbox_client_config(sandbox, client_secret=SecretStr("wrong"))
    async with PartnerCenterClient.from_config(config) as client:
        with pytest.raises(PartnerCenterError) as caught:
            await client.list_products("US")
    assert caught.value.status == 401
    assert caught.value.code == "invalid_client"
    assert not caught.value.retryable
    assert "wrong" not in str(caught.value)
    # The engine's own credentials, not the request: never a refusal of Microsoft's
    assert caught.value.credentials and not caught.value.is_business_refusal


async def test_secrets_never_appear_in_reprs(sandbox: SandboxServer) -> None:
    config = sandbox_client_config(sandbox)
    text = repr(config) + str(config) + repr(config.credentials())
    assert sandbox.settings.client_secret not in text
    assert sandbox.settings.refresh_token not in text


async def test_the_token_cache_shows_no_token_or_secret(sandbox: SandboxServer) -> None:
    """What a debugger, a traceback's locals or a careless log line would print of the client
    and its token cache, with both kinds of bearer token cached."""
    config = sandbox_client_config(sandbox)
    async with PartnerCenterClient.from_config(config) as client:
        tokens = client.tokens
        held = [await tokens.token(AuthMode.APP_ONLY), await tokens.token(AuthMode.APP_USER)]
        shown = [
            repr(tokens),
            str(tokens),
            repr(vars(tokens)),  # everything it holds: credentials, cached tokens, ...
            *(repr(value) for value in vars(tokens).values()),
            repr(client),
            repr(vars(client)),
        ]
        assert "app+user" in repr(tokens)  # it does say what it holds
    secrets = [*held, sandbox.settings.client_secret, sandbox.settings.refresh_token]
    assert all(len(secret) >= 8 for secret in secrets)
    for text in shown:
        for secret in secrets:
            assert secret not in text, text


async def test_missing_bearer_token_gets_401(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{sandbox.base_url}/v1/products?country=US&targetView=x")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "operation",
    [
        "relationship_link",
        "reseller_mpa",
        "request_qualification",
        "confirm_agreement",
        "indirect_customer",
    ],
)
async def test_app_user_operations_refuse_app_only_tokens(
    pc_app_only: PartnerCenterClient, admin: SandboxAdmin, operation: str
) -> None:
    from clients.partner_center.models import QualificationRequest
    from tests.partner_center.builders import customer_agreement

    await admin.add_reseller("1234567", "aaaaaaaa-0000-0000-0000-000000000001")
    customer_id = await admin.add_customer("Fabrikam", "fabrikam.onmicrosoft.com")
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "relationship_link": lambda: pc_app_only.get_relationship_request(),
        "reseller_mpa": lambda: pc_app_only.get_reseller_agreement_status("1234567"),
        "request_qualification": lambda: pc_app_only.request_qualification(
            customer_id,
            QualificationRequest(
                qualification="Education", education_segment="K12", website="https://school.example"
            ),
            request_id="r-1",
        ),
        "confirm_agreement": lambda: pc_app_only.confirm_agreement(
            customer_id, customer_agreement("x"), request_id="r-2"
        ),
        "indirect_customer": lambda: pc_app_only.create_customer(
            new_customer("contoso", reseller_tenant_id="aaaaaaaa-0000-0000-0000-000000000001"),
            request_id="r-3",
        ),
    }
    with pytest.raises(PartnerCenterError) as caught:
        await calls[operation]()
    assert (caught.value.status, caught.value.code) == (403, "900329")
    assert not caught.value.retryable
    # the app-only client never asked for an app+user token
    assert AuthMode.APP_USER not in pc_app_only.tokens._cache
