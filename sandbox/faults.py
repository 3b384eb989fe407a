"""Fault injection: the bad days of Partner Center, on demand.

Set at start (`--faults JSON`) or live (`PUT /_sandbox/faults`). Applies to Partner Center paths
only, never to the token endpoint or the admin paths.
"""

from __future__ import annotations

import random
from collections import deque
from enum import StrEnum

from pydantic import BaseModel, Field


class FaultSettings(BaseModel):
    latency_ms_min: float = Field(0.0, ge=0)
    latency_ms_max: float = Field(0.0, ge=0)
    server_error_rate: float = Field(0.0, ge=0, le=1, description="share of 500/503 answers")
    throttle_rate: float = Field(0.0, ge=0, le=1, description="share of 429 answers")
    retry_after_seconds: int = Field(1, ge=0)
    lost_answer_rate: float = Field(
        0.0, ge=0, le=1, description="share of writes carried out whose answer is lost (504)"
    )
    nonsense_rate: float = Field(
        0.0, ge=0, le=1, description="share of answers that are HTML pages or empty bodies"
    )
    customer_partial_failure_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of customer creations that fail after the domain is taken",
    )
    rate_limit_per_minute: int | None = Field(
        None, ge=1, description="requests per minute before Partner Center-style throttling"
    )
    seed: int | None = None


class Fault(StrEnum):
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    NONSENSE = "nonsense"


class FaultInjector:
    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.settings = FaultSettings()
        self._random = random.Random()
        self._window: deque[float] = deque()
        self.configure(settings or FaultSettings())

    def configure(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._random = random.Random(settings.seed)
        self._window.clear()

    def latency_seconds(self) -> float:
        s = self.settings
        if s.latency_ms_max <= 0:
            return 0.0
        low = min(s.latency_ms_min, s.latency_ms_max)
        return self._random.uniform(low, s.latency_ms_max) / 1000.0

    def rate_limited(self, now: float) -> int | None:
        """Seconds to wait when the per-minute request budget is spent, else None."""
        limit = self.settings.rate_limit_per_minute
        if limit is None:
            return None
        while self._window and self._window[0] <= now - 60.0:
            self._window.popleft()
        if len(self._window) >= limit:
            return max(1, int(self._window[0] + 60.0 - now) + 1)
        self._window.append(now)
        return None

    def before_handling(self) -> Fault | None:
        s = self.settings
        roll = self._random.random()
        if roll < s.throttle_rate:
            return Fault.THROTTLED
        roll -= s.throttle_rate
        if roll < s.server_error_rate:
            return Fault.SERVER_ERROR
        roll -= s.server_error_rate
        if roll < s.nonsense_rate:
            return Fault.NONSENSE
        return None

    def lose_answer(self) -> bool:
        return self._random.random() < self.settings.lost_answer_rate

    def fail_customer_half_way(self) -> bool:
        return self._random.random() < self.settings.customer_partial_failure_rate

    def pick(self, n: int) -> int:
        return self._random.randrange(n)
