"""The full-order dry run (issue 14), end to end: `Storefront.validate_order` on a real Temporal
server and the Partner Center sandbox. For each ordering rule the report says what the order
would do, or why it would be refused; and after every dry run Partner Center is exactly as it
was, and was sent reads only (the sandbox counts every call)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from clients.storefront import Storefront
from devtools.samples import (
    BUSINESS_BASIC,
    BUSINESS_STANDARD,
    DYNAMICS_SALES,
    EDUCATION_A1,
    INVALID_RU_TAX_ID,
    OFFICE_E3,
    VALID_RU_TAX_ID,
    VOICE_END_OF_SALE,
    catalog_item,
    existing_tenant,
    known_customer,
    line,
    new_customer,
    order,
)
from ordering.document import OrderDocument
from ordering.dry_run import CheckName, OrderValidation, PlannedAction, Verdict
from ordering.refusals import RefusalCode
from sandbox.admin_client import SandboxAdmin
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from tests.engine.test_ordering_rules import add_reseller
from tests.helpers import engine_config_for_tests, engine_worker

# What a dry run may send Partner Center: reads, and the address validation (a POST that
# writes nothing).
ADDRESS_VALIDATION = "POST /v1/validations/address"


class DryRuns:
    def __init__(self, shop: Storefront, checking_addresses: Storefront, admin: SandboxAdmin):
        self.shop = shop
        self.checking_addresses = checking_addresses
        self.admin = admin

    async def validate(
        self, document: OrderDocument, *, shop: Storefront | None = None
    ) -> OrderValidation:
        """The dry run's report; Partner Center unchanged by it, and asked only reads."""
        before = await self._state()
        await self.admin.clear_calls()
        report = await (shop or self.shop).validate_order(document)
        calls = await self.admin.calls()
        assert calls, "the dry run asked Partner Center nothing"
        writes = {
            call: n
            for call, n in calls.items()
            if not call.startswith(("GET ", "HEAD ")) and call != ADDRESS_VALIDATION
        }
        assert writes == {}, f"the dry run wrote to Partner Center: {writes}"
        assert await self._state() == before, "the dry run changed Partner Center"
        return report

    async def _state(self) -> dict[str, Any]:
        snapshot = await self.admin.snapshot()
        return {k: snapshot[k] for k in ("customers", "subscriptions", "orders", "takenDomains")}


@pytest.fixture(scope="module")
async def runs(temporal: WorkflowEnvironment) -> AsyncIterator[DryRuns]:
    """A sandbox of its own (its call counts are the dry runs' alone), a worker with the tests'
    configuration and one that checks billing addresses."""
    with SandboxServer(SandboxSettings(provisioning_delay_seconds=0)) as sandbox:
        queue = f"dry-run-{uuid.uuid4().hex[:8]}"
        addresses = engine_config_for_tests().model_copy(update={"billing_address_required": True})
        async with (
            engine_worker(temporal.client, sandbox, task_queue=queue) as shop,
            engine_worker(
                temporal.client, sandbox, task_queue=f"{queue}-addr", config=addresses
            ) as checking,
        ):
            admin = SandboxAdmin(sandbox.base_url)
            yield DryRuns(shop, checking, admin)
            await admin.aclose()


async def known(runs: DryRuns, unique: str, *subscriptions: tuple[str, int, str]) -> str:
    """A customer of the partner holding `subscriptions` (offer, quantity, billing cycle)."""
    customer_id = await runs.admin.add_customer("Known", f"known{unique}.onmicrosoft.com")
    for offer, quantity, cycle in subscriptions:
        await runs.admin.add_subscription(
            customer_id,
            catalog_item(offer),
            quantity=quantity,
            billingCycle=cycle,
            termDuration="P1Y" if cycle == "annual" else "P1M",
        )
    return customer_id


def verdicts(report: OrderValidation) -> dict[CheckName, Verdict]:
    return {c.check: c.verdict for c in report.checks}


