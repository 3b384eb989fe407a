"""Scripted refusals: the next Partner Center call of a name is refused with the error a test
gives (status, code, description), as Microsoft would answer it. How a test makes Partner
Center say something in particular, e.g. a description that carries an e-mail address and a
phone number, to check where the engine lets that text go."""

from __future__ import annotations

from sandbox.errors import PartnerCenterRefusal


class ScriptedRefusals:
    def __init__(self) -> None:
        self._next: dict[str, PartnerCenterRefusal] = {}

    def script(self, call: str, status: int, code: int, description: str) -> None:
        """Refuse the next call named `call` (`METHOD /path/template`, as in the call counts)."""
        self._next[call] = PartnerCenterRefusal(status, code, description)

    def take(self, call: str) -> PartnerCenterRefusal | None:
        return self._next.pop(call, None)

    def scripted(self) -> list[str]:
        return sorted(self._next)
