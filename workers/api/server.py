"""Building the API for a process: `csp-orders api`, the dev stack, the demo and the tests."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI

from clients.contract import TASK_QUEUE
from clients.payloads import KeyRing
from clients.storefront import Storefront
from clients.temporal_connection import TemporalConnection
from workers.api.app import Engine, create_api_app
from workers.api.auth import Storefronts
from workers.api.page_tokens import PageTokens
from workers.storefronts import FILE_VARIABLE, StorefrontDirectory


def api_app(
    temporal_address: str | TemporalConnection | None = None,
    task_queue: str = TASK_QUEUE,
    *,
    namespace: str | None = None,
    keys: KeyRing | None = None,
    storefronts_file: Path | None = None,
    storefronts: StorefrontDirectory | None = None,
) -> FastAPI:
    """The API for the storefronts of `storefronts_file` (default: `CSP_STOREFRONTS_FILE`, read
    again when it changes) or `storefronts`, placing orders with Temporal at
    `temporal_address` (connected when first needed): a resolved connection, or an address
    over Temporal's client configuration (clients/temporal_connection.py; None: that
    configuration alone); in `namespace` when one is given, over either (`connection_for`)."""
    import os

    path = storefronts_file
    if path is None and storefronts is None and os.environ.get(FILE_VARIABLE):
        path = Path(os.environ[FILE_VARIABLE])

    async def connect() -> Storefront:
        return await Storefront.connect(
            temporal_address, namespace=namespace, task_queue=task_queue, keys=keys
        )

    try:
        ring = keys or KeyRing.from_env()
    except ValueError:  # (Storefront.connect says what is wrong with it, as a 503)
        ring = None
    return create_api_app(
        Engine(connect),
        Storefronts(path, storefronts),
        page_tokens=PageTokens.for_key_ring(ring),
    )


def openapi_text() -> str:
    """The OpenAPI document as committed in docs/openapi.json."""
    app = api_app("127.0.0.1:0", storefronts=StorefrontDirectory())
    return json.dumps(app.openapi(), indent=2, sort_keys=False) + "\n"
