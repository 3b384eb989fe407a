"""Partner Center's error answers, as the sandbox sends them."""

from __future__ import annotations

from typing import Any


class PartnerCenterRefusal(Exception):
    """Raised by a sandbox operation; rendered as Partner Center's error body."""

    def __init__(self, status: int, code: int, description: str, **extended: Any) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.extended = extended

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "description": self.description,
            "data": [],
            "source": "PartnerFD",
        }
        if self.extended:
            body.update(self.extended)
        return body


def bad_request(code: int, description: str, **extended: Any) -> PartnerCenterRefusal:
    return PartnerCenterRefusal(400, code, description, **extended)


def forbidden(code: int, description: str) -> PartnerCenterRefusal:
    return PartnerCenterRefusal(403, code, description)


def not_found(code: int, description: str) -> PartnerCenterRefusal:
    return PartnerCenterRefusal(404, code, description)


def conflict(code: int, description: str) -> PartnerCenterRefusal:
    return PartnerCenterRefusal(409, code, description)


def missing_field(name: str) -> PartnerCenterRefusal:
    return bad_request(2000, f"The field '{name}' is required.")
