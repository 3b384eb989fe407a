"""Where the engine's processes find Temporal and Partner Center (environment variables)."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, SecretStr
from temporalio.common import WorkerDeploymentVersion

from clients.contract import TASK_QUEUE
from clients.partner_center import PartnerCenterConfig
from clients.temporal_connection import TemporalConnection
from clients.temporal_connection import resolve as resolve_connection

# Partner Center's app credentials (Entra ID): a worker does not start without them.
PARTNER_CENTER_CREDENTIALS = (
    "CSP_PC_TENANT",
    "CSP_PC_CLIENT_ID",
    "CSP_PC_CLIENT_SECRET",
    "CSP_PC_REFRESH_TOKEN",
)


class TemporalSettings(BaseModel):
    """Temporal for a process: the connection (Temporal's standard client configuration,
    clients/temporal_connection.py) and the task queue (`CSP_TASK_QUEUE`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    connection: TemporalConnection = TemporalConnection()
    task_queue: str = TASK_QUEUE

    @property
    def address(self) -> str:
        return self.connection.target_host

    @property
    def namespace(self) -> str:
        return self.connection.namespace

    @classmethod
    def from_env(cls, address: str | None = None) -> TemporalSettings:
        """`address`: the command line's `--address`, over the environment and the profile.
        Raises `TemporalSettingsInvalid` (one line naming the setting)."""
        return cls(
            connection=resolve_connection(address),
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


# The Worker Deployment version a worker runs as: the variables temporal-worker-controller sets
# on each worker pod (docs/VERSIONING.md).
DEPLOYMENT_NAME_VARIABLE = "TEMPORAL_DEPLOYMENT_NAME"
BUILD_ID_VARIABLE = "TEMPORAL_WORKER_BUILD_ID"


class WorkerDeploymentNotConfigured(ValueError):
    """The worker's Worker Deployment version is half set, or not in a form Temporal takes."""


def worker_deployment_from_env() -> WorkerDeploymentVersion | None:
    """The Worker Deployment version this worker runs as (`TEMPORAL_DEPLOYMENT_NAME` and
    `TEMPORAL_WORKER_BUILD_ID`, as temporal-worker-controller sets them), or None when neither
    is set: the worker then runs unversioned (the dev stack, tests, a deploy that replaces its
    workers in place). One without the other is a mistake in the deploy, refused: running
    unversioned instead would quietly drop the pinning the deploy asked for."""
    name = os.environ.get(DEPLOYMENT_NAME_VARIABLE, "").strip()
    build_id = os.environ.get(BUILD_ID_VARIABLE, "").strip()
    if not name and not build_id:
        return None
    if not name or not build_id:
        missing, given = (
            (DEPLOYMENT_NAME_VARIABLE, BUILD_ID_VARIABLE)
            if not name
            else (BUILD_ID_VARIABLE, DEPLOYMENT_NAME_VARIABLE)
        )
        raise WorkerDeploymentNotConfigured(
            f"{missing} is not set, but {given} is: a versioned worker needs both (its Worker "
            "Deployment and its build); set neither for an unversioned worker. Nothing was "
            "started."
        )
    # (what Temporal refuses in a version: its reserved prefix, and the separators of its
    # version strings in a deployment name)
    if name.startswith("__") or "." in name or ":" in name:
        raise WorkerDeploymentNotConfigured(
            f"{DEPLOYMENT_NAME_VARIABLE} must not start with '__' nor contain '.' or ':' "
            "(Temporal reserves them); nothing was started."
        )
    if build_id.startswith("__"):
        raise WorkerDeploymentNotConfigured(
            f"{BUILD_ID_VARIABLE} must not start with '__' (Temporal reserves it); nothing was "
            "started."
        )
    return WorkerDeploymentVersion(deployment_name=name, build_id=build_id)
