"""Microsoft Entra ID tokens for Partner Center: app-only and app+user, cached and refreshed.

App-only tokens come from the client-credentials grant; app+user tokens from the refresh-token
grant with a stored refresh token. Both are cached until shortly before they expire. Secrets are
`SecretStr` so they never reach a log line or a repr.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import httpx
from pydantic import BaseModel, SecretStr

from clients.partner_center.errors import PartnerCenterError

PARTNER_CENTER_RESOURCE = "https://api.partnercenter.microsoft.com"


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
    value: str
    expires_at: float


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
                )
            form["grant_type"] = "refresh_token"
            form["refresh_token"] = creds.refresh_token.get_secret_value()
        started = self._clock()
        try:
            response = await self._http.post(creds.token_url, data=form)
        except httpx.HTTPError as exc:
            raise PartnerCenterError(
                0, None, f"token endpoint unreachable ({type(exc).__name__})", retryable=True
            ) from None
        if response.status_code != 200:
            raise PartnerCenterError(
                response.status_code,
                _entra_error(response),
                "the token endpoint refused the credentials",
                retryable=response.status_code >= 500 or response.status_code == 429,
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
