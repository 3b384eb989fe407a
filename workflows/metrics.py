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
- `csp_orders_webhooks_not_sent`: events of a storefront that has no webhook, by `event_type`;
- `csp_orders_refund_windows`: refund windows told as `closing` or `closed`, by `notice`;
- `csp_orders_undone`: purchases undone within their window, by `change` (`cancelled`,
  `reduced`);
- `csp_orders_subscription_drifts`: subscriptions found changed outside the engine by
  reconciliation (or before a change), by `kind` (`quantity`, `status`, `missing`).
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


def refund_window(notice: str) -> None:
    workflow.metric_meter().create_counter(
        "csp_orders_refund_windows", "Refund windows told closing or closed"
    ).add(1, {"notice": notice})


def undone(change: str) -> None:
    workflow.metric_meter().create_counter(
        "csp_orders_undone", "Purchases undone within their refund window"
    ).add(1, {"change": change})


def drift_found(kind: str) -> None:
    workflow.metric_meter().create_counter(
        "csp_orders_subscription_drifts", "Subscriptions found changed outside the engine"
    ).add(1, {"kind": kind})
