"""Entra ID's token endpoint, as Partner Center's callers meet it: `POST /{tenant}/oauth2/token`
with the client credentials grant (app tokens) or the refresh token grant (app+user tokens).

Not behind Partner Center's front door: no bearer token, faults, throttling or holds."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.core import Sandbox
from sandbox.front_door import json_response
from sandbox.state import TokenRecord

TOKEN_PATH = "/{tenant}/oauth2/token"


def token_endpoint(sb: Sandbox) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        s = sb.settings
        if form.get("client_id") != s.client_id or form.get("client_secret") != s.client_secret:
            return json_response(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
        grant = form.get("grant_type")
        if grant == "client_credentials":
            mode = "app"
        elif grant == "refresh_token":
            if form.get("refresh_token") != s.refresh_token:
                return json_response(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "AADSTS70000: The provided refresh token is invalid.",
                    },
                )
            mode = "app+user"
        else:
            return json_response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"AADSTS70003: The grant type {grant} is not supported.",
                },
            )
        token = secrets.token_urlsafe(32)
        now = sb.now()
        sb.state.tokens = {k: v for k, v in sb.state.tokens.items() if v.expires_at > now}
        sb.state.tokens[token] = TokenRecord(mode=mode, expires_at=now + s.token_lifetime_seconds)
        sb.changed()
        sb.persist()
        body = {
            "token_type": "Bearer",
            "expires_in": str(s.token_lifetime_seconds),
            "ext_expires_in": str(s.token_lifetime_seconds),
            "expires_on": str(int(now + s.token_lifetime_seconds)),
            "not_before": str(int(now)),
            "resource": form.get("resource", "https://api.partnercenter.microsoft.com"),
            "access_token": token,
        }
        if mode == "app+user":
            body["refresh_token"] = s.refresh_token
            body["scope"] = "user_impersonation"
        return json_response(200, body)

    return endpoint


def token_route(sb: Sandbox) -> Route:
    return Route(TOKEN_PATH, token_endpoint(sb), methods=["POST"])
