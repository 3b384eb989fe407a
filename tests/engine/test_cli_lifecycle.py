"""After the purchase from the command line: `csp-orders order cancel-subscription`, `order
reduce` and `order payment-failed` (the installed entry point, in a subprocess) against the
session's engine and its Partner Center sandbox (whose clock is never moved here: every purchase
is within its 168-hour refund window). The change's JSON on stdout and exit 0; a refusal as one
line, `CODE: sentence`, on stderr and exit 3 (README, "Operators"); and what Partner Center
holds after each.

README lines covered: the `csp-orders order ...` lines of "after the purchase" (`DOCUMENTED`,
run as written in a directory laid out like the repository, with the order id substituted)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from clients.storefront import Storefront
from devtools.samples import (
    BUSINESS_BASIC,
    BUSINESS_STANDARD,
    OFFICE_E3,
    catalog_item,
    known_customer,
    line,
    new_customer,
    order,
    russian_order,
)
from ordering.document import OrderDocument
from ordering.status import Phase, WaitingFor
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.engine.partner_center_state import assert_no_customer_created, holdings
from tests.helpers import TASK_QUEUE, csp_orders, wait_for, worker_env

ROOT = Path(__file__).parent.parent.parent
EXAMPLE = ROOT / "examples" / "new-customer.json"  # lines[0] 10 Business Basic, lines[1] 5 E3
# As README.md documents them (in the repository, with the dev stack's order shop-1001):
DOCUMENTED = (
    ".venv/bin/csp-orders order place examples/new-customer.json --wait",
    ".venv/bin/csp-orders order reduce shop-1001 --line 0 --quantity 3",
    ".venv/bin/csp-orders order cancel-subscription shop-1001 --line 1",
    ".venv/bin/csp-orders order payment-failed shop-1001",
)
EXIT_REFUSED = 3


async def run(
    temporal: WorkflowEnvironment,
    sandbox: SandboxServer,
    *args: str,
    cwd: Path | None = None,
) -> tuple[int, str, str]:
    """`csp-orders ARGS` in a subprocess (the event loop the test's worker runs on goes on)."""
    env = worker_env(
        temporal.client.service_client.config.target_host, sandbox, CSP_TASK_QUEUE=TASK_QUEUE
    )
    process = await asyncio.create_subprocess_exec(
        *args, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    return int(process.returncode or 0), out.decode(), err.decode()


async def order_cli(
    temporal: WorkflowEnvironment, sandbox: SandboxServer, *args: str
) -> tuple[int, str, str]:
    return await run(temporal, sandbox, csp_orders(), "order", *args)


def one_refusal(err: str, code: str) -> str:
    """The refusal's one line on stderr: `CODE: sentence`."""
    assert err.count("\n") == 1 and err.startswith(f"{code}: "), err
    assert "Traceback" not in err
    return err.strip()


async def bought(shop: Storefront, document: OrderDocument) -> Any:
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    return outcome


async def customer_with_basic(admin: SandboxAdmin, unique: str, seats: int) -> tuple[str, str]:
    """A customer of the partner's with a monthly Business Basic of `seats` of its own."""
    customer_id = await admin.add_customer(f"Clil {unique}", f"clil{unique}.onmicrosoft.com")
    subscription = await admin.add_subscription(
        customer_id, catalog_item(BUSINESS_BASIC), quantity=seats, billingCycle="monthly"
    )
    return customer_id, str(subscription["id"])


# ---------------------------------------------------------------------- README's lines


async def test_the_documented_lines_reduce_cancel_and_undo_a_failed_payment(
    temporal: WorkflowEnvironment,
    worker: None,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    tmp_path: Path,
    unique: str,
) -> None:
    order_id = f"cl-doc-{unique}"
    example = json.loads(EXAMPLE.read_text())
    example["order_id"] = order_id
    example["customer"]["domain_prefix"] = f"cldoc{unique}"
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "new-customer.json").write_text(json.dumps(example))
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "csp-orders").symlink_to(csp_orders())

    async def documented(line: str) -> tuple[int, str, str]:
        return await run(
            temporal, engine_sandbox, *line.replace("shop-1001", order_id).split(), cwd=tmp_path
        )

    place, reduce, cancel, payment_failed = DOCUMENTED
    code, out, err = await documented(place)
    assert code == 0, err
    outcome = json.loads(out[out.index("{") :])
    assert [line["offer"] for line in outcome["lines"]] == [BUSINESS_BASIC, OFFICE_E3]
    customer_id = outcome["customer_id"]
    basic, e3 = (line["subscription_id"] for line in outcome["lines"])

    code, out, err = await documented(reduce)
    assert (code, err) == (0, "")
    reduced = json.loads(out)
    assert (reduced["subscription_id"], reduced["quantity_before"], reduced["quantity_after"]) == (
        basic,
        10,
        7,
    )
    assert (await holdings(admin, customer_id))[basic][1:] == (7, "active")

    code, out, err = await documented(cancel)
    assert (code, err) == (0, "")
    assert json.loads(out)["cancelled"] is True
    assert (await holdings(admin, customer_id))[e3][2] == "deleted"

    # line 0's remaining 7 are cancelled; line 1 was cancelled already: said, and exit 3
    code, out, err = await documented(payment_failed)
    assert code == EXIT_REFUSED, err
    undone = json.loads(out)
    assert [(c["line"], c["cancelled"]) for c in undone["undone"]] == [(0, True)]
    assert [(n["line"], n["refusal"]["code"]) for n in undone["not_undone"]] == [
        (1, "SUBSCRIPTION_NOT_ACTIVE")
    ]
    assert err.count("\n") == 1 and err.startswith("line 1 not undone: SUBSCRIPTION_NOT_ACTIVE: ")
    held = await holdings(admin, customer_id)
    assert (held[basic][2], held[e3][2]) == ("deleted", "deleted")


