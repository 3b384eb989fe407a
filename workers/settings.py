"""Where the engine's processes find Temporal and Partner Center (environment variables)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

from clients.contract import TASK_QUEUE
from clients.partner_center import PartnerCenterConfig

if TYPE_CHECKING:
    from sandbox.server import SandboxServer


class TemporalSettings(BaseModel):
    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = TASK_QUEUE

    @classmethod
    def from_env(cls) -> TemporalSettings:
        return cls(
            address=os.environ.get("CSP_TEMPORAL_ADDRESS", cls.model_fields["address"].default),
            namespace=os.environ.get("CSP_TEMPORAL_NAMESPACE", "default"),
            task_queue=os.environ.get("CSP_TASK_QUEUE", TASK_QUEUE),
        )


def partner_center_from_env() -> PartnerCenterConfig:
    """Partner Center and Entra ID settings; defaults point at a local sandbox on port 8088."""
    sandbox = os.environ.get("CSP_PC_BASE_URL", "http://127.0.0.1:8088")
    refresh = os.environ.get("CSP_PC_REFRESH_TOKEN", "sandbox-refresh-token")
    return PartnerCenterConfig(
        base_url=sandbox,
        authority=os.environ.get("CSP_PC_AUTHORITY", sandbox),
        tenant=os.environ.get("CSP_PC_TENANT", "7d2c5b6c-0000-4e7a-9a1a-5a7c0de5a11d"),
        client_id=os.environ.get("CSP_PC_CLIENT_ID", "csp-orders-sandbox-app"),
        client_secret=SecretStr(os.environ.get("CSP_PC_CLIENT_SECRET", "sandbox-secret")),
        refresh_token=SecretStr(refresh) if refresh else None,
    )


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
