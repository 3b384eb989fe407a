"""Who may buy which segment."""

from __future__ import annotations

import pytest

from ordering.document import Segment
from ordering.segments import allowed_segments, may_buy

C, E, N, G = Segment.COMMERCIAL, Segment.EDUCATION, Segment.NONPROFIT, Segment.GOVERNMENT


@pytest.mark.parametrize(
    ("qualifications", "allowed"),
    [
        (set(), {C}),
        ({"Nonprofit"}, {C, N}),
        ({"Education"}, {C, E}),
        ({"GovernmentCommunityCloud"}, {G}),
        ({"StateOwnedEntity"}, {C}),
    ],
)
def test_table(qualifications: set[str], allowed: set[Segment]) -> None:
    assert allowed_segments(qualifications) == allowed
    for segment in Segment:
        assert may_buy(segment, qualifications) is (segment in allowed)
