"""How a Partner Center failure becomes an activity failure Temporal understands."""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from activities.messages import (
    ANSWER_UNUSABLE,
    CREDENTIALS_REFUSED,
    PARTNER_CENTER_REFUSAL,
    PartnerCenterRefusal,
)
from clients.partner_center import PartnerCenterError


def activity_error(error: PartnerCenterError) -> ApplicationError:
    """Retryable failures are retried by the activity's retry policy, after `Retry-After` when
    Partner Center named one. The engine's own credentials refused (or missing) are retried
    too: no order is refused or failed for them; it waits, its step retrying (visible in the
    Temporal UI and the logs), until an operator fixes them. Business refusals are not retried
    and carry the code. Anything else that cannot succeed (an answer too large to read) fails
    the step as the engine's error, never as Microsoft's refusal."""
    if error.retryable:
        return ApplicationError(
            str(error),
            type="PartnerCenterUnavailable",
            next_retry_delay=timedelta(seconds=error.retry_after) if error.retry_after else None,
        )
    if error.credentials:
        return ApplicationError(str(error), type=CREDENTIALS_REFUSED)
    if not error.is_business_refusal:
        return ApplicationError(str(error), type=ANSWER_UNUSABLE, non_retryable=True)
    return ApplicationError(
        error.description,
        PartnerCenterRefusal(status=error.status, code=error.code, description=error.description),
        type=PARTNER_CENTER_REFUSAL,
        non_retryable=True,
    )
