"""The full-order dry run (issue 14), end to end: `Storefront.validate_order` on a real Temporal
server and the Partner Center sandbox. For each ordering rule the report says what the order
would do, or why it would be refused; and after every dry run Partner Center is exactly as it
was, and was sent reads only (the sandbox counts every call)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from clients.storefront import Storefront
from devtools.samples import (
    BUSINESS_BASIC,
    BUSINESS_STANDARD,
    DYNAMICS_SALES,
    EDUCATION_A1,
    GOVERNMENT_G3,
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
from ordering.document import KnownCustomer, OrderDocument
from ordering.dry_run import CheckName, OrderValidation, PlannedAction, Verdict
from ordering.planning import LineAction
from ordering.refusals import RefusalCode
from ordering.status import OrderOutcome, Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from tests.engine.partner_center_state import holdings
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
        before = await self.state()
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
        assert await self.state() == before, "the dry run changed Partner Center"
        return report

    async def state(self) -> dict[str, Any]:
        """What Partner Center holds: its customers (with their agreements on record), their
        subscriptions and orders, and the domains taken."""
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


# The scenarios the tests below judge, and then place for real (the order decides as its dry run
# said: the end of this file).


@dataclass(frozen=True)
class Scenario:
    document: OrderDocument
    checks_addresses: bool = False  # placed with the worker that checks billing addresses


Build = Callable[[DryRuns, str], Awaitable[Scenario]]


async def taken_domain(runs: DryRuns, unique: str) -> Scenario:
    await runs.admin.add_tenant(f"taken{unique}.onmicrosoft.com", "Taken Inc")
    return Scenario(order(f"taken-{unique}", new_customer(f"taken{unique}")))


async def invalid_optional_tax_id(runs: DryRuns, unique: str) -> Scenario:
    return Scenario(
        order(f"tin-{unique}", new_customer(f"tin{unique}", tax_id="12"), line(OFFICE_E3))
    )


async def address_not_verified(runs: DryRuns, unique: str) -> Scenario:
    customer = new_customer(
        f"sugg{unique}", address={"address_line1": "1 Microsoft way st", "city": "redmond"}
    )
    return Scenario(order(f"sugg-{unique}", customer), checks_addresses=True)


async def reseller_not_signed(runs: DryRuns, unique: str) -> Scenario:
    reseller = await add_reseller(runs.admin, unique, signed=False)
    return Scenario(order(f"mpa-{unique}", new_customer(f"mpa{unique}"), reseller=reseller))


async def not_an_indirect_reseller(runs: DryRuns, unique: str) -> Scenario:
    reseller = await add_reseller(runs.admin, unique, mpa_check_error=2204)
    return Scenario(order(f"ind-{unique}", new_customer(f"ind{unique}"), reseller=reseller))


async def third_business_subscription(runs: DryRuns, unique: str) -> Scenario:
    customer_id = await known(runs, unique, (BUSINESS_BASIC, 1, "annual"))
    await runs.admin.add_subscription(
        customer_id,
        catalog_item(BUSINESS_BASIC),
        quantity=1,
        billingCycle="monthly",
        status="suspended",
    )
    return Scenario(order(f"cap-{unique}", known_customer(customer_id), line(BUSINESS_BASIC, 1)))


async def over_300_business_seats(runs: DryRuns, unique: str) -> Scenario:
    return Scenario(
        order(
            f"pool-{unique}",
            new_customer(f"pool{unique}"),
            line(BUSINESS_BASIC, 200),
            line(BUSINESS_STANDARD, 200),
        )
    )


async def education_not_qualified(runs: DryRuns, unique: str) -> Scenario:
    customer_id = await known(runs, unique)
    return Scenario(
        order(
            f"edu-{unique}",
            known_customer(customer_id),
            line(OFFICE_E3, 1),
            line(EDUCATION_A1, 20, segment="Education"),
        )
    )


async def government_buys_commercial(runs: DryRuns, unique: str) -> Scenario:
    customer_id = await runs.admin.add_customer(
        "Gov",
        f"gov{unique}.onmicrosoft.com",
        qualifications=[{"qualification": "GovernmentCommunityCloud"}],
    )
    return Scenario(order(f"gov-{unique}", known_customer(customer_id), line(OFFICE_E3, 1)))


async def discontinued_offer(runs: DryRuns, unique: str) -> Scenario:
    return Scenario(
        order(f"eos-{unique}", new_customer(f"eos{unique}"), line(VOICE_END_OF_SALE, 2))
    )


async def two_lines_one_subscription(runs: DryRuns, unique: str) -> Scenario:
    customer_id = await known(runs, unique, (OFFICE_E3, 3, "monthly"))
    return Scenario(
        order(
            f"conf-{unique}",
            known_customer(customer_id),
            line(OFFICE_E3, 1),
            line(OFFICE_E3, 2, "annual"),
        )
    )


async def unknown_customer(runs: DryRuns, unique: str) -> Scenario:
    return Scenario(order(f"unk-{unique}", known_customer("00000000-0000-4000-8000-000000000000")))


async def no_such_tenant(runs: DryRuns, unique: str) -> Scenario:
    return Scenario(order(f"none-{unique}", existing_tenant(f"none{unique}.onmicrosoft.com")))


async def taken_domain_and_over_300_seats(runs: DryRuns, unique: str) -> Scenario:
    await runs.admin.add_tenant(f"both{unique}.onmicrosoft.com", "Taken Inc")
    return Scenario(
        order(
            f"both-{unique}",
            new_customer(f"both{unique}"),
            line(BUSINESS_BASIC, 200),
            line(BUSINESS_STANDARD, 200),
        )
    )


async def conflict_and_not_eligible(runs: DryRuns, unique: str) -> Scenario:
    customer_id = await known(runs, unique, (OFFICE_E3, 3, "monthly"))
    return Scenario(
        order(
            f"mixed-{unique}",
            known_customer(customer_id),
            line(OFFICE_E3, 1),
            line(EDUCATION_A1, 20, segment="Education"),
            line(OFFICE_E3, 2, "annual"),
        )
    )


async def unknown_customer_and_offer(runs: DryRuns, unique: str) -> Scenario:
    return Scenario(
        order(
            f"unk2-{unique}",
            known_customer("00000000-0000-4000-8000-000000000000"),
            line("CFQ7TTC0ZZZZ:0001", 1),
        )
    )


async def new_customer_creates(runs: DryRuns, unique: str) -> Scenario:
    return Scenario(order(f"new-{unique}", new_customer(f"new{unique}"), line(BUSINESS_BASIC, 3)))


async def known_customer_adds(runs: DryRuns, unique: str) -> Scenario:
    customer_id = await known(runs, unique, (BUSINESS_BASIC, 10, "monthly"))
    return Scenario(order(f"adds-{unique}", known_customer(customer_id), line(BUSINESS_BASIC, 5)))


async def non_profit_creates_and_adds(runs: DryRuns, unique: str) -> Scenario:
    customer_id = await runs.admin.add_customer(
        "Charity",
        f"charity{unique}.onmicrosoft.com",
        qualifications=[{"qualification": "Nonprofit"}],
    )
    await runs.admin.add_subscription(customer_id, catalog_item(OFFICE_E3), quantity=4)
    return Scenario(
        order(
            f"npo-{unique}",
            known_customer(customer_id),
            line(BUSINESS_BASIC, 5, segment="NonProfit"),
            line(OFFICE_E3, 2),
        )
    )


# ------------------------------------------------------------ the dry run's report, rule by rule


async def test_a_new_customer_creates_and_every_check_passes(runs: DryRuns, unique: str) -> None:
    report = await runs.validate((await new_customer_creates(runs, unique)).document)
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
    report = await runs.validate((await taken_domain(runs, unique)).document)
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
    report = await runs.validate((await invalid_optional_tax_id(runs, unique)).document)
    assert not report.valid
    assert report.refusal is not None and report.refusal.code is RefusalCode.CUSTOMER_REJECTED
    assert "5 to 22 characters" in report.refusal.message


async def test_an_unverified_billing_address_is_refused_with_microsofts_suggestions(
    runs: DryRuns, unique: str
) -> None:
    document = (await address_not_verified(runs, unique)).document
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
    report = await runs.validate((await reseller_not_signed(runs, unique)).document)
    assert not report.valid
    assert report.refusal is not None
    assert report.refusal.code is RefusalCode.RESELLER_AGREEMENT_NOT_SIGNED
    assert report.check(CheckName.RESELLER_AGREEMENT).verdict is Verdict.FAILED
    # every other problem is still looked for: the rest of the order is fine
    assert report.check(CheckName.DOMAIN).verdict is Verdict.PASSED


async def test_a_partner_that_is_not_an_indirect_reseller_is_refused(
    runs: DryRuns, unique: str
) -> None:
    """Microsoft's MPA check answers 2204 for a partner id that is not an indirect reseller."""
    document = (await not_an_indirect_reseller(runs, unique)).document
    report = await runs.validate(document)
    assert not report.valid
    assert report.refusal is not None and document.reseller is not None
    assert report.refusal.code is RefusalCode.RESELLER_NOT_ELIGIBLE
    assert report.refusal.message == (
        f"The partner {document.reseller.mpn_id} is not an indirect reseller: orders for it "
        "cannot be placed through an indirect provider."
    )
    assert report.check(CheckName.RESELLER_AGREEMENT).verdict is Verdict.FAILED
    assert report.check(CheckName.DOMAIN).verdict is Verdict.PASSED
    # the reseller refuses the order, not a line: each line is still planned
    [planned] = report.lines
    assert (planned.action, planned.refused) == (PlannedAction.CREATE, False)
    assert planned.message == "creates a new subscription with 1 licence"


