"""How a Partner Center failure becomes an activity failure (activities/errors.py): Microsoft's
refusal of the request is a refusal; the engine's own credentials refused are retried until an
operator fixes them (no order is refused or failed for them); an answer that can never be read
fails the step as the engine's error, never as Microsoft's refusal."""

from __future__ import annotations

from activities.errors import activity_error
from activities.messages import ANSWER_UNUSABLE, CREDENTIALS_REFUSED, PARTNER_CENTER_REFUSAL
from clients.partner_center import PartnerCenterError
from clients.partner_center.errors import error_from_response


def test_a_business_refusal_is_microsofts_and_not_retried() -> None:
    error = error_from_response(
        403, b'{"code": 600007, "description": "Denied."}', {}, request_id=None, correlation_id=None
    )
    failure = activity_error(error)
    assert (failure.type, failure.non_retryable) == (PARTNER_CENTER_REFUSAL, True)


def test_credentials_refused_are_retried_never_a_refusal() -> None:
    for error in (
        error_from_response(
            401,
            b'{"code": 401, "description": "Unauthorized"}',
            {},
            request_id=None,
            correlation_id=None,
        ),
        PartnerCenterError(
            400,
            "invalid_client",
            "the token endpoint refused the credentials",
            retryable=False,
            credentials=True,
        ),
        PartnerCenterError(
            0, None, "no refresh token is configured", retryable=False, credentials=True
        ),
    ):
        failure = activity_error(error)
        assert failure.type == CREDENTIALS_REFUSED, error
        assert not failure.non_retryable, error


def test_an_answer_too_large_fails_the_step_as_the_engines_error() -> None:
    for status in (200, 400, 404):  # (whatever status it came with, it says nothing)
        error = PartnerCenterError(
            status,
            None,
            "Partner Center sent an answer over 2 KB",
            retryable=False,
            unreadable=True,
        )
        assert not error.is_business_refusal and not error.is_not_found
        failure = activity_error(error)
        assert (failure.type, failure.non_retryable) == (ANSWER_UNUSABLE, True)


def test_only_partner_centers_own_404_says_not_found() -> None:
    """A token endpoint answering 404 (a mistyped authority) is the engine's credentials, not
    an offer or a customer that does not exist."""
    token_endpoint = PartnerCenterError(
        404, None, "the token endpoint refused the credentials", retryable=False, credentials=True
    )
    assert not token_endpoint.is_not_found
    assert activity_error(token_endpoint).type == CREDENTIALS_REFUSED
    missing = error_from_response(
        404,
        b'{"code": 600039, "description": "Not found."}',
        {},
        request_id=None,
        correlation_id=None,
    )
    assert missing.is_not_found


def test_transient_trouble_is_retried_after_retry_after() -> None:
    error = error_from_response(
        429, b"", {"retry-after": "7"}, request_id=None, correlation_id=None
    )
    failure = activity_error(error)
    assert failure.type == "PartnerCenterUnavailable" and not failure.non_retryable
    assert failure.next_retry_delay is not None and failure.next_retry_delay.total_seconds() == 7
