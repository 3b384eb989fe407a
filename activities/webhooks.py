"""Webhooks to storefronts: the delivery activity (signed as Standard Webhooks says).

(The delivery itself is being written; `WebhookEndpoint` is the worker's seam.)
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where a storefront hears of its orders, and the secret its webhooks are signed with
    (`whsec_<base64>`, as the Standard Webhooks specification writes secrets)."""

    url: str
    secret: SecretStr
