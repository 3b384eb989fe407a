"""Segment eligibility: the qualifications an order needs, education vetting, and the verdict."""

from __future__ import annotations

import pytest

from ordering.document import OrderLine, Segment
from ordering.eligibility import (
    EDUCATION,
    GOVERNMENT,
    education_vetting_to_request,
    eligibility_problems,
    new_customer_standing,
    qualifications_needed,
    vetting_denied,
    vetting_under_way,
)
from ordering.feasibility import Standing
from ordering.planning import OfferFacts
from ordering.refusals import RefusalCode

E3 = "CFQ7TTC0LF8Q:0001"
A1 = "CFQ7TTC0LF8R:0001"
G3 = "CFQ7TTC0LF8S:0001"
NP = "CFQ7TTC0LF8T:0001"
OFFERS = {
    E3: OfferFacts(offer=E3, title="Office 365 E3", purchasable=True),
    A1: OfferFacts(offer=A1, title="Office 365 A1 for faculty", purchasable=True),
    G3: OfferFacts(offer=G3, title="Office 365 G3 GCC", purchasable=True),
    NP: OfferFacts(offer=NP, title="Business Premium (Nonprofit)", purchasable=True),
}


def line(offer: str, segment: Segment = Segment.COMMERCIAL) -> OrderLine:
    return OrderLine.model_validate(
        {"offer": offer, "quantity": 1, "billing_cycle": "monthly", "segment": segment}
    )


def verdict(
    lines: list[OrderLine], approved: set[str], denied: set[str] | None = None
) -> list[tuple[RefusalCode, list[int], str]]:
    return [
        (p.code, p.lines, p.message)
        for p in eligibility_problems(lines, OFFERS, approved=approved, denied=denied or set())
    ]


def test_the_qualifications_an_order_needs() -> None:
    assert qualifications_needed([line(E3)]) == frozenset()
    assert qualifications_needed(
        [line(E3), line(A1, Segment.EDUCATION), line(NP, Segment.NONPROFIT)]
    ) == {"Education", "Nonprofit"}
    assert qualifications_needed([line(G3, Segment.GOVERNMENT)]) == {GOVERNMENT}


def test_a_commercial_order_is_not_judged_unless_the_customer_is_a_government_one() -> None:
    assert verdict([line(E3)], set()) == []
    assert verdict([line(E3)], {"SomethingMicrosoftAddsLater"}) == []
    assert verdict([line(E3)], {GOVERNMENT}) == [
        (
            RefusalCode.NOT_ELIGIBLE,
            [0],
            "This customer cannot buy Office 365 E3: it is only for commercial customers.",
        )
    ]


def test_a_line_the_customer_is_not_qualified_for_says_who_may_buy_it() -> None:
    assert verdict([line(E3), line(A1, Segment.EDUCATION)], set()) == [
        (
            RefusalCode.NOT_ELIGIBLE,
            [1],
            "This customer cannot buy Office 365 A1 for faculty: it is only for qualified "
            "education customers.",
        )
    ]
    assert verdict([line(A1, Segment.EDUCATION)], {EDUCATION}) == []
    assert verdict([line(NP, Segment.NONPROFIT), line(E3)], {"Nonprofit"}) == []


def test_a_denied_qualification_is_named() -> None:
    assert verdict(
        [line(A1, Segment.EDUCATION), line(NP, Segment.NONPROFIT)], set(), {EDUCATION}
    ) == [
        (
            RefusalCode.VETTING_DENIED,
            [0],
            "Microsoft did not approve the customer as Education; it cannot buy Office 365 A1 "
            "for faculty.",
        ),
        (
            RefusalCode.NOT_ELIGIBLE,
            [1],
            "This customer cannot buy Business Premium (Nonprofit): it is only for qualified "
            "non-profit customers.",
        ),
    ]
    assert vetting_denied(3, "A1", EDUCATION).lines == [3]


@pytest.mark.parametrize(
    ("approved", "in_review", "denied", "asked"),
    [
        (set(), set(), set(), True),
        ({EDUCATION}, set(), set(), False),
        (set(), {EDUCATION}, set(), False),
        (set(), set(), {EDUCATION}, False),  # judged once: not asked again
        ({"Nonprofit"}, set(), set(), True),
    ],
)
def test_education_vetting_is_requested_once(
    approved: set[str], in_review: set[str], denied: set[str], asked: bool
) -> None:
    education = qualifications_needed([line(A1, Segment.EDUCATION)])
    known = {"approved": approved, "in_review": in_review, "denied": denied}
    assert education_vetting_to_request(education, **known) is asked
    assert not education_vetting_to_request(qualifications_needed([line(E3)]), **known)


def test_vetting_under_way_only_matters_for_education_plans() -> None:
    education = qualifications_needed([line(A1, Segment.EDUCATION)])
    assert vetting_under_way(education, in_review={EDUCATION})
    assert not vetting_under_way(education, in_review=set())
    assert not vetting_under_way(qualifications_needed([line(E3)]), in_review={EDUCATION})


def test_a_new_school_plans_with_the_vetting_only_where_the_engine_waits_for_it() -> None:
    assert new_customer_standing(school=True, waits_for_vetting=True) == Standing(
        to_be_vetted=frozenset({EDUCATION})
    )
    assert new_customer_standing(school=True, waits_for_vetting=False) == Standing()
    assert new_customer_standing(school=False, waits_for_vetting=True) == Standing()
