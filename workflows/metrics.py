"""The engine's counters that workflows add to, through the worker's metric meter (a replay
does not count again). The worker exports them (workers/metrics.py: the Prometheus runtime).

- `csp_orders_orders`: orders that ended, by `phase` (completed, refused, cancelled, failed)
  and `refusal_code`;
- `csp_orders_phase_entered`: orders entering each phase;
- `csp_orders_webhooks_delivered`: storefront webhooks acknowledged, by `event_type`;
- `csp_orders_webhooks_failed`: storefront webhooks never acknowledged, by `event_type` and
  `reason` (`not_delivered`: every attempt failed until the retry schedule gave up;
  `no_last_event`, `event_type` `none`: the order's run ended without its last event;
  `not_handed_over`), docs/WEBHOOKS.md;
- `csp_orders_webhooks_not_sent`: events of a storefront that has no webhook, by `event_type`.
"""

from __future__ import annotations

from temporalio import workflow


def order_ended(phase: str, refusal_code: str | None) -> None:
    """Called from a workflow (not counted again on replay)."""
    workflow.metric_meter().create_counter("csp_orders_orders", "Orders that ended").add(
        1, {"phase": phase, "refusal_code": refusal_code or "none"}
    )


def phase_entered(phase: str) -> None:
    workflow.metric_meter().create_counter(
        "csp_orders_phase_entered", "Orders entering a phase"
    ).add(1, {"phase": phase})


def webhook_delivered(event_type: str) -> None:
    workflow.metric_meter().create_counter(
        "csp_orders_webhooks_delivered", "Storefront webhooks acknowledged"
    ).add(1, {"event_type": event_type})


def webhook_not_sent(event_type: str) -> None:
    workflow.metric_meter().create_counter(
        "csp_orders_webhooks_not_sent", "Events of storefronts without a webhook"
    ).add(1, {"event_type": event_type})


def webhook_failed(event_type: str, reason: str) -> None:
    workflow.metric_meter().create_counter(
        "csp_orders_webhooks_failed", "Storefront webhooks never acknowledged"
    ).add(1, {"event_type": event_type, "reason": reason})
