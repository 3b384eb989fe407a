"""What the Temporal UI shows as an order's current details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ordering.current_details import current_details, describe_waiting
from ordering.refusals import Refusal, RefusalCode
from ordering.status import LineState, LineStatus, OrderStatus, Phase, Waiting, WaitingFor

SINCE = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def test_a_waiting_order_says_what_it_waits_for_and_until_when() -> None:
    status = OrderStatus(
        order_id="shop-1",
        phase=Phase.WAITING_FOR_TAX_ID,
        waiting=Waiting(
            what=WaitingFor.TAX_ID,
            since=SINCE,
            expires_at=SINCE + timedelta(days=14),
            reminders_sent=2,
            last_problem="The INN must have 10 or 12 digits.",
        ),
        lines=[LineStatus(line=0, offer="CFQ7TTC0LF8Q:0001", quantity=7)],
    )
    # (values are Markdown-escaped: tests/ordering/test_markdown_escaping.py)
    assert current_details(status).split("  \n") == [
        r"**Phase:** waiting\_for\_tax\_id",
        r"**Waiting for:** the customer's tax ID \(Microsoft requires one in this country\), "
        r"since 2026\-11\-25 09\:30 UTC; gives up at 2026\-12\-09 09\:30 UTC; reminders sent\: 2",
        r"**Last input refused:** The INN must have 10 or 12 digits\.",
        r"**Lines:** 1 pending",
    ]


def test_a_finished_order_shows_its_customer_lines_and_refusal() -> None:
    status = OrderStatus(
        order_id="shop-2",
        phase=Phase.FAILED,
        customer_id="c-42",
        lines=[
            LineStatus(line=0, offer="A:1", quantity=1, state=LineState.FULFILLED),
            LineStatus(line=1, offer="B:1", quantity=1, state=LineState.FAILED),
            LineStatus(line=2, offer="C:1", quantity=1, state=LineState.FULFILLED),
        ],
        refusal=Refusal(code=RefusalCode.OFFER_DISCONTINUED, message="Not sold here."),
    )
    assert current_details(status).split("  \n") == [
        r"**Phase:** failed",
        r"**Customer:** c\-42",
        r"**Lines:** 2 fulfilled, 1 failed",
        r"**Refused:** OFFER\_DISCONTINUED\: Not sold here\.",
    ]


def test_every_kind_of_wait_has_its_own_sentence() -> None:
    sentences = {describe_waiting(Waiting(what=what, since=SINCE)) for what in WaitingFor}
    assert len(sentences) == len(WaitingFor)


def test_inputs_that_arrived_unencrypted_are_shown() -> None:
    status = OrderStatus(
        order_id="shop-1", phase=Phase.WAITING_FOR_TAX_ID, unencrypted_inputs=["tax_id"]
    )
    assert current_details(status).splitlines()[-1] == (
        "**Arrived unencrypted:** the tax ID \\(sent without the payload keys, e\\.g\\. with the "
        "plain temporal CLI\\)\\: readable in this order's history for as long as it is retained"
    )
