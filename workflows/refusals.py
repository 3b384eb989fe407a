"""What the engine's workflows share about refusing: a Partner Center refusal behind a failed
activity, the problem of a start input that could not be read, and how an order's course stops
(refused, or cancelled before its purchase)."""

from __future__ import annotations

from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import messages as m
    from ordering.refusals import Refusal, RefusalCode, from_partner_center
    from ordering.validation import FieldProblem


def partner_center_refusal(error: ActivityError | ApplicationError) -> Refusal | None:
    """The Partner Center business refusal behind a failed activity, if that is what it was.
    (A regular activity's failure arrives as ActivityError with the cause inside; a local
    activity's non-retryable failure arrives as the ApplicationError itself.)"""
    cause = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, ApplicationError) and cause.type == m.PARTNER_CENTER_REFUSAL:
        detail = m.PartnerCenterRefusal.model_validate(cause.details[0]) if cause.details else None
        return from_partner_center(detail.code if detail else None, cause.message)
    return None


def unreadable_input(field: str) -> FieldProblem:
    """The problem of a start input that arrived `unreadable`."""
    return FieldProblem(
        field=field,
        reason="could not be read: it must be JSON of at most 256 KB, nested at most a few "
        "hundred levels, sent as plain JSON or encrypted with a key the engine holds",
    )


class OrderRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class OrderCancelled(Exception):
    pass


def refuse(code: RefusalCode, message: str, **details: object) -> NoReturn:
    raise OrderRefused(Refusal(code=code, message=message, details=dict(details)))


def failure(refusal: Refusal) -> ApplicationError:
    """How a refused order fails its run: non-retryable, typed by the refusal's code."""
    return ApplicationError(refusal.message, refusal, type=refusal.code.value, non_retryable=True)
