"""What Temporal's sandbox would refuse in workflow code, refused statically.

The worker passes the workflow modules through the sandbox (workers/worker.py: a fifth of its
CPU per order), as the rules, the contract and the models always were: so nothing checks at run
time that they read no clock, no randomness, no environment and no file, and start no thread.
This test reads every module workflow code runs (`workflows/`, `ordering/`, the contract and the
activities' messages) and fails on any such call; what only an activity runs is named below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_CODE = sorted(
    [
        *(ROOT / "workflows").glob("*.py"),
        *(ROOT / "ordering").glob("*.py"),
        ROOT / "clients" / "contract.py",
        ROOT / "activities" / "messages.py",
    ]
)

# Calls whose answer differs from run to run (or on replay), by the name they are reached by.
NONDETERMINISTIC = {
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.perf_counter",
    "time.sleep",
    "random.random",
    "random.randint",
    "random.choice",
    "random.shuffle",
    "random.uniform",
    "uuid.uuid1",
    "uuid.uuid4",
    "uuid4",
    "uuid1",
    "os.getenv",
    "os.urandom",
    "secrets.token_hex",
    "secrets.token_bytes",
    "open",
    "threading.Thread",
}
NONDETERMINISTIC_ATTRIBUTES = {"os.environ"}

# Functions of these modules that only activities (or tools) call, never a workflow.
ACTIVITY_ONLY = {("ordering/config.py", "load_config")}


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def imported_names(tree: ast.AST) -> dict[str, str]:
    """What each name a module imports stands for: `t` -> `time` (`import time as t`),
    `now` -> `time.time` (`from time import time as now`)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def canonical(name: str | None, imports: dict[str, str]) -> str | None:
    if name is None:
        return None
    first, _, rest = name.partition(".")
    full = imports.get(first, first)
    return f"{full}.{rest}" if rest else full


def forbidden(name: str | None, names: set[str]) -> bool:
    """`name` is one of `names`, however it is reached (`datetime.datetime.now`); Temporal's
    deterministic ones (`workflow.now()`, `workflow.uuid4()`, `workflow.random()`) are not."""
    if name is None or name.startswith(("workflow.", "temporalio.workflow.")):
        return False
    return any(name == n or name.endswith(f".{n}") for n in names)


def offences(source: str, relative: str) -> list[str]:
    tree = ast.parse(source, filename=relative)
    imports = imported_names(tree)
    found: list[str] = []

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if (relative, function) not in ACTIVITY_ONLY:
            called = canonical(dotted(node.func), imports) if isinstance(node, ast.Call) else None
            if isinstance(node, ast.Call) and forbidden(called, NONDETERMINISTIC):
                found.append(f"{relative}:{node.lineno} calls {called}")
            if isinstance(node, ast.Attribute | ast.Name) and forbidden(
                canonical(dotted(node), imports), NONDETERMINISTIC_ATTRIBUTES
            ):
                found.append(f"{relative}:{node.lineno} reads {dotted(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


@pytest.mark.parametrize("path", WORKFLOW_CODE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_workflow_code_reads_no_clock_randomness_environment_or_file(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    assert offences(path.read_text(), relative) == [], (
        "workflow code must use workflow.now(), workflow.random(), workflow.uuid4(), and leave "
        "the environment and files to activities"
    )


def test_the_check_finds_what_it_looks_for() -> None:
    """The scan is not vacuous: each kind of call is found, however imported, and the
    activity-only exemption covers only the function it names."""
    source = (
        "import datetime, os, random, uuid\n"
        "import time as t\n"
        "from uuid import uuid4\n"
        "from time import time\n"
        "from random import randint\n"
        "from os import getenv, environ as env\n"
        "from temporalio import workflow\n"
        "def decide():\n"
        "    a = datetime.datetime.now()\n"
        "    b = random.random()\n"
        "    c = uuid4()\n"
        "    d = os.environ['X']\n"
        "    e = t.monotonic(), time(), randint(1, 2), getenv('X'), env['Y']\n"
        "    return open('f')\n"
        "def load_config():\n"
        "    return os.environ.get('CSP_ORDERS_CONFIG')\n"
        "def deterministic():\n"
        "    return workflow.now(), workflow.uuid4(), workflow.random().random()\n"
    )
    found = [f.split(" ", 1)[1] for f in offences(source, "ordering/config.py")]
    assert found == [
        "calls datetime.datetime.now",
        "calls random.random",
        "calls uuid.uuid4",
        "reads os.environ",
        "calls time.monotonic",
        "calls time.time",
        "calls random.randint",
        "calls os.getenv",
        "reads env",
        "calls open",
    ]
    assert len(offences(source, "ordering/other.py")) == len(found) + 1  # load_config: only there
