"""Who may buy which segment (Partner Center's table), from the customer's qualifications."""

from __future__ import annotations

from ordering.document import Segment

SEGMENTS_BY_QUALIFICATION: dict[str, frozenset[Segment]] = {
    "None": frozenset({Segment.COMMERCIAL}),
    "Nonprofit": frozenset({Segment.COMMERCIAL, Segment.NONPROFIT}),
    "Education": frozenset({Segment.COMMERCIAL, Segment.EDUCATION}),
    "GovernmentCommunityCloud": frozenset({Segment.GOVERNMENT}),
    "StateOwnedEntity": frozenset({Segment.COMMERCIAL}),
}

# The qualification a segment needs; Commercial needs none.
QUALIFICATION_FOR_SEGMENT: dict[Segment, str] = {
    Segment.EDUCATION: "Education",
    Segment.NONPROFIT: "Nonprofit",
    Segment.GOVERNMENT: "GovernmentCommunityCloud",
}


def allowed_segments(approved_qualifications: set[str]) -> frozenset[Segment]:
    """Segments a customer may buy, given its approved qualifications (none: commercial)."""
    qualifications = approved_qualifications or {"None"}
    allowed: set[Segment] = set()
    for q in qualifications:
        allowed |= SEGMENTS_BY_QUALIFICATION.get(q, frozenset())
    return frozenset(allowed)


def may_buy(segment: Segment, approved_qualifications: set[str]) -> bool:
    return segment in allowed_segments(approved_qualifications)
