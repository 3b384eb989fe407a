"""How the engine reaches the local Partner Center sandbox: its URL and its app's credentials,
for an in-process client or, as `CSP_PC_*` variables, for a `csp-orders worker` subprocess.

The worker itself knows nothing of the sandbox: without `CSP_PC_*` credentials it refuses to
start (workers/settings.py); the dev stack, the demo, the chaos harness and the tests hand it
the sandbox's settings from here."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from clients.partner_center import PartnerCenterConfig
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer


def sandbox_client_config(
    server: SandboxServer, *, app_user: bool = True, **overrides: Any
) -> PartnerCenterConfig:
    """Client settings for a sandbox (its URL and its app's credentials); `app_user=False` for
    an app-only client."""
    s = server.settings
    fields: dict[str, Any] = {
        "base_url": server.base_url,
        "authority": server.base_url,
        "tenant": s.partner_tenant_id,
        "client_id": s.client_id,
        "client_secret": SecretStr(s.client_secret),
        "refresh_token": SecretStr(s.refresh_token) if app_user else None,
        "timeout_seconds": 10.0,
        **overrides,
    }
    return PartnerCenterConfig(**fields)


def sandbox_worker_env(base_url: str, settings: SandboxSettings | None = None) -> dict[str, str]:
    """The `CSP_PC_*` variables that point a `csp-orders worker` at the sandbox serving on
    `base_url` (with `settings`' credentials; the sandbox's defaults when None), capped at the
    sandbox's own throttling limit when it has one."""
    s = settings or SandboxSettings()
    cap = s.faults.rate_limit_per_minute
    return {
        "CSP_PC_REQUESTS_PER_MINUTE": str(cap) if cap is not None else "unlimited",
        "CSP_PC_BASE_URL": base_url,
        "CSP_PC_AUTHORITY": base_url,
        "CSP_PC_TENANT": s.partner_tenant_id,
        "CSP_PC_CLIENT_ID": s.client_id,
        "CSP_PC_CLIENT_SECRET": s.client_secret,
        "CSP_PC_REFRESH_TOKEN": s.refresh_token,
    }
