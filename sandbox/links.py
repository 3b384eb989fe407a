"""Partner Center's links: where a related resource is and how to get it."""

from __future__ import annotations

from typing import Any


def link(uri: str) -> dict[str, Any]:
    return {"uri": uri, "method": "GET", "headers": []}