# ---------------------------------------------------------------------- refusals


async def test_a_reduction_past_the_orders_licences_is_refused_in_one_line_and_exit_3(
    temporal: WorkflowEnvironment,
    shop: Storefront,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    unique: str,
) -> None:
    customer_id, basic = await customer_with_basic(admin, unique, seats=5)
    order_id = f"cl-r-{unique}"
    await bought(shop, order(order_id, known_customer(customer_id), line(BUSINESS_BASIC, 3)))
    assert (await holdings(admin, customer_id))[basic][1] == 8

    code, out, err = await order_cli(
        temporal, engine_sandbox, "reduce", order_id, "--line", "0", "--quantity", "4"
    )

    assert (code, out) == (EXIT_REFUSED, "")
    assert "nothing was changed" in one_refusal(err, "QUANTITY_REDUCTION_NOT_ALLOWED")
    assert (await holdings(admin, customer_id))[basic][1:] == (8, "active")

    code, out, err = await order_cli(
        temporal, engine_sandbox, "cancel-subscription", order_id, "--line", "0"
    )
    assert (code, out) == (EXIT_REFUSED, "")
    one_refusal(err, "NOT_CANCELLABLE")  # the order added licences; it did not create it
    assert (await holdings(admin, customer_id))[basic][1:] == (8, "active")

    keyed = ("reduce", order_id, "--line", "0", "--quantity", "2", "--request-id", "r-1")
    code, out, err = await order_cli(temporal, engine_sandbox, *keyed)
    assert (code, err) == (0, ""), err
    assert (json.loads(out)["quantity_before"], json.loads(out)["quantity_after"]) == (8, 6)
    assert (await holdings(admin, customer_id))[basic][1:] == (6, "active")
    # asked again with its request id: the same change, answered again, not made twice
    again = await order_cli(temporal, engine_sandbox, *keyed)
    assert again == (0, out, "")
    assert (await holdings(admin, customer_id))[basic][1:] == (6, "active")

    # the failed payment takes back the one licence of the order's left; the customer's 5 stay
    code, out, err = await order_cli(temporal, engine_sandbox, "payment-failed", order_id)
    assert (code, err) == (0, ""), err
    outcome = json.loads(out)
    assert [(c["line"], c["quantity_after"]) for c in outcome["undone"]] == [(0, 5)]
    assert outcome["not_undone"] == []
    assert (await holdings(admin, customer_id))[basic][1:] == (5, "active")