async def test_a_known_customers_monthly_business_basic_gets_licences(
    runs: DryRuns, unique: str
) -> None:
    document = (await known_customer_adds(runs, unique)).document
    assert isinstance(document.customer, KnownCustomer)
    [held] = [
        s["id"]
        for s in (await runs.admin.snapshot())["subscriptions"]
        if s["customerId"] == document.customer.customer_id
    ]
    report = await runs.validate(document)
    assert report.valid, report.refusal
    [planned] = report.lines
    assert planned.action is PlannedAction.ADD_LICENCES
    assert planned.subscription_id == held
    assert (planned.quantity_before, planned.quantity_after) == (10, 15)
    assert planned.message == f"adds 5 licences to subscription {held} (10 -> 15)"
    assert report.check(CheckName.CUSTOMER).verdict is Verdict.PASSED
    assert report.check(CheckName.CUSTOMER_AGREEMENT).verdict is Verdict.PASSED


async def test_a_customer_agreement_not_on_record_and_one_partner_center_will_not_show(
    runs: DryRuns, unique: str
) -> None:
    customer_id = await runs.admin.add_customer(
        "Mca", f"mca{unique}.onmicrosoft.com", customer_agreement=False
    )
    document = order(f"mca-{unique}", known_customer(customer_id), line(OFFICE_E3, 1))
    # Not on record: the order records it before buying; the dry run records nothing (the
    # customer's agreements on record are part of what `validate` compares).
    report = await runs.validate(document)
    assert report.valid, report.refusal
    agreement = report.check(CheckName.CUSTOMER_AGREEMENT)
    assert agreement.verdict is Verdict.PASSED
    assert agreement.message == (
        "The customer's acceptance of the Microsoft Customer Agreement is not on record: the "
        "engine records the order's before buying."
    )

    # Partner Center refuses to list the customer's agreements: the check fails with
    # Microsoft's words, and every other check and the plan are still reported.
    await runs.admin.refuse_next(
        "GET /v1/customers/{customer_id}/agreements",
        403,
        600007,
        "Access to the customer's agreements is denied.",
    )
    refused = await runs.validate(document)
    assert not refused.valid
    assert refused.refusal is not None
    assert refused.refusal.code is RefusalCode.PARTNER_CENTER_REFUSED
    assert refused.refusal.message == (
        "Microsoft refused the request: Access to the customer's agreements is denied."
    )
    assert refused.refusal.partner_center_code == "600007"  # Microsoft's own code, kept
    assert refused.check(CheckName.CUSTOMER_AGREEMENT).verdict is Verdict.FAILED
    assert refused.check(CheckName.CUSTOMER).verdict is Verdict.PASSED
    [planned] = refused.lines
    assert (planned.action, planned.refused) == (PlannedAction.CREATE, False)


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

    refused = await runs.validate((await third_business_subscription(runs, f"{unique}x")).document)
    assert not refused.valid
    assert refused.refusal is not None
    assert refused.refusal.code is RefusalCode.SUBSCRIPTION_LIMIT
    assert refused.lines[0].refused and refused.lines[0].action is PlannedAction.CREATE


