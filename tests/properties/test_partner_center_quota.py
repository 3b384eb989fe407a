"""The Partner Center quota's decision (workflows/partner_center_quota.py), on generated streams
of lease requests: however the requests come, the requests a lease allows, sent at any moment of
their lifetime, never put more than the cap into any minute; every lease is served, the ones
beyond the budget later, in the order asked; and a busy quota pays for nearly the whole cap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from clients.contract import QuotaLeaseRequest, QuotaState
from workflows.partner_center_quota import LEASE_LIFETIME, WINDOW, bucket_for, lease

LIFETIME = LEASE_LIFETIME.total_seconds()

asks = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=5, allow_nan=False),  # seconds since the last ask
        st.integers(min_value=1, max_value=40),  # requests wanted
        st.floats(min_value=0, max_value=1),  # when in the lease's lifetime they are sent
    ),
    min_size=1,
    max_size=300,
)


@given(asks=asks, cap=st.integers(min_value=2, max_value=120))
@settings(max_examples=300, deadline=None)
def test_no_minute_ever_holds_more_requests_than_the_cap(
    asks: list[tuple[float, int, float]], cap: int
) -> None:
    state = QuotaState()
    sent: list[float] = []  # when each request reaches Partner Center
    now = 1_000.0
    usable_before = 0.0
    for pause, wanted, when in asks:
        now += pause
        request = QuotaLeaseRequest(requests_per_minute=cap, wanted=wanted)
        answer, state = lease(state, now, request)
        assert answer.granted >= 1 and answer.usable_in_seconds >= 0
        usable = now + answer.usable_in_seconds
        assert usable >= usable_before  # served in the order asked
        usable_before = usable
        sent += [usable + when * LIFETIME] * answer.granted
    sent.sort()
    first = 0
    for last, at in enumerate(sent):
        while sent[first] <= at - 60:
            first += 1
        assert last - first + 1 <= cap, f"{last - first + 1} requests in a minute, cap {cap}"


@given(cap=st.integers(min_value=60, max_value=6000))
@settings(max_examples=40, deadline=None)
def test_a_busy_quota_pays_for_nearly_the_whole_cap(cap: int) -> None:
    """Asked far beyond the cap, the quota's leases become usable at 90% of the cap a minute
    or more (what is left out: a lease's lifetime and a second of margin in every 63)."""
    request = QuotaLeaseRequest(requests_per_minute=cap, wanted=max(1, cap // 240))
    state, granted, now = QuotaState(), 0, 0.0
    while True:
        answer, state = lease(state, now, request)
        if now + answer.usable_in_seconds > 600:
            break
        granted += answer.granted
        now += 0.001
    assert granted >= 0.9 * cap * 10


def test_the_bucket_holds_a_small_burst_and_fills_at_the_cap_less_the_margin() -> None:
    bucket = bucket_for(500)
    assert bucket.burst == 25
    assert round(bucket.rate * WINDOW.total_seconds() + bucket.burst) == 500
    request = QuotaLeaseRequest(requests_per_minute=500, wanted=40)
    answer, state = lease(QuotaState(), 0.0, request)
    assert (answer.granted, answer.usable_in_seconds) == (25, 0.0)  # the burst, at once
    answer, _ = lease(state, 0.0, request)
    assert answer.granted == 25  # the next burst's worth, once the bucket has paid for it
    assert round(answer.usable_in_seconds, 3) == round(25 / bucket.rate, 3)
