"""A storefront's webhook receiver for the demo: it verifies each webhook's signature as the
Standard Webhooks specification says (the `standardwebhooks` package) and keeps the events, in
the order they came, de-duplicated by `webhook-id` as a receiver should."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class WebhookInbox:
    secret: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    rejected: int = 0

    def app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            body = await request.body()
            try:
                Webhook(self.secret).verify(body, dict(request.headers))
            except WebhookVerificationError:
                self.rejected += 1
                return Response(status_code=400)
            webhook_id = request.headers["webhook-id"]
            if webhook_id not in self.ids:  # a retry of one already taken
                self.ids.append(webhook_id)
                self.events.append(json.loads(body))
            return Response(status_code=204)

        return Starlette(routes=[Route("/webhooks", receive, methods=["POST"])])

    def of(self, order_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("order_id") == order_id]