async def test_the_300_seat_pool(runs: DryRuns, unique: str) -> None:
    report = await runs.validate((await over_300_business_seats(runs, unique)).document)
    assert not report.valid
    assert report.refusal is not None and report.refusal.code is RefusalCode.SEAT_LIMIT
    assert report.refusal.problems[0].lines == [0, 1]
    assert [line.refused for line in report.lines] == [True, True]
    assert report.check(CheckName.PLAN).verdict is Verdict.FAILED


async def test_education_for_a_customer_not_qualified_is_not_eligible(
    runs: DryRuns, unique: str
) -> None:
    report = await runs.validate((await education_not_qualified(runs, unique)).document)
    assert not report.valid
    assert report.refusal is not None and report.refusal.code is RefusalCode.NOT_ELIGIBLE
    assert report.check(CheckName.SEGMENT_ELIGIBILITY).verdict is Verdict.FAILED
    assert [line.refused for line in report.lines] == [False, True]
    assert len(report.refusal.problems) == 1  # said once, not again by the plan


async def test_a_government_customer_buys_government_plans_only(runs: DryRuns, unique: str) -> None:
    customer_id = await runs.admin.add_customer(
        "Gov",
        f"gov{unique}.onmicrosoft.com",
        qualifications=[{"qualification": "GovernmentCommunityCloud"}],
    )
    report = await runs.validate(
        order(
            f"gov-ok-{unique}",
            known_customer(customer_id),
            line(GOVERNMENT_G3, 5, segment="Government"),
        )
    )
    assert report.valid, report.refusal
    eligibility = report.check(CheckName.SEGMENT_ELIGIBILITY)
    assert eligibility.verdict is Verdict.PASSED
    assert eligibility.message == "The customer is qualified for every line's segment."
    [planned] = report.lines
    assert (planned.action, planned.quantity_before, planned.quantity_after) == (
        PlannedAction.CREATE,
        0,
        5,
    )
    assert planned.message == "creates a new subscription with 5 licences"

    # An all-commercial order is judged too: a government customer may not buy it.
    refused = await runs.validate(
        order(f"gov-no-{unique}", known_customer(customer_id), line(OFFICE_E3, 1))
    )
    assert not refused.valid
    assert refused.refusal is not None and refused.refusal.code is RefusalCode.NOT_ELIGIBLE
    sentence = "This customer cannot buy Office 365 E3: it is only for commercial customers."
    assert refused.refusal.message == sentence
    assert refused.check(CheckName.SEGMENT_ELIGIBILITY).verdict is Verdict.FAILED
    [line_refused] = refused.lines
    assert line_refused.refused and line_refused.message == f"refused: {sentence}"
    assert line_refused.action is PlannedAction.CREATE


