"""Dependencies point inward (issue 12).

`ordering` <- `clients.contract` <- workflows, activities (and the Partner Center client), the
storefront SDK <- `workers` (the composition root) and `devtools`; the sandbox uses nothing of
the product. The rules are import-linter contracts in pyproject.toml; `lint-imports` checks
them. The SDK's own import closure is checked by importing it in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("ordering", "clients", "workflows", "activities", "workers", "devtools", "sandbox")
NOT_IN_THE_SDK = ("workflows", "activities", "workers", "devtools", "sandbox")


def test_imports_point_inward() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_storefront_sdk_imports_no_engine_code() -> None:
    """What a storefront loads with the SDK: the contract, the payload codec and the ordering
    rules, and not one workflow, activity, worker, developer tool or sandbox module."""
    program = (
        "import json, sys\n"
        "import clients.storefront\n"
        f"product = {PRODUCT!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in product)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    closure: list[str] = json.loads(done.stdout)
    print("The storefront SDK's import closure (this repository's modules):")
    for module in closure:
        print(f"  {module}")
    assert "clients.storefront" in closure and "clients.contract" in closure
    wrong = [m for m in closure if m.split(".")[0] in NOT_IN_THE_SDK]
    assert not wrong, f"the SDK imports engine code: {wrong}"