async def test_a_new_customer_creates_and_every_check_passes(runs: DryRuns, unique: str) -> None:
    report = await runs.validate(
        order(f"new-{unique}", new_customer(f"new{unique}"), line(BUSINESS_BASIC, 3))
    )
    assert report.valid and report.refusal is None
    assert report.order_id == f"new-{unique}"
    assert verdicts(report)[CheckName.DOMAIN] is Verdict.PASSED
    assert verdicts(report)[CheckName.PLAN] is Verdict.PASSED
    assert Verdict.FAILED not in verdicts(report).values()
    [planned] = report.lines
    assert planned.action is PlannedAction.CREATE
    assert (planned.quantity_before, planned.quantity_after) == (0, 3)
    assert planned.message.startswith("creates a new subscription")
    # the dry run created nothing: the domain is still free (checked by `validate` too)
    assert f"new{unique}.onmicrosoft.com" not in (await runs.admin.snapshot())["takenDomains"]


async def test_a_taken_domain_is_refused(runs: DryRuns, unique: str) -> None:
    await runs.admin.add_tenant(f"taken{unique}.onmicrosoft.com", "Taken Inc")
    report = await runs.validate(order(f"taken-{unique}", new_customer(f"taken{unique}")))
    assert not report.valid
    assert report.refusal is not None and report.refusal.code is RefusalCode.DOMAIN_TAKEN
    assert report.check(CheckName.DOMAIN).verdict is Verdict.FAILED
    assert f"taken{unique}.onmicrosoft.com" in report.check(CheckName.DOMAIN).message


async def test_a_russian_customer_without_tax_id_will_be_asked_for_it(
    runs: DryRuns, unique: str
) -> None:
    document = order(f"ru-{unique}", new_customer(f"ru{unique}", country="RU"), line(OFFICE_E3, 2))
    report = await runs.validate(document)
    assert report.valid, report.refusal
    tax_id = report.check(CheckName.TAX_ID)
    assert tax_id.verdict is Verdict.WILL_WAIT
    assert "RU" in tax_id.message

    with_one = order(
        f"ru2-{unique}",
        new_customer(f"ru2{unique}", country="RU", tax_id=VALID_RU_TAX_ID),
        line(OFFICE_E3, 2),
    )
    assert (await runs.validate(with_one)).check(CheckName.TAX_ID).verdict is Verdict.PASSED


async def test_an_invalid_tax_id_is_reported_with_its_reason(runs: DryRuns, unique: str) -> None:
    # Where Microsoft requires one, the order asks for another: the report says why.
    required = order(
        f"inn-{unique}",
        new_customer(f"inn{unique}", country="RU", tax_id=INVALID_RU_TAX_ID),
        line(OFFICE_E3, 1),
    )
    check = (await runs.validate(required)).check(CheckName.TAX_ID)
    assert check.verdict is Verdict.WILL_WAIT
    assert "check digit is wrong" in check.message
    assert INVALID_RU_TAX_ID not in check.message  # never the tax ID itself
    # Where none is required, an invalid one refuses the order.
    optional = order(f"tin-{unique}", new_customer(f"tin{unique}", tax_id="12"), line(OFFICE_E3))
    report = await runs.validate(optional)
    assert not report.valid
    assert report.refusal is not None and report.refusal.code is RefusalCode.CUSTOMER_REJECTED
    assert "5 to 22 characters" in report.refusal.message


async def test_an_unverified_billing_address_is_refused_with_microsofts_suggestions(
    runs: DryRuns, unique: str
) -> None:
    document = order(
        f"sugg-{unique}",
        new_customer(
            f"sugg{unique}", address={"address_line1": "1 Microsoft way st", "city": "redmond"}
        ),
    )
    report = await runs.validate(document, shop=runs.checking_addresses)
    assert not report.valid
    assert report.refusal is not None
    assert report.refusal.code is RefusalCode.BILLING_ADDRESS_NOT_VERIFIED
    [suggestion] = report.suggested_addresses
    assert (suggestion.address_line1, suggestion.city) == ("1 Microsoft way Street", "Redmond")
    assert report.refusal.details["suggested_addresses"][0]["city"] == "Redmond"
    assert "Microsoft way" not in report.refusal.message
    # Without the switch the engine checks no address.
    plain = await runs.validate(document)
    assert plain.check(CheckName.BILLING_ADDRESS).verdict is Verdict.NOT_APPLICABLE