async def test_a_non_profit_customer_may_buy_the_non_profit_plan_and_others_may_not(
    runs: DryRuns, unique: str
) -> None:
    charity = await runs.admin.add_customer(
        "Charity",
        f"charity{unique}.onmicrosoft.com",
        qualifications=[{"qualification": "Nonprofit"}],
    )
    report = await runs.validate(
        order(
            f"npo-{unique}", known_customer(charity), line(BUSINESS_BASIC, 5, segment="NonProfit")
        )
    )
    assert report.valid, report.refusal
    assert report.check(CheckName.SEGMENT_ELIGIBILITY).verdict is Verdict.PASSED
    [planned] = report.lines
    assert (planned.action, planned.quantity_before, planned.quantity_after) == (
        PlannedAction.CREATE,
        0,
        5,
    )
    assert planned.title == "Microsoft 365 Business Basic"

    plain = await known(runs, unique)
    refused = await runs.validate(
        order(
            f"npo-no-{unique}", known_customer(plain), line(BUSINESS_BASIC, 5, segment="NonProfit")
        )
    )
    assert not refused.valid
    assert refused.refusal is not None and refused.refusal.code is RefusalCode.NOT_ELIGIBLE
    assert refused.refusal.message == (
        "This customer cannot buy Microsoft 365 Business Basic: it is only for qualified "
        "non-profit customers."
    )
    assert refused.check(CheckName.SEGMENT_ELIGIBILITY).verdict is Verdict.FAILED
    assert refused.lines[0].refused


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
    fresh = await runs.validate((await discontinued_offer(runs, unique)).document)
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
    report = await runs.validate((await two_lines_one_subscription(runs, unique)).document)
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

    nobody = await runs.validate((await no_such_tenant(runs, unique)).document)
    assert nobody.refusal is not None and nobody.refusal.code is RefusalCode.CUSTOMER_NOT_FOUND


