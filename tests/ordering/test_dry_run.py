"""The dry run's report (ordering/dry_run.py) and the order's checks it shares with the order
(ordering/checks.py): pure, no Temporal."""

from __future__ import annotations

from datetime import date
from typing import Any

from devtools.samples import INVALID_RU_TAX_ID, VALID_RU_TAX_ID, new_customer
from ordering.checks import (
    TaxIdStep,
    address_not_verified,
    domain_taken,
    reseller_refusal,
    tax_id_decision,
)
from ordering.document import BillingAddress, NewCustomer, OrderLine
from ordering.dry_run import (
    CheckName,
    PlannedAction,
    Verdict,
    failed,
    judged,
    line_plans,
    passed,
    validation,
    will_wait,
    without_repeats,
)
from ordering.planning import LineAction, OfferFacts, Plan, PlannedLine
from ordering.refusals import Problem, Refusal, RefusalCode, refusal_for

TODAY = date(2026, 1, 1)
E3 = "CFQ7TTC0LF8Q:0001"
OFFERS = {E3: OfferFacts(offer=E3, title="Office 365 E3", purchasable=True)}


def customer(**extra: Any) -> NewCustomer:
    return NewCustomer.model_validate(new_customer("acme", **extra))


def planned(line: int, action: LineAction, before: int = 0, add: int = 5) -> PlannedLine:
    return PlannedLine(
        line=line,
        offer=E3,
        title="Office 365 E3",
        action=action,
        subscription_id="sub-1" if action is LineAction.ADD_LICENCES else None,
        billing_cycle="monthly",
        term_duration="P1M",
        quantity=add,
        quantity_before=before,
        quantity_after=before + add,
    )


def order_line(quantity: int = 5) -> OrderLine:
    return OrderLine.model_validate({"offer": E3, "quantity": quantity, "billing_cycle": "monthly"})


# ---------------------------------------------------------------- the shared checks


def test_reseller_refusals_in_the_order_of_the_rules() -> None:
    assert reseller_refusal("1234567", known=True, signed=True, ineligible=None) is None
    unknown = reseller_refusal("1234567", known=False, signed=False, ineligible=None)
    assert unknown is not None and unknown.code is RefusalCode.RESELLER_UNKNOWN
    region = reseller_refusal("1234567", known=True, signed=False, ineligible="region_mismatch")
    assert region is not None and region.code is RefusalCode.RESELLER_NOT_ELIGIBLE
    unsigned = reseller_refusal("1234567", known=True, signed=False, ineligible=None)
    assert unsigned is not None and unsigned.code is RefusalCode.RESELLER_AGREEMENT_NOT_SIGNED


def test_tax_id_decisions() -> None:
    ru = tax_id_decision(customer(country="RU"), TODAY)
    assert ru.step is TaxIdStep.ASK and ru.problem is None
    given = tax_id_decision(customer(country="RU", tax_id=VALID_RU_TAX_ID), TODAY)
    assert (given.step, given.value) == (TaxIdStep.USE, VALID_RU_TAX_ID)
    wrong = tax_id_decision(customer(country="RU", tax_id=INVALID_RU_TAX_ID), TODAY)
    assert wrong.step is TaxIdStep.ASK and wrong.problem and "check digit" in wrong.problem
    later = tax_id_decision(
        customer(country="RU", tax_id=INVALID_RU_TAX_ID), TODAY, supplied=VALID_RU_TAX_ID
    )
    assert (later.step, later.value) == (TaxIdStep.USE, VALID_RU_TAX_ID)
    assert tax_id_decision(customer(), TODAY).step is TaxIdStep.NOT_NEEDED
    bad = tax_id_decision(customer(tax_id="12"), TODAY)
    assert bad.step is TaxIdStep.REFUSE and bad.refusal is not None
    assert bad.refusal.code is RefusalCode.CUSTOMER_REJECTED
    no_phone = tax_id_decision(customer(country="RU", phone=None), TODAY)
    assert no_phone.refusal is not None
    assert no_phone.refusal.code is RefusalCode.BILLING_ADDRESS_INCOMPLETE
    assert no_phone.refusal.details == {"missing_fields": ["phone"]}


# ---------------------------------------------------------------- the report


def test_each_planned_line_in_a_sentence() -> None:
    lines = line_plans(
        [order_line(), order_line(2)],
        OFFERS,
        Plan(
            lines=[
                planned(0, LineAction.CREATE),
                planned(1, LineAction.ADD_LICENCES, before=10, add=2),
            ]
        ),
        [],
    )
    assert [(x.action, x.message) for x in lines] == [
        (PlannedAction.CREATE, "creates a new subscription with 5 licences"),
        (PlannedAction.ADD_LICENCES, "adds 2 licences to subscription sub-1 (10 -> 12)"),
    ]