async def test_a_subscription_the_order_created_is_cancelled_once(
    temporal: WorkflowEnvironment,
    shop: Storefront,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    unique: str,
) -> None:
    order_id = f"cl-c-{unique}"
    outcome = await bought(
        shop, order(order_id, new_customer(f"clc{unique}"), line(BUSINESS_STANDARD, 2))
    )
    customer_id, subscription_id = str(outcome.customer_id), outcome.lines[0].subscription_id

    code, out, err = await order_cli(
        temporal, engine_sandbox, "cancel-subscription", order_id, "--line", "0"
    )

    assert (code, err) == (0, ""), err
    change = json.loads(out)
    assert (change["subscription_id"], change["cancelled"]) == (subscription_id, True)
    assert (await holdings(admin, customer_id))[subscription_id][2] == "deleted"
    code, out, err = await order_cli(
        temporal, engine_sandbox, "cancel-subscription", order_id, "--line", "0"
    )
    assert (code, out) == (EXIT_REFUSED, "")
    one_refusal(err, "SUBSCRIPTION_NOT_ACTIVE")
    assert (await holdings(admin, customer_id))[subscription_id][1:] == (2, "deleted")


async def test_an_order_still_running_is_refused_and_partner_center_is_untouched(
    temporal: WorkflowEnvironment,
    shop: Storefront,
    engine_sandbox: SandboxServer,
    admin: SandboxAdmin,
    unique: str,
) -> None:
    document = russian_order(f"cl-w-{unique}", f"clw{unique}")
    await shop.place_order(document)
    await wait_for(shop, document.order_id, WaitingFor.TAX_ID)
    try:
        for args in (
            ("cancel-subscription", document.order_id, "--line", "0"),
            ("reduce", document.order_id, "--line", "0", "--quantity", "1"),
            ("payment-failed", document.order_id),
        ):
            code, out, err = await order_cli(temporal, engine_sandbox, *args)
            assert (code, out) == (EXIT_REFUSED, ""), err
            one_refusal(err, "ORDER_NOT_FINISHED")
        await assert_no_customer_created(admin, f"clw{unique}")
        assert (await shop.status(document.order_id)).phase is Phase.WAITING_FOR_TAX_ID
    finally:
        await shop.cancel(document.order_id)


# ---------------------------------------------------------------------- usage


async def test_invalid_arguments_are_one_line_naming_the_option_and_exit_2(
    temporal: WorkflowEnvironment, engine_sandbox: SandboxServer
) -> None:
    for args, option in (
        (("reduce", "shop-1", "--line", "0", "--quantity", "0"), "--quantity"),
        (("reduce", "shop-1", "--line", "0", "--quantity", "10001"), "--quantity"),
        (("reduce", "shop-1", "--line", "0", "--quantity", "two"), "--quantity"),
        (("reduce", "shop-1", "--line", "0"), "--quantity"),
        (("cancel-subscription", "shop-1", "--line", "50"), "--line"),
        (("cancel-subscription", "shop-1"), "--line"),
    ):
        code, out, err = await order_cli(temporal, engine_sandbox, *args)
        assert (code, out) == (2, ""), err
        assert option in err.splitlines()[-1] and "Traceback" not in err, err


async def test_an_unknown_order_exits_1(
    temporal: WorkflowEnvironment, worker: None, engine_sandbox: SandboxServer, unique: str
) -> None:
    code, out, err = await order_cli(temporal, engine_sandbox, "payment-failed", f"cl-no-{unique}")
    assert (code, out) == (1, "")
    assert err.strip() == f"There is no order cl-no-{unique}."


def test_the_lines_are_the_readmes() -> None:
    """The lines above are README.md's, as written (a changed README fails here first)."""
    readme = " ".join((ROOT / "README.md").read_text().split())
    for command in DOCUMENTED:
        assert " ".join(command.split()) in readme, f"README.md no longer documents: {command}"
