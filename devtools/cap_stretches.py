"""Did all the workers together keep the Partner Center cap they share? Read from the sandbox's
count of the requests that reached it (`GET /_sandbox/calls`, counted on arrival), sampled about
once a second by the chaos harness.

The cap's promise is per minute: no 60 seconds hold more than the cap (`busiest_minute`). A run
that sends less than a minute's cap cannot break that promise, however its workers share the
cap, so over shorter stretches the harness holds the workers to what the one bucket of the task
queue grants (`workflows/partner_center_quota.py`): its burst, plus its rate for the stretch
and for the slack its minute allows (a lease's lifetime and a second for clocks). One bucket
per worker instead of one for all would grant each worker that much: twice it with two
workers, which a run whose orders ask for more than the cap gives shows at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.partner_center_quota import WINDOW, bucket_for

MINUTE = 60.0
# What a stretch is allowed beyond its own length: the cap's minute is counted over `WINDOW`.
SLACK_SECONDS = WINDOW.total_seconds() - MINUTE

Samples = list[tuple[float, int]]  # (seconds, requests counted so far), in time order


@dataclass(frozen=True)
class Stretch:
    """The stretch of the run that came nearest to what the cap allows."""

    seconds: float
    requests: int
    allowed: float  # what the one shared bucket grants in it

    @property
    def use(self) -> float:
        """Requests over what the cap allows: at most 1 when the cap held."""
        return self.requests / self.allowed


def allowed(requests_per_minute: int, seconds: float) -> float:
    bucket = bucket_for(requests_per_minute)
    return bucket.burst + bucket.rate * (seconds + SLACK_SECONDS)


def busiest_stretch(samples: Samples, requests_per_minute: int) -> Stretch:
    """Of every stretch from one sample to a later one, the one with the most requests for
    what the cap allows in it."""
    best = Stretch(0.0, 0, allowed(requests_per_minute, 0.0))
    for n, (start, before) in enumerate(samples):
        for end, after in samples[n + 1 :]:
            seconds = end - start
            stretch = Stretch(seconds, after - before, allowed(requests_per_minute, seconds))
            if stretch.use > best.use:
                best = stretch
    return best


def busiest_minute(samples: Samples) -> int:
    """The most requests in any 60 seconds: from each sample to the last one no more than
    60 s later."""
    most = 0
    for n, (start, before) in enumerate(samples):
        within = [after for at, after in samples[n:] if at - start <= MINUTE]
        most = max(most, within[-1] - before)
    return most
