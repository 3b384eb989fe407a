"""Held calls: a Partner Center call waits at the door until the admin releases it.

A test holds, say, cart creation, waits until the engine's call is held, changes the customer's
state through the admin paths (a change made at Microsoft behind the engine's back, between its
last read and its purchase), then releases the call. Deterministic: no timing involved.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class Holds:
    def __init__(self) -> None:
        self._gates: dict[str, asyncio.Event] = {}
        self._waiting: dict[str, int] = defaultdict(int)

    def hold(self, call: str) -> None:
        """Hold the next calls named `call` (`METHOD /path/template`, as in the call counts)."""
        self._gates.setdefault(call, asyncio.Event())

    async def pass_door(self, call: str) -> None:
        gate = self._gates.get(call)
        if gate is None:
            return
        self._waiting[call] += 1
        try:
            await gate.wait()
        finally:
            self._waiting[call] -= 1

    def held(self) -> dict[str, int]:
        """Calls held now, by name, and the held ones with none waiting yet."""
        return {call: self._waiting[call] for call in self._gates}

    def release(self) -> None:
        for gate in self._gates.values():
            gate.set()
        self._gates.clear()