async def test_an_unknown_known_customer_is_refused(runs: DryRuns, unique: str) -> None:
    report = await runs.validate((await unknown_customer(runs, unique)).document)
    assert report.refusal is not None and report.refusal.code is RefusalCode.CUSTOMER_NOT_FOUND
    assert report.lines[0].action is None


async def test_microsoft_refusing_to_describe_an_offer_is_reported_not_a_failed_dry_run(
    runs: DryRuns, unique: str
) -> None:
    """The order is refused where Microsoft refuses a read (workflows/order.py): so is its dry
    run, with Microsoft's words and code, every check listed, and no line planned."""
    customer_id = await known(runs, unique)
    # (a country no other test here orders in: the module's worker remembers catalog facts per
    # country and offer, and the refusal must meet a read)
    document = order(f"sku-{unique}", known_customer(customer_id, country="IS"), line(OFFICE_E3, 1))
    await runs.admin.refuse_next(
        "GET /v1/products/{product_id}/skus/{sku_id}", 403, 600010, "The catalog is not yours."
    )
    report = await runs.validate(document)
    assert not report.valid and report.refusal is not None
    assert report.refusal.code is RefusalCode.PARTNER_CENTER_REFUSED
    assert report.refusal.partner_center_code == "600010"
    assert "The catalog is not yours." in report.refusal.message
    assert [c.check for c in report.checks] == list(CheckName)
    assert report.check(CheckName.PLAN).verdict is Verdict.FAILED
    assert report.check(CheckName.CUSTOMER).verdict is Verdict.NOT_APPLICABLE
    [planned] = report.lines
    assert planned.action is None and not planned.refused


# ------------------------------------------------------------ the order decides as its dry run said


