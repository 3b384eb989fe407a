"""Webhooks to storefronts: the delivery activity, one signed POST per attempt (docs/WEBHOOKS.md).

Signed as the Standard Webhooks specification says: `webhook-id` (the same on every attempt, so
the receiver de-duplicates), `webhook-timestamp` (this attempt's, seconds since the epoch) and
`webhook-signature` (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the
storefront's secret). A 2xx answer acknowledges the event; anything else (another status, a
timeout, no connection) fails the attempt, and the webhooks workflow's retry policy tries again.
Neither the endpoint's address (its query string may hold a token) nor the secret, nor the
receiver's answer, ever goes into a log line or an error: only the status and the kind of
failure do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx
import structlog
from pydantic import SecretStr
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import messages as m

ATTEMPT_TIMEOUT = httpx.Timeout(25.0, connect=10.0)  # inside the activity's 30 s
log = structlog.get_logger("webhooks")


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where a storefront hears of its orders, and the secret its webhooks are signed with
    (`whsec_<base64>`, as the Standard Webhooks specification writes secrets)."""

    url: str
    secret: SecretStr


class UnknownStorefront(Exception):
    """The storefront is not in this worker's storefronts file (yet): ask again later."""


class StorefrontSettingsError(Exception):
    """The storefront's webhook cannot be used as configured (`str()`: why, never a secret)."""


class WebhookDirectory(Protocol):
    def endpoint(self, storefront: str) -> WebhookEndpoint | None:
        """The storefront's webhook; None when it has none (it chose so). Raises
        `UnknownStorefront` for a storefront it does not know."""


@dataclass(frozen=True)
class FixedWebhooks:
    """Webhooks given once (the dev stack, tests): a storefront not among them has none."""

    endpoints: Mapping[str, WebhookEndpoint]

    def endpoint(self, storefront: str) -> WebhookEndpoint | None:
        return self.endpoints.get(storefront)


class _NoStorefronts:
    """A worker without a storefronts file: it knows no storefront."""

    def endpoint(self, storefront: str) -> WebhookEndpoint | None:
        raise UnknownStorefront(storefront)


NO_STOREFRONTS: WebhookDirectory = _NoStorefronts()


class WebhookDelivery:
    """The `deliver_webhook` activity over the storefronts' webhooks (by storefront id): a
    `WebhookDirectory` (the worker's storefronts file, read again when it changes) or a
    mapping."""

    def __init__(
        self,
        webhooks: WebhookDirectory | Mapping[str, WebhookEndpoint],
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._webhooks: WebhookDirectory = (
            FixedWebhooks(webhooks) if isinstance(webhooks, Mapping) else webhooks
        )
        self._http = http

    @activity.defn(name=m.DELIVER_WEBHOOK)
    async def deliver_webhook(self, delivery: m.WebhookDeliveryRequest) -> m.WebhookDeliveryResult:
        event = delivery.event
        try:
            endpoint = self._webhooks.endpoint(event.storefront)
        except UnknownStorefront:
            # (a worker whose storefronts file is older than the API's): retried, as any
            # failed attempt, until the file knows it or the retries end
            raise self._not_delivered(
                delivery,
                "the storefront is not in this worker's storefronts file (CSP_STOREFRONTS_FILE)",
            ) from None
        except StorefrontSettingsError as error:  # e.g. its secret's variable is not set
            raise self._not_delivered(delivery, str(error)) from None
        if endpoint is None:
            log.info(
                "webhook not sent: the storefront has no webhook",
                storefront=event.storefront,
                webhook_id=delivery.webhook_id,
                event_type=event.type.value,
            )
            return m.WebhookDeliveryResult(configured=False)
        body = event.model_dump_json()
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(endpoint.secret.get_secret_value()).sign(
                delivery.webhook_id, now, body
            ),
        }
        try:
            answer = await self._post(endpoint.url, body, headers)
        except httpx.TimeoutException as error:
            raise self._not_delivered(
                delivery, f"no answer in time ({type(error).__name__})"
            ) from None
        except httpx.HTTPError as error:
            raise self._not_delivered(delivery, f"no connection ({type(error).__name__})") from None
        if not 200 <= answer.status_code < 300:
            raise self._not_delivered(delivery, f"the endpoint answered {answer.status_code}")
        log.info(
            "webhook delivered",
            storefront=event.storefront,
            webhook_id=delivery.webhook_id,
            event_type=event.type.value,
            status=answer.status_code,
        )
        return m.WebhookDeliveryResult(status=answer.status_code)

    async def _post(self, url: str, body: str, headers: dict[str, str]) -> httpx.Response:
        if self._http is not None:
            return await self._http.post(
                url, content=body, headers=headers, timeout=ATTEMPT_TIMEOUT
            )
        async with httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT) as http:
            return await http.post(url, content=body, headers=headers)

    def _not_delivered(self, delivery: m.WebhookDeliveryRequest, why: str) -> ApplicationError:
        log.warning(
            "webhook attempt failed",
            storefront=delivery.event.storefront,
            webhook_id=delivery.webhook_id,
            event_type=delivery.event.type.value,
            attempt=activity.info().attempt,
            reason=why,
        )
        return ApplicationError(f"webhook not delivered: {why}", type=m.WEBHOOK_NOT_DELIVERED)
