"""What the engine's workflows share about refusing: a Partner Center refusal behind a failed
activity, and the problem of a start input that could not be read."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import messages as m
    from ordering.refusals import Refusal, from_partner_center
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
