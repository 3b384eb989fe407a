"""Where the engine's processes find Temporal and Partner Center (environment variables)."""

from __future__ import annotations

import os

from pydantic import BaseModel, SecretStr

from clients.contract import TASK_QUEUE
from clients.partner_center import PartnerCenterConfig

# Partner Center's app credentials (Entra ID): a worker does not start without them.
PARTNER_CENTER_CREDENTIALS = (
    "CSP_PC_TENANT",
    "CSP_PC_CLIENT_ID",
    "CSP_PC_CLIENT_SECRET",
    "CSP_PC_REFRESH_TOKEN",
)


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


class PartnerCenterNotConfigured(ValueError):
    """The worker was started without Partner Center's credentials."""


def partner_center_from_env() -> PartnerCenterConfig:
    """Partner Center and Entra ID settings: `CSP_PC_TENANT`, `CSP_PC_CLIENT_ID`,
    `CSP_PC_CLIENT_SECRET` and `CSP_PC_REFRESH_TOKEN` (the app+user operations need it) are
    required; `CSP_PC_BASE_URL` and `CSP_PC_AUTHORITY` default to Microsoft's Partner Center and
    Entra ID. There is no default to fall back to: a worker that silently talked to something
    else than the Partner Center it was meant for would be worse than one that does not start.
    (The local sandbox's settings: devtools/sandbox_settings.py.)"""
    missing = [name for name in PARTNER_CENTER_CREDENTIALS if not os.environ.get(name)]
    if missing:
        raise PartnerCenterNotConfigured(
            f"Partner Center is not configured: set {', '.join(PARTNER_CENTER_CREDENTIALS)} "
            f"(missing: {', '.join(missing)}); CSP_PC_BASE_URL and CSP_PC_AUTHORITY default to "
            "Microsoft's Partner Center and Entra ID. For the local sandbox, run csp-orders dev "
            "(its worker is wired to the sandbox). Nothing was started."
        )
    defaults = PartnerCenterConfig.model_fields
    return PartnerCenterConfig(
        base_url=os.environ.get("CSP_PC_BASE_URL") or defaults["base_url"].default,
        authority=os.environ.get("CSP_PC_AUTHORITY") or defaults["authority"].default,
        tenant=os.environ["CSP_PC_TENANT"],
        client_id=os.environ["CSP_PC_CLIENT_ID"],
        client_secret=SecretStr(os.environ["CSP_PC_CLIENT_SECRET"]),
        refresh_token=SecretStr(os.environ["CSP_PC_REFRESH_TOKEN"]),
    )


# The cap on Partner Center requests that every worker of a task queue shares (workers/worker.py).
REQUESTS_PER_MINUTE_VARIABLE = "CSP_PC_REQUESTS_PER_MINUTE"
# Microsoft documents "about 500 requests a minute per tenant" for orders and customers.
MICROSOFT_REQUESTS_PER_MINUTE = 500.0
UNLIMITED = "unlimited"


def partner_center_cap_from_env() -> float | None:
    """`CSP_PC_REQUESTS_PER_MINUTE`: the most requests a minute the workers of a task queue
    send Partner Center, all together (default 500, Microsoft's documented throttle);
    `unlimited` for none (a sandbox without a limit)."""
    value = os.environ.get(REQUESTS_PER_MINUTE_VARIABLE, "").strip()
    if not value:
        return MICROSOFT_REQUESTS_PER_MINUTE
    if value.lower() == UNLIMITED:
        return None
    try:
        cap = float(value)
    except ValueError:
        cap = 0.0
    if not cap >= 2 or cap == float("inf"):  # (the quota's smallest bucket: 1 and a refill)
        raise PartnerCenterNotConfigured(
            f"{REQUESTS_PER_MINUTE_VARIABLE} must be a number of requests a minute, 2 or more, "
            f"or {UNLIMITED}; nothing was started."
        )
    return cap