async def test_a_reseller_without_the_partner_agreement_is_refused(
    runs: DryRuns, unique: str
) -> None:
    reseller = await add_reseller(runs.admin, unique, signed=False)
    document = order(f"mpa-{unique}", new_customer(f"mpa{unique}"), reseller=reseller)
    report = await runs.validate(document)
    assert not report.valid
    assert report.refusal is not None
    assert report.refusal.code is RefusalCode.RESELLER_AGREEMENT_NOT_SIGNED
    assert report.check(CheckName.RESELLER_AGREEMENT).verdict is Verdict.FAILED
    # every other problem is still looked for: the rest of the order is fine
    assert report.check(CheckName.DOMAIN).verdict is Verdict.PASSED


async def test_a_known_customers_monthly_business_basic_gets_licences(
    runs: DryRuns, unique: str
) -> None:
    customer_id = await known(runs, unique, (BUSINESS_BASIC, 10, "monthly"))
    [held] = [
        s["id"]
        for s in (await runs.admin.snapshot())["subscriptions"]
        if s["customerId"] == customer_id
    ]
    report = await runs.validate(
        order(f"adds-{unique}", known_customer(customer_id), line(BUSINESS_BASIC, 5))
    )
    assert report.valid, report.refusal
    [planned] = report.lines
    assert planned.action is PlannedAction.ADD_LICENCES
    assert planned.subscription_id == held
    assert (planned.quantity_before, planned.quantity_after) == (10, 15)
    assert planned.message == f"adds 5 licences to subscription {held} (10 -> 15)"
    assert report.check(CheckName.CUSTOMER).verdict is Verdict.PASSED
    assert report.check(CheckName.CUSTOMER_AGREEMENT).verdict is Verdict.PASSED


async def test_monthly_held_annual_ordered_creates(runs: DryRuns, unique: str) -> None:
    customer_id = await known(runs, unique, (BUSINESS_BASIC, 10, "monthly"))
    report = await runs.validate(
        order(f"ann-{unique}", known_customer(customer_id), line(BUSINESS_BASIC, 5, "annual"))
    )
    assert report.valid, report.refusal
    assert report.lines[0].action is PlannedAction.CREATE


async def test_two_business_subscriptions_of_an_offer_already_is_the_limit(
    runs: DryRuns, unique: str
) -> None:
    customer_id = await known(
        runs, unique, (BUSINESS_BASIC, 1, "monthly"), (BUSINESS_BASIC, 1, "annual")
    )
    await runs.admin.add_subscription(
        customer_id, catalog_item(BUSINESS_BASIC), quantity=1, status="suspended"
    )
    report = await runs.validate(
        order(f"cap-{unique}", known_customer(customer_id), line(BUSINESS_BASIC, 1, "annual"))
    )
    # the annual one exists: licences are added, no third subscription, nothing refused
    assert report.lines[0].action is PlannedAction.ADD_LICENCES

    other = await known(runs, f"{unique}x", (BUSINESS_BASIC, 1, "annual"))
    await runs.admin.add_subscription(
        other, catalog_item(BUSINESS_BASIC), quantity=1, billingCycle="monthly", status="suspended"
    )
    refused = await runs.validate(
        order(f"cap2-{unique}", known_customer(other), line(BUSINESS_BASIC, 1))
    )
    assert not refused.valid
    assert refused.refusal is not None
    assert refused.refusal.code is RefusalCode.SUBSCRIPTION_LIMIT
    assert refused.lines[0].refused and refused.lines[0].action is PlannedAction.CREATE


async def test_the_300_seat_pool(runs: DryRuns, unique: str) -> None:
    report = await runs.validate(
        order(
            f"pool-{unique}",
            new_customer(f"pool{unique}"),
            line(BUSINESS_BASIC, 200),
            line(BUSINESS_STANDARD, 200),
        )
    )
    assert not report.valid
    assert report.refusal is not None and report.refusal.code is RefusalCode.SEAT_LIMIT
    assert report.refusal.problems[0].lines == [0, 1]
    assert [line.refused for line in report.lines] == [True, True]
    assert report.check(CheckName.PLAN).verdict is Verdict.FAILED


