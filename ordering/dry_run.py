"""The full-order dry run's report: every check the order would run, against Partner Center's
current state, and the plan, without writing anything (issue 14).

The workflow (workflows/validate_order.py) asks Partner Center only what the order would read;
the verdicts here come from the same decisions the order takes (`ordering.checks`,
`ordering.eligibility`, `ordering.feasibility`, `ordering.planning`): this module only turns
them into the report. Pure: no I/O. Sentences name no personal data.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ordering.document import BillingAddress, OrderLine
from ordering.planning import LineAction, OfferFacts, Plan, PlannedLine
from ordering.refusals import Problem, Refusal, RefusalCode, refusal_for


class Verdict(StrEnum):
    PASSED = "passed"  # the order would pass this check
    FAILED = "failed"  # the order would be refused here
    WILL_WAIT = "will_wait"  # the order would wait here (tax ID, relationship, vetting)
    NOT_APPLICABLE = "not_applicable"  # the order does not run this check


class CheckName(StrEnum):
    RESELLER_AGREEMENT = "reseller_agreement"
    CUSTOMER = "customer"
    DOMAIN = "domain"
    BILLING_ADDRESS = "billing_address"
    TAX_ID = "tax_id"
    SEGMENT_ELIGIBILITY = "segment_eligibility"
    CUSTOMER_AGREEMENT = "customer_agreement"
    PLAN = "plan"


class PlannedAction(StrEnum):
    CREATE = "create"
    ADD_LICENCES = "add_licences"


class Report(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)


class Check(Report):
    """One check the order runs, and how it would go."""

    check: CheckName = Field(description="Which check.")
    verdict: Verdict = Field(
        description="passed; failed (the order would be refused); will_wait (the order would "
        "wait, e.g. for the tax ID, the relationship or education vetting); not_applicable."
    )
    message: str = Field(description="What was found, in a sentence.")
    problems: list[Problem] = Field(
        default_factory=list, description="Each reason this check refuses the order."
    )
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="The refusal's details, as the order's refusal would carry them.",
    )


class LinePlan(Report):
    """What one order line would do."""

    line: int = Field(description="The line's index in the order document, 0-based.")
    offer: str = Field(description="The line's offer (product:SKU).")
    title: str = Field("", description="The offer's name in Microsoft's catalog.")
    action: PlannedAction | None = Field(
        None,
        description="create: a new subscription; add_licences: licences added to "
        "`subscription_id`; null: not planned (the offer is not in the catalog, or the "
        "customer could not be found).",
    )
    subscription_id: str | None = Field(None, description="The subscription licences go to.")
    quantity: int = Field(description="The licences the line orders.")
    quantity_before: int | None = Field(None, description="The subscription's licences now.")
    quantity_after: int | None = Field(None, description="Its licences after the order.")
    refused: bool = Field(False, description="The order would refuse this line.")
    message: str = Field(
        description='What the line would do ("creates a new subscription with 5 licences", '
        '"adds 5 licences to subscription X (10 -> 15)"), or why it would be refused.'
    )
    problems: list[Problem] = Field(
        default_factory=list, description="Why the order would refuse this line."
    )


class OrderValidation(Report):
    """The full-order dry run: every check the order would run, against Partner Center's
    current state, and the plan per line. Nothing was written to Partner Center."""

    order_id: str = Field(description="The order document's order_id.")
    valid: bool = Field(
        description="The order would go through as it stands (possibly after waiting for "
        "something: see the checks whose verdict is will_wait)."
    )
    refusal: Refusal | None = Field(
        None,
        description="The refusal the order would end with, naming every problem found; null "
        "when valid.",
    )
    checks: list[Check] = Field(description="One entry per check, in the order's sequence.")
    suggested_addresses: list[BillingAddress] = Field(
        default_factory=list,
        description="Microsoft's suggestions when it could not verify the billing address.",
    )
    lines: list[LinePlan] = Field(description="The plan, per order line.")

    def check(self, name: CheckName) -> Check:
        """The entry of one check."""
        return next(c for c in self.checks if c.check is name)


# ---------------------------------------------------------------- checks


def passed(name: CheckName, message: str) -> Check:
    return Check(check=name, verdict=Verdict.PASSED, message=message)


def will_wait(name: CheckName, message: str) -> Check:
    return Check(check=name, verdict=Verdict.WILL_WAIT, message=message)


def not_applicable(name: CheckName, message: str) -> Check:
    return Check(check=name, verdict=Verdict.NOT_APPLICABLE, message=message)


def failed(name: CheckName, refusal: Refusal) -> Check:
    """A check that refuses the order with `refusal` (an `ordering.checks` decision, or
    Partner Center's refusal of a read)."""
    return Check(
        check=name,
        verdict=Verdict.FAILED,
        message=refusal.message,
        problems=refusal.problems or [Problem(code=refusal.code, message=refusal.message)],
        details={k: v for k, v in refusal.details.items() if k not in ("lines", "line")},
    )


def judged(name: CheckName, problems: list[Problem], *, otherwise: Check) -> Check:
    """A check of the lines: failed with `problems`, else `otherwise`."""
    if not problems:
        return otherwise
    refusal = refusal_for(problems)
    return Check(check=name, verdict=Verdict.FAILED, message=refusal.message, problems=problems)


def without_repeats(
    plan_problems: list[Problem], eligibility: list[Problem], catalog: list[Problem]
) -> tuple[list[Problem], list[Problem]]:
    """The plan's and the eligibility's problems, each said once: a line the catalog refuses is
    not judged for eligibility (as the order does: it refuses on the catalog first), and a line
    refused for eligibility is not refused again as not eligible by the plan."""
    refused_by_catalog = {n for p in catalog for n in p.lines}
    eligibility = [p for p in eligibility if not set(p.lines) & refused_by_catalog]
    not_eligible = {n for p in eligibility for n in p.lines}
    plan = [
        p
        for p in plan_problems
        if not (p.code is RefusalCode.NOT_ELIGIBLE and set(p.lines) <= not_eligible)
    ]
    return plan, eligibility


# ---------------------------------------------------------------- the plan per line


def licences(n: int) -> str:
    return f"{n} licence" if n == 1 else f"{n} licences"


def planned_sentence(p: PlannedLine) -> str:
    """What a planned line does, in a sentence."""
    if p.action is LineAction.CREATE:
        return f"creates a new subscription with {licences(p.quantity)}"
    return (
        f"adds {licences(p.quantity)} to subscription {p.subscription_id} "
        f"({p.quantity_before} -> {p.quantity_after})"
    )


def line_plans(
    lines: list[OrderLine],
    offers: dict[str, OfferFacts],
    plan: Plan | None,
    problems: Iterable[Problem],
    *,
    not_planned: str = "not planned: the offer is not in Microsoft's catalog",
) -> list[LinePlan]:
    """Each line's plan (or `not_planned` when there is none), with the problems naming it."""
    planned = {p.line: p for p in (plan.lines if plan else [])}
    problems = list(problems)
    report = []
    for n, line in enumerate(lines):
        mine = [p for p in problems if n in p.lines]
        p = planned.get(n)
        facts = offers.get(line.offer)
        entry: dict[str, Any] = {
            "line": n,
            "offer": line.offer,
            "title": facts.title if facts else "",
            "quantity": line.quantity,
            "refused": bool(mine),
            "problems": mine,
        }
        if p is not None:
            entry |= {
                "action": (
                    PlannedAction.CREATE
                    if p.action is LineAction.CREATE
                    else PlannedAction.ADD_LICENCES
                ),
                "subscription_id": p.subscription_id,
                "quantity_before": p.quantity_before,
                "quantity_after": p.quantity_after,
            }
        said = planned_sentence(p) if p is not None else not_planned
        if mine:
            said = "refused: " + " ".join(q.message for q in mine)
        report.append(LinePlan(message=said, **entry))
    return report


# ---------------------------------------------------------------- the report


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    seen: list[Problem] = []
    for p in problems:
        if p not in seen:
            seen.append(p)
    return seen


def the_refusal(checks: list[Check], stop: Refusal | None = None) -> Refusal | None:
    """The refusal the order would end with, naming every problem the checks found. Its code
    (and Microsoft's, when Microsoft refused a read) is that of `stop`, the first refusal the
    order meets in its own sequence (the order stops there); without one, the first refusing
    step's (the reseller, the customer...), or, when only lines are refused, the one the
    order's plan would give (`refusal_for`)."""
    problems = _unique(p for c in checks for p in c.problems)
    if not problems:
        return None
    combined = refusal_for(problems)
    steps = [p for p in problems if not p.lines]
    details: dict[str, Any] = {}
    if steps:
        for c in checks:
            details |= c.details
        if combined.details.get("lines"):
            details["lines"] = combined.details["lines"]
        combined = combined.model_copy(
            update={
                "code": steps[0].code,
                "details": details,
                "problems": steps + [p for p in combined.problems if p.lines],
            }
        )
    if stop is None:
        return combined
    return combined.model_copy(
        update={"code": stop.code, "partner_center_code": stop.partner_center_code}
    )


def validation(
    order_id: str,
    checks: list[Check],
    lines: list[LinePlan],
    suggested_addresses: list[BillingAddress] | None = None,
    *,
    stop: Refusal | None = None,
) -> OrderValidation:
    """The report: valid when no check fails; `stop`: the first refusal the order meets in its
    own sequence (see `the_refusal`)."""
    return OrderValidation(
        order_id=order_id,
        valid=all(c.verdict is not Verdict.FAILED for c in checks),
        refusal=the_refusal(checks, stop),
        checks=checks,
        suggested_addresses=suggested_addresses or [],
        lines=lines,
    )
