"""Personal data is never readable at rest: the raw history of a completed or refused order, read
from the server without the key, holds no tax ID, address line, e-mail, phone number or domain,
whether the order carried it or Partner Center's answer did."""

from __future__ import annotations

import json

import pytest
from temporalio.client import Client

from clients.contract import order_workflow_id
from clients.storefront import Storefront
from devtools.samples import OFFICE_E3, line, new_customer, order
from ordering.refusals import RefusalCode
from ordering.status import Phase
from sandbox.admin_client import SandboxAdmin
from tests.engine.partner_center_state import assert_no_customer_created

TAX_ID = "7707083893"
PERSONAL = [TAX_ID, "Tverskaya", "it@example.com", "ada@example.com", "495 000 0000", "Lovelace"]


async def test_raw_history_holds_no_personal_data(
    shop: Storefront, client: Client, unique: str
) -> None:
    document = order(
        f"pii-{unique}",
        new_customer(
            f"pii{unique}",
            country="RU",
            tax_id=TAX_ID,
            phone="+7 495 000 0000",
            address={
                "address_line1": "1 Tverskaya",
                "city": "Moscow",
                "postal_code": "125009",
                "state": "",
            },
        ),
        line(OFFICE_E3, 1),
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    history = await client.get_workflow_handle(order_workflow_id(document.order_id)).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert len(history.events) > 20
    for value in PERSONAL:
        assert value.encode() not in raw, f"{value!r} is readable in the raw history"
    # ...while the storefront, holding the key, reads the order normally
    status = await shop.status(document.order_id)
    assert status.customer_id == outcome.customer_id


async def test_logs_of_an_order_hold_no_personal_data(
    shop: Storefront, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    document = order(
        f"piilog-{unique}",
        new_customer(
            f"piilog{unique}",
            country="RU",
            tax_id=TAX_ID,
            phone="+7 495 000 0000",
            address={
                "address_line1": "1 Tverskaya",
                "city": "Moscow",
                "postal_code": "125009",
                "state": "",
            },
        ),
        line(OFFICE_E3, 1),
    )
    await shop.place_order(document)
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED
    captured = capsys.readouterr()
    logs = captured.out + captured.err
    assert f"order-piilog-{unique}" in logs  # the order's activity logs were captured
    calls = [
        json.loads(text)
        for text in logs.splitlines()
        if text.startswith("{") and f"piilog-{unique}" in text
    ]
    purchase = next(
        c for c in calls if c.get("activity") == "checkout_cart" and "correlation_id" in c
    )
    assert purchase["order_id"] == document.order_id
    assert purchase["workflow_id"] == f"order-{document.order_id}" and purchase["run_id"]
    for value in PERSONAL:
        assert value not in logs, f"{value!r} appears in the logs"


async def test_a_refused_orders_history_holds_no_personal_data_either(
    shop_with: object, client: Client, unique: str
) -> None:
    """Refusal details (Microsoft's suggested addresses) travel in encrypted payloads; the
    refusal's message, stored in clear, names no address."""
    from tests.helpers import engine_config_for_tests

    config = engine_config_for_tests().model_copy(update={"billing_address_required": True})
    shop: Storefront = await shop_with(config)  # type: ignore[operator]
    document = order(
        f"piiref-{unique}",
        new_customer(
            f"piiref{unique}", address={"address_line1": "1 Lovelace way st", "city": "redmond"}
        ),
        line(OFFICE_E3, 1),
    )
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.refusal is not None
    assert outcome.refusal.details["suggested_addresses"]  # the storefront, with the key, sees them
    history = await client.get_workflow_handle(order_workflow_id(document.order_id)).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    for value in ("Lovelace way", "it@example.com", "ada@example.com", "Redmond", "redmond"):
        assert value.encode() not in raw, f"{value!r} is readable in the raw history"


async def test_refusals_naming_a_domain_or_carrying_microsofts_words_are_unreadable_at_rest(
    shop: Storefront, client: Client, admin: SandboxAdmin, unique: str
) -> None:
    """A taken domain (DOMAIN_TAKEN names it) and a Partner Center refusal whose description
    carries an e-mail address and a phone number: the failures' messages travel encrypted, so
    the raw histories hold neither; the storefront, with the key, reads both in full."""
    taken = f"taken{unique}"
    await admin.add_customer("Taken Ltd", f"{taken}.onmicrosoft.com")
    first = order(f"piitaken-{unique}", new_customer(taken), line(OFFICE_E3, 1))
    await shop.place_order(first)
    refused = await shop.wait_for_outcome(first.order_id)
    assert refused.refusal is not None and refused.refusal.code is RefusalCode.DOMAIN_TAKEN
    assert f"{taken}.onmicrosoft.com" in refused.refusal.message

    said = (
        "The company profile could not be saved: contact reviewer.ops@contoso-legal.example or "
        "call +1 (425) 555-0199 for customer piiwords."
    )
    await admin.refuse_next("POST /v1/customers", 400, 2000, said)
    second = order(f"piiwords-{unique}", new_customer(f"piiwords{unique}"), line(OFFICE_E3, 1))
    await shop.place_order(second)
    words = await shop.wait_for_outcome(second.order_id)
    assert words.refusal is not None
    assert words.refusal.code is RefusalCode.PARTNER_CENTER_REFUSED
    assert "reviewer.ops@contoso-legal.example" in words.refusal.message
    await assert_no_customer_created(admin, f"piiwords{unique}")

    for document, hidden in (
        (first, [taken, "it@example.com", "Lovelace"]),
        (second, ["reviewer.ops@contoso-legal.example", "555-0199", "(425)", "it@example.com"]),
    ):
        handle = client.get_workflow_handle(order_workflow_id(document.order_id))
        history = await handle.fetch_history()
        raw = b"".join(event.SerializeToString() for event in history.events)
        for value in hidden:
            assert value.encode() not in raw, f"{value!r} is readable in the raw history"
        # What stays readable names only the kind of failure.
        failed = history.events[-1].workflow_execution_failed_event_attributes
        assert failed.failure.message.endswith("(message encrypted)"), failed.failure.message
