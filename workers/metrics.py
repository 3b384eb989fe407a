"""Metrics: the Temporal runtime's Prometheus endpoint, and the engine's own counters on it.

- `csp_orders_orders` and `csp_orders_phase_entered`: counted by the workflows
  (workflows/metrics.py);
- `csp_orders_partner_center_calls`: Partner Center answers by `method` and `status` (0 = none).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig


def prometheus_runtime(port: int, host: str = "127.0.0.1") -> Runtime:
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
    )


def partner_center_answered(method: str, status: int) -> None:
    """The Partner Center client's `on_answer` hook; counts only inside activities."""
    if not activity.in_activity():
        return
    activity.metric_meter().create_counter(
        "csp_orders_partner_center_calls", "Partner Center answers"
    ).add(1, {"method": method, "status": str(status)})
