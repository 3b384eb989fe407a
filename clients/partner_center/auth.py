"""Microsoft Entra ID tokens for Partner Center: app-only and app+user, cached and refreshed.

App-only tokens come from the client-credentials grant; app+user tokens from the refresh-token
grant with a stored refresh token. Both are cached until shortly before they expire. Secrets are
`SecretStr`, and cached tokens are left out of every repr, so none reaches a log line or a
traceback.

Also here, for this client and the token endpoint alike: `bounded_send`, which reads an answer
streamed and refuses it past a size limit instead of holding whatever a server sends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import httpx
from pydantic import BaseModel, SecretStr

from clients.partner_center.errors import PartnerCenterError

PARTNER_CENTER_RESOURCE = "https://api.partnercenter.microsoft.com"
# A token endpoint's answer is a few kilobytes.
MAX_TOKEN_RESPONSE_BYTES = 2**20


class AuthMode(StrEnum):
    APP_ONLY = "app"
    APP_USER = "app+user"


class EntraCredentials(BaseModel):
    """Where and how to get tokens. `authority` is e.g. https://login.microsoftonline.com."""

    authority: str
    tenant: str
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr | None = None
    resource: str = PARTNER_CENTER_RESOURCE

    @property
    def token_url(self) -> str:
        return f"{self.authority.rstrip('/')}/{self.tenant}/oauth2/token"


@dataclass
class _CachedToken:
    value: str = field(repr=False)  # a bearer token: whoever holds it acts as the partner
    expires_at: float


class ResponseTooLarge(Exception):
    """An answer whose body is over the limit; it was not read past it."""

    def __init__(self, status: int, limit: int) -> None:
        self.status = status
        self.limit = limit
        super().__init__(f"an answer (HTTP {status}) over {describe_size(limit)}")


def describe_size(size: int) -> str:
    return f"{size / 2**20:g} MiB ({size} bytes)"


_DECODED_AWAY = frozenset({"content-encoding", "content-length", "transfer-encoding"})


async def bounded_send(
    http: httpx.AsyncClient, request: httpx.Request, limit: int
) -> httpx.Response:
    """Send `request` and read the answer streamed; raise `ResponseTooLarge` as soon as its
    body is known to be over `limit` bytes: a declared Content-Length before anything is read,
    else as it arrives, counted decoded (a compressed body as it expands). The response
    returned holds the body read, decoded."""
    response = await http.send(request, stream=True)
    try:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ResponseTooLarge(response.status_code, limit)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise ResponseTooLarge(response.status_code, limit)
    finally:
        await response.aclose()
    return httpx.Response(
        response.status_code,
        headers=[(k, v) for k, v in response.headers.multi_items() if k not in _DECODED_AWAY],
        content=bytes(body),
        request=request,
        extensions={k: v for k, v in response.extensions.items() if k != "network_stream"},
    )


class TokenProvider:
    """Hands out bearer tokens, refreshing them `refresh_margin` seconds before expiry."""

    def __init__(
        self,
        credentials: EntraCredentials,
        http: httpx.AsyncClient,
        *,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._http = http
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._cache: dict[AuthMode, _CachedToken] = {}
        self._locks = {mode: asyncio.Lock() for mode in AuthMode}
        self.fetch_count = 0

    def __repr__(self) -> str:
        cached = ", ".join(sorted(mode.value for mode in self._cache))
        return (
            f"TokenProvider(token_url={self._credentials.token_url!r}, "
            f"client_id={self._credentials.client_id!r}, cached=[{cached}])"
        )

    @property
    def supports_app_user(self) -> bool:
        return self._credentials.refresh_token is not None

    async def token(self, mode: AuthMode) -> str:
        cached = self._cache.get(mode)
        if cached is not None and self._clock() < cached.expires_at - self._refresh_margin:
            return cached.value
        async with self._locks[mode]:
            cached = self._cache.get(mode)
            if cached is not None and self._clock() < cached.expires_at - self._refresh_margin:
                return cached.value
            fresh = await self._fetch(mode)
            self._cache[mode] = fresh
            return fresh.value

    def invalidate(self, mode: AuthMode) -> None:
        self._cache.pop(mode, None)

    async def _fetch(self, mode: AuthMode) -> _CachedToken:
        creds = self._credentials
        form = {
            "client_id": creds.client_id,
            "client_secret": creds.client_secret.get_secret_value(),
            "resource": creds.resource,
        }
        if mode is AuthMode.APP_ONLY:
            form["grant_type"] = "client_credentials"
        else:
            if creds.refresh_token is None:
                raise PartnerCenterError(
                    0,
                    None,
                    "an app+user token is needed but no refresh token is configured",
                    retryable=False,
                    credentials=True,
                )
            form["grant_type"] = "refresh_token"
            form["refresh_token"] = creds.refresh_token.get_secret_value()
        started = self._clock()
        try:
            request = self._http.build_request("POST", creds.token_url, data=form)
            response = await bounded_send(self._http, request, MAX_TOKEN_RESPONSE_BYTES)
        except httpx.HTTPError as exc:
            raise PartnerCenterError(
                0, None, f"token endpoint unreachable ({type(exc).__name__})", retryable=True
            ) from None
        except ResponseTooLarge as too_large:
            raise PartnerCenterError(
                too_large.status,
                None,
                f"the token endpoint sent an answer over {describe_size(too_large.limit)}, "
                "the most this client reads from it",
                retryable=False,
                unreadable=True,
            ) from None
        if response.status_code != 200:
            raise PartnerCenterError(
                response.status_code,
                _entra_error(response),
                "the token endpoint refused the credentials",
                retryable=response.status_code >= 500 or response.status_code == 429,
                credentials=True,
            )
        payload = response.json()
        self.fetch_count += 1
        expires_in = float(payload.get("expires_in", 3599))
        return _CachedToken(value=str(payload["access_token"]), expires_at=started + expires_in)


def _entra_error(response: httpx.Response) -> str | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    return str(error) if error else None
