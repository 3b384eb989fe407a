"""How a Partner Center failure becomes an activity failure Temporal understands."""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from activities.messages import PARTNER_CENTER_REFUSAL, PartnerCenterRefusal
from clients.partner_center import PartnerCenterError


def activity_error(error: PartnerCenterError) -> ApplicationError:
    """Retryable failures are retried by the activity's retry policy, after `Retry-After` when
    Partner Center named one; business refusals are not retried and carry the code."""
    if error.retryable:
        return ApplicationError(
            str(error),
            type="PartnerCenterUnavailable",
            next_retry_delay=timedelta(seconds=error.retry_after) if error.retry_after else None,
        )
    return ApplicationError(
        error.description,
        PartnerCenterRefusal(status=error.status, code=error.code, description=error.description),
        type=PARTNER_CENTER_REFUSAL,
        non_retryable=True,
    )
