"""Metrics: the Temporal runtime's Prometheus endpoint, and the engine's own counters on it.

- `csp_orders_orders` and `csp_orders_phase_entered`: counted by the workflows
  (workflows/metrics.py);
- `csp_orders_partner_center_calls`: Partner Center answers by `method` and `status` (0 = none);
- `csp_orders_partner_center_seconds`: how long each request took, answer read (a histogram:
  `_sum` over `_count` is the time an order spends inside Partner Center).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig


def prometheus_runtime(port: int, host: str = "127.0.0.1") -> Runtime:
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
    )


def partner_center_answered(method: str, status: int, seconds: float) -> None:
    """The Partner Center client's `on_answer` hook; counts only inside activities."""
    if not activity.in_activity():
        return
    meter = activity.metric_meter()
    meter.create_counter("csp_orders_partner_center_calls", "Partner Center answers").add(
        1, {"method": method, "status": str(status)}
    )
    meter.create_histogram_float(
        "csp_orders_partner_center_seconds", "Time a Partner Center request took", "s"
    ).record(seconds, {"method": method})