def test_a_refused_line_says_why() -> None:
    problem = Problem(code=RefusalCode.SEAT_LIMIT, message="Too many seats.", lines=[0])
    [entry] = line_plans(
        [order_line()], OFFERS, Plan(lines=[planned(0, LineAction.CREATE)]), [problem]
    )
    assert entry.refused and entry.problems == [problem]
    assert entry.message == "refused: Too many seats."


def test_valid_unless_a_check_fails_and_waiting_is_valid() -> None:
    report = validation(
        "o-1",
        [
            passed(CheckName.DOMAIN, "free"),
            will_wait(CheckName.TAX_ID, "asked for"),
        ],
        [],
    )
    assert report.valid and report.refusal is None


def test_the_refusal_names_every_problem_and_starts_with_the_first_step() -> None:
    suggestion = BillingAddress(country="US", city="Redmond")
    seats = Problem(code=RefusalCode.SEAT_LIMIT, message="Too many seats.", lines=[1])
    report = validation(
        "o-1",
        [
            failed(CheckName.DOMAIN, domain_taken("acme.onmicrosoft.com")),
            failed(CheckName.BILLING_ADDRESS, address_not_verified("Suggested", [suggestion])),
            judged(CheckName.PLAN, [seats], otherwise=passed(CheckName.PLAN, "")),
        ],
        [],
        [suggestion],
    )
    assert not report.valid
    refusal = report.refusal
    assert refusal is not None and refusal.code is RefusalCode.DOMAIN_TAKEN
    assert [p.code for p in refusal.problems] == [
        RefusalCode.DOMAIN_TAKEN,
        RefusalCode.BILLING_ADDRESS_NOT_VERIFIED,
        RefusalCode.SEAT_LIMIT,
    ]
    assert refusal.details["domain"] == "acme.onmicrosoft.com"
    assert refusal.details["suggested_addresses"][0]["city"] == "Redmond"
    assert refusal.details["lines"] == [1]
    assert "Redmond" not in refusal.message
    assert report.check(CheckName.PLAN).verdict is Verdict.FAILED


def test_the_refusal_has_the_code_where_the_order_stops_and_microsofts_code() -> None:
    # A new customer's order judges its lines before its domain: it stops at the seats, and
    # the report names both problems under that code. A refusal of Microsoft's keeps its code.
    seats = Problem(code=RefusalCode.SEAT_LIMIT, message="Too many seats.", lines=[0])
    checks = [
        failed(CheckName.DOMAIN, domain_taken("acme.onmicrosoft.com")),
        judged(CheckName.PLAN, [seats], otherwise=passed(CheckName.PLAN, "")),
    ]
    report = validation("o-1", checks, [], stop=refusal_for([seats]))
    refusal = report.refusal
    assert refusal is not None and refusal.code is RefusalCode.SEAT_LIMIT
    assert [p.code for p in refusal.problems] == [RefusalCode.DOMAIN_TAKEN, RefusalCode.SEAT_LIMIT]
    assert refusal.partner_center_code is None

    microsoft = Refusal(
        code=RefusalCode.PARTNER_CENTER_REFUSED,
        message="Microsoft refused the request: denied.",
        partner_center_code="600007",
    )
    report = validation(
        "o-1", [failed(CheckName.CUSTOMER_AGREEMENT, microsoft)], [], stop=microsoft
    )
    assert report.refusal is not None
    assert (report.refusal.code, report.refusal.message, report.refusal.partner_center_code) == (
        RefusalCode.PARTNER_CENTER_REFUSED,
        "Microsoft refused the request: denied.",
        "600007",
    )


def test_only_lines_refused_is_the_orders_own_refusal() -> None:
    seats = Problem(code=RefusalCode.SEAT_LIMIT, message="Too many seats.", lines=[0, 1])
    report = validation(
        "o-1", [judged(CheckName.PLAN, [seats], otherwise=passed(CheckName.PLAN, ""))], []
    )
    assert report.refusal is not None
    assert (report.refusal.code, report.refusal.message) == (
        RefusalCode.SEAT_LIMIT,
        "Too many seats.",
    )
    assert report.refusal.details == {"lines": [0, 1]}


def test_a_problem_is_said_once() -> None:
    not_eligible = Problem(code=RefusalCode.NOT_ELIGIBLE, message="No.", lines=[1])
    missing = Problem(code=RefusalCode.OFFER_NOT_FOUND, message="Unknown.", lines=[0])
    eligibility_of_unknown = Problem(code=RefusalCode.NOT_ELIGIBLE, message="No.", lines=[0])
    plan, eligibility = without_repeats(
        [missing, not_eligible], [eligibility_of_unknown, not_eligible], [missing]
    )
    assert plan == [missing]
    assert eligibility == [not_eligible]


def test_the_report_is_json() -> None:
    report = validation("o-1", [passed(CheckName.PLAN, "fine")], [])
    dumped = report.model_dump(mode="json")
    assert dumped["checks"][0] == {
        "check": "plan",
        "verdict": "passed",
        "message": "fine",
        "problems": [],
        "details": {},
    }
    schema = type(report).model_json_schema()
    assert schema["properties"]["valid"]["description"]
