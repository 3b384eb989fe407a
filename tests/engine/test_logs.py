"""Log lines, as the worker writes them: one JSON shape for structlog's loggers and the standard
library's, with the order's context and no personal data. (The scan of a whole order's logs for
personal data is in test_personal_data.py.)"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from temporalio.client import Client

from clients.contract import PROVIDE_TAX_ID, TaxIdSubmission, order_workflow_id
from clients.storefront import Storefront
from devtools.samples import russian_order
from ordering.status import WaitingFor
from tests.helpers import eventually, wait_for

INVALID_TAX_ID = "7707083890"  # wrong check digit


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the worker's log handler writes (tests/conftest.py configures logging as
    `csp-orders worker` does)."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    out = io.StringIO()
    copy = logging.StreamHandler(out)
    copy.setFormatter(handler.formatter)
    for kept in handler.filters:
        copy.addFilter(kept)
    logging.getLogger().addHandler(copy)
    yield out
    logging.getLogger().removeHandler(copy)


async def test_a_workflows_log_line_carries_the_orders_context(
    shop: Storefront, client: Client, unique: str, log_lines: io.StringIO
) -> None:
    document = russian_order(f"ru-{unique}", f"ru{unique}")
    order_id = f"ru-{unique}"
    await shop.place_order(document)
    await wait_for(shop, order_id, WaitingFor.TAX_ID)
    handle = client.get_workflow_handle(order_workflow_id(order_id))
    try:
        await handle.signal(PROVIDE_TAX_ID, TaxIdSubmission(tax_id=INVALID_TAX_ID))

        async def noted() -> bool:
            status = await shop.status(order_id)
            return bool(status.waiting and status.waiting.last_problem)

        await eventually(noted, timeout=5, every=0.05, what="the invalid tax ID noted")
        lines = [json.loads(text) for text in log_lines.getvalue().splitlines()]
        [refused] = [x for x in lines if x["event"] == "tax ID not accepted"]
        assert refused["logger"] == "temporalio.workflow"
        assert refused["level"] == "info" and refused["timestamp"]
        assert refused["order_id"] == order_id
        assert refused["workflow_id"] == order_workflow_id(order_id)
        assert refused["run_id"] == (await handle.describe()).run_id
        assert refused["workflow_type"] == "OrderWorkflow"
    finally:
        await handle.cancel()


# Personal values a shape-based log redaction cannot recognise (a name, a street without a
# number, a city): only hiding input values at the source keeps them out of the log line.
UNRECOGNISABLE = ["Ada Lovelace", "Tverskaya", "Moscow"]


async def test_a_signal_that_fails_validation_logs_no_input_value(
    shop: Storefront, client: Client, unique: str, log_lines: io.StringIO
) -> None:
    """Issue 11: pydantic's validation errors used to repeat `input_value=...` into the worker's
    log when a signal's input did not fit its model. The worker drops the signal and logs the
    error with its traceback; the line names the model and the field, never the values."""
    document = russian_order(f"ru-{unique}", f"ru{unique}")
    order_id = f"ru-{unique}"
    await shop.place_order(document)
    await wait_for(shop, order_id, WaitingFor.TAX_ID)
    handle = client.get_workflow_handle(order_workflow_id(order_id))
    try:
        # a tax_id that is not a string: a name and an address where the tax ID should be
        person = dict(zip(("name", "street", "city"), UNRECOGNISABLE, strict=True))
        await handle.signal(PROVIDE_TAX_ID, {"tax_id": person})
        # one that is too long (64 at most), and starts like a real one
        await handle.signal(
            PROVIDE_TAX_ID, {"tax_id": "7707083893 " + " ".join(UNRECOGNISABLE) * 4}
        )

        async def both_dropped() -> list[dict[str, object]]:
            lines = [json.loads(text) for text in log_lines.getvalue().splitlines()]
            dropped = [
                x
                for x in lines
                if "Failed deserializing signal input" in str(x["event"])
                and x.get("workflow_id") == order_workflow_id(order_id)
            ]
            return dropped if len(dropped) == 2 else []

        dropped = await eventually(
            both_dropped, timeout=10, every=0.05, what=lambda: log_lines.getvalue()[-2000:]
        )
        for line in dropped:
            text = json.dumps(line, ensure_ascii=False)
            assert "validation error for TaxIdSubmission" in str(line["exception"])
            assert "tax_id" in str(line["exception"])
            assert "input_value" not in text
            for value in [*UNRECOGNISABLE, "7707083893"]:
                assert value not in text, f"{value!r} in {text}"
        status = await shop.status(order_id)
        assert status.phase.value == "waiting_for_tax_id"  # the order is unharmed
    finally:
        await handle.cancel()