async def test_education_for_a_customer_not_qualified_is_not_eligible(
    runs: DryRuns, unique: str
) -> None:
    customer_id = await known(runs, unique)
    report = await runs.validate(
        order(
            f"edu-{unique}",
            known_customer(customer_id),
            line(OFFICE_E3, 1),
            line(EDUCATION_A1, 20, segment="Education"),
        )
    )
    assert not report.valid
    assert report.refusal is not None and report.refusal.code is RefusalCode.NOT_ELIGIBLE
    assert report.check(CheckName.SEGMENT_ELIGIBILITY).verdict is Verdict.FAILED
    assert [line.refused for line in report.lines] == [False, True]
    assert len(report.refusal.problems) == 1  # said once, not again by the plan


async def test_a_new_school_will_wait_for_vetting(runs: DryRuns, unique: str) -> None:
    report = await runs.validate(
        order(
            f"school-{unique}",
            new_customer(
                f"school{unique}", education={"segment": "K12", "website": "https://s.example"}
            ),
            line(EDUCATION_A1, 30, segment="Education"),
        )
    )
    assert report.valid, report.refusal
    assert report.check(CheckName.SEGMENT_ELIGIBILITY).verdict is Verdict.WILL_WAIT


async def test_a_discontinued_offer_is_refused_new_and_extended_when_held(
    runs: DryRuns, unique: str
) -> None:
    fresh = await runs.validate(
        order(f"eos-{unique}", new_customer(f"eos{unique}"), line(VOICE_END_OF_SALE, 2))
    )
    assert fresh.refusal is not None and fresh.refusal.code is RefusalCode.OFFER_DISCONTINUED
    holder = await known(runs, unique, (VOICE_END_OF_SALE, 4, "monthly"))
    held = await runs.validate(
        order(f"eos2-{unique}", known_customer(holder), line(VOICE_END_OF_SALE, 2))
    )
    assert held.valid, held.refusal
    assert held.lines[0].action is PlannedAction.ADD_LICENCES
    assert (held.lines[0].quantity_before, held.lines[0].quantity_after) == (4, 6)


async def test_dynamics_is_a_new_instance_every_time(runs: DryRuns, unique: str) -> None:
    customer_id = await known(runs, unique, (DYNAMICS_SALES, 10, "monthly"))
    report = await runs.validate(
        order(f"dyn-{unique}", known_customer(customer_id), line(DYNAMICS_SALES, 5))
    )
    assert report.valid, report.refusal
    assert report.lines[0].action is PlannedAction.CREATE
    # a plan that does not depend on the subscriptions does not read them
    assert "GET /v1/customers/{customer_id}/subscriptions" not in await runs.admin.calls()


async def test_two_lines_to_one_subscription_conflict(runs: DryRuns, unique: str) -> None:
    customer_id = await known(runs, unique, (OFFICE_E3, 3, "monthly"))
    report = await runs.validate(
        order(
            f"conf-{unique}",
            known_customer(customer_id),
            line(OFFICE_E3, 1),
            line(OFFICE_E3, 2, "annual"),
        )
    )
    assert not report.valid
    assert report.refusal is not None and report.refusal.code is RefusalCode.LINES_CONFLICT
    assert report.refusal.problems[0].lines == [0, 1]


async def test_an_existing_tenant_will_wait_for_the_relationship(
    runs: DryRuns, unique: str
) -> None:
    domain = f"legacy{unique}.onmicrosoft.com"
    await runs.admin.add_tenant(domain, "Legacy Corp")
    report = await runs.validate(order(f"rel-{unique}", existing_tenant(domain)))
    assert report.valid, report.refusal
    assert report.check(CheckName.CUSTOMER).verdict is Verdict.WILL_WAIT
    assert report.lines[0].action is PlannedAction.CREATE

    nobody = await runs.validate(
        order(f"none-{unique}", existing_tenant(f"none{unique}.onmicrosoft.com"))
    )
    assert nobody.refusal is not None and nobody.refusal.code is RefusalCode.CUSTOMER_NOT_FOUND


async def test_an_unknown_known_customer_is_refused(runs: DryRuns, unique: str) -> None:
    report = await runs.validate(
        order(f"unk-{unique}", known_customer("00000000-0000-4000-8000-000000000000"))
    )
    assert report.refusal is not None and report.refusal.code is RefusalCode.CUSTOMER_NOT_FOUND
    assert report.lines[0].action is None