REFUSED = [
    pytest.param(taken_domain, RefusalCode.DOMAIN_TAKEN, id="domain taken"),
    pytest.param(invalid_optional_tax_id, RefusalCode.CUSTOMER_REJECTED, id="invalid tax ID"),
    pytest.param(
        address_not_verified, RefusalCode.BILLING_ADDRESS_NOT_VERIFIED, id="address not verified"
    ),
    pytest.param(
        reseller_not_signed, RefusalCode.RESELLER_AGREEMENT_NOT_SIGNED, id="reseller not signed"
    ),
    pytest.param(
        not_an_indirect_reseller, RefusalCode.RESELLER_NOT_ELIGIBLE, id="not indirect reseller"
    ),
    pytest.param(
        third_business_subscription, RefusalCode.SUBSCRIPTION_LIMIT, id="third subscription"
    ),
    pytest.param(over_300_business_seats, RefusalCode.SEAT_LIMIT, id="over 300 seats"),
    pytest.param(education_not_qualified, RefusalCode.NOT_ELIGIBLE, id="education"),
    pytest.param(government_buys_commercial, RefusalCode.NOT_ELIGIBLE, id="government"),
    pytest.param(discontinued_offer, RefusalCode.OFFER_DISCONTINUED, id="discontinued"),
    pytest.param(two_lines_one_subscription, RefusalCode.LINES_CONFLICT, id="lines conflict"),
    pytest.param(unknown_customer, RefusalCode.CUSTOMER_NOT_FOUND, id="unknown customer"),
    pytest.param(no_such_tenant, RefusalCode.CUSTOMER_NOT_FOUND, id="no such tenant"),
    # Two problems: the order is refused for the one it finds first (a new customer's lines
    # before its domain; every customer's lines against the catalog before the customer; the
    # eligibility before the plan).
    pytest.param(
        taken_domain_and_over_300_seats,
        RefusalCode.SEAT_LIMIT,
        id="domain and seats",
    ),
    pytest.param(
        conflict_and_not_eligible,
        RefusalCode.NOT_ELIGIBLE,
        id="conflict and not eligible",
    ),
    pytest.param(
        unknown_customer_and_offer,
        RefusalCode.OFFER_NOT_FOUND,
        id="customer and offer",
    ),
]
CARRIED_OUT: dict[str, Build] = {
    "new customer creates": new_customer_creates,
    "known customer adds": known_customer_adds,
    "non-profit creates and adds": non_profit_creates_and_adds,
}
DONE = {
    PlannedAction.CREATE: LineAction.CREATE,
    PlannedAction.ADD_LICENCES: LineAction.ADD_LICENCES,
}


async def validated_then_placed(
    runs: DryRuns, scenario: Scenario
) -> tuple[OrderValidation, OrderOutcome, dict[str, Any]]:
    """The dry run's report, then the same order placed for real: its outcome, and what
    Partner Center held just before it was placed."""
    shop = runs.checking_addresses if scenario.checks_addresses else runs.shop
    report = await runs.validate(scenario.document, shop=shop)
    before = await runs.state()
    await shop.place_order(scenario.document)
    return report, await shop.wait_for_outcome(scenario.document.order_id), before


@pytest.mark.parametrize(("build", "code"), REFUSED)
async def test_an_order_is_refused_with_its_dry_runs_code(
    runs: DryRuns, unique: str, build: Build, code: RefusalCode
) -> None:
    report, outcome, before = await validated_then_placed(runs, await build(runs, unique))
    assert outcome.phase is Phase.REFUSED, outcome
    assert outcome.refusal is not None and outcome.refusal.code is code
    assert await runs.state() == before, "the refused order changed Partner Center"
    assert report.refusal is not None and not report.valid
    assert report.refusal.code is code, report.refusal
    if len(report.refusal.problems) == 1:  # the one problem, in the order's words
        assert outcome.refusal.message == report.refusal.message


@pytest.mark.parametrize("name", CARRIED_OUT)
async def test_an_order_does_what_its_dry_run_planned(
    runs: DryRuns, unique: str, name: str
) -> None:
    report, outcome, before = await validated_then_placed(
        runs, await CARRIED_OUT[name](runs, unique)
    )
    assert report.valid, report.refusal
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    assert outcome.customer_id is not None
    held = await holdings(runs.admin, outcome.customer_id)
    held_before = {
        s["id"] for s in before["subscriptions"] if s["customerId"] == outcome.customer_id
    }
    for planned, done in zip(report.lines, outcome.lines, strict=True):
        assert planned.action is not None
        assert (done.action, done.quantity_before, done.quantity_after) == (
            DONE[planned.action],
            planned.quantity_before,
            planned.quantity_after,
        )
        assert done.subscription_id is not None
        if planned.action is PlannedAction.ADD_LICENCES:
            assert done.subscription_id == planned.subscription_id
        else:
            assert done.subscription_id not in held_before
        assert held[done.subscription_id][1] == planned.quantity_after
