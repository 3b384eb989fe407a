"""Segment eligibility at Microsoft: which qualifications an order needs, whether a new school's
education vetting is to be requested, and the verdict on every line once the customer's
qualifications are known (Partner Center's who-may-buy table is `ordering.segments`).

Pure: the workflow reads the customer's qualifications, asks for vetting and waits for it; this
module decides.
"""

from __future__ import annotations

from collections.abc import Collection

from ordering.document import OrderLine, Segment
from ordering.feasibility import Standing, not_eligible
from ordering.planning import OfferFacts
from ordering.refusals import Problem, RefusalCode
from ordering.segments import QUALIFICATION_FOR_SEGMENT, may_buy

EDUCATION = QUALIFICATION_FOR_SEGMENT[Segment.EDUCATION]
GOVERNMENT = QUALIFICATION_FOR_SEGMENT[Segment.GOVERNMENT]


def qualifications_needed(lines: list[OrderLine]) -> frozenset[str]:
    """The qualifications the order's lines need (commercial lines need none)."""
    return frozenset(
        QUALIFICATION_FOR_SEGMENT[line.segment]
        for line in lines
        if line.segment is not Segment.COMMERCIAL
    )


def education_vetting_to_request(
    needed: Collection[str],
    *,
    approved: Collection[str],
    in_review: Collection[str],
    denied: Collection[str],
) -> bool:
    """Ask Microsoft to vet the customer for education plans? When the order needs them and
    Microsoft has never judged the customer (only a new customer's order describes the school
    to vet: the workflow asks only then)."""
    return (
        EDUCATION in needed
        and EDUCATION not in approved
        and EDUCATION not in in_review
        and EDUCATION not in denied
    )


def vetting_under_way(needed: Collection[str], *, in_review: Collection[str]) -> bool:
    """Is Microsoft still vetting the customer for the education plans the order needs?"""
    return EDUCATION in needed and EDUCATION in in_review


def new_customer_standing(*, school: bool, waits_for_vetting: bool) -> Standing:
    """What a new customer may plan with: no qualification yet. A new school's vetting is
    requested once it exists; it may plan for education plans only where the engine waits for
    the verdict (else nothing it could buy would be known in time)."""
    vetted = school and waits_for_vetting
    return Standing(to_be_vetted=frozenset({EDUCATION}) if vetted else frozenset())


def vetting_denied(line: int, title: str, qualification: str) -> Problem:
    return Problem(
        code=RefusalCode.VETTING_DENIED,
        message=f"Microsoft did not approve the customer as {qualification}; "
        f"it cannot buy {title}.",
        lines=[line],
    )


def eligibility_problems(
    lines: list[OrderLine],
    offers: dict[str, OfferFacts],
    *,
    approved: Collection[str],
    denied: Collection[str],
) -> list[Problem]:
    """The verdict: every line the customer may not buy with its `approved` qualifications,
    each with its reason (Microsoft denied the qualification it needs, or it has not got it).
    An all-commercial order is not judged unless the customer is a government one (which may
    buy only government plans)."""
    if not qualifications_needed(lines) and GOVERNMENT not in approved:
        return []
    problems = []
    for n, line in enumerate(lines):
        if may_buy(line.segment, set(approved)):
            continue
        qualification = QUALIFICATION_FOR_SEGMENT.get(line.segment)
        title = offers[line.offer].title
        if qualification and qualification in denied:
            problems.append(vetting_denied(n, title, qualification))
        else:
            problems.append(not_eligible(n, title, line.segment))
    return problems
