"""The engine's counters that workflows add to, through the worker's metric meter (a replay
does not count again). The worker exports them (workers/metrics.py: the Prometheus runtime).

- `csp_orders_orders`: orders that ended, by `phase` (completed, refused, cancelled, failed)
  and `refusal_code`;
- `csp_orders_phase_entered`: orders entering each phase.
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
