"""The sandbox's HTTP face: Partner Center's paths, Entra ID's token endpoint, admin paths.

Its parts: the front door every Partner Center path goes through (`sandbox.front_door`: bearer
token, holds, latency, throttling and injected faults, `MS-RequestId` replay of a write's first
answer, scripted refusals, dispatch, persisting the state after a change), the route table
(`sandbox.routes`), the token endpoint (`sandbox.entra`) and the admin paths (`sandbox.admin`).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette

from sandbox.admin import LOOPBACK_NAMES, admin_routes
from sandbox.core import Sandbox, SandboxSettings
from sandbox.entra import token_route
from sandbox.front_door import FAULT_PREFIX
from sandbox.routes import partner_center_routes

# FAULT_PREFIX lives in sandbox.front_door; importable from here too, for workers.chaos.
__all__ = ["FAULT_PREFIX", "create_app"]


def create_app(
    settings: SandboxSettings | None = None,
    sandbox: Sandbox | None = None,
    *,
    admin_hosts: Iterable[str] = LOOPBACK_NAMES,
) -> Starlette:
    """`admin_hosts`: the Host names the admin paths answer (`sandbox.admin.admin_host_names`
    of the address served); the Partner Center paths answer any (they need a bearer token)."""
    sb = sandbox or Sandbox(settings)
    app = Starlette(
        routes=[
            *admin_routes(sb, admin_hosts),
            token_route(sb),
            *partner_center_routes(sb),
        ]
    )
    app.state.sandbox = sb
    return app
