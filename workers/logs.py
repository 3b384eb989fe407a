"""structlog set-up: JSON lines for services, readable console lines for people.

structlog's own loggers and the standard library's (Temporal's workflow and activity loggers,
the SDK, uvicorn) go through the same processors, so every line has the same shape: level,
timestamp, logger, and for Temporal's records the workflow id, run id, order id and activity,
with personal data redacted.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog
from temporalio import activity, workflow

from clients.contract import order_id_of
from workers.redaction import RedactingFilter, redact_personal_data


def configure_logging(*, json: bool = True, level: str = "INFO") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        add_order_id,
        redact_personal_data,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, temporal_context, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # The workflow and activity context goes into fields (above), not into the message text.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    # httpx logs every request at INFO; the client logs its own calls (with the correlation id).
    logging.getLogger("httpx").setLevel(logging.WARNING)


def temporal_context(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Lift what Temporal's workflow and activity loggers put on the record into fields."""
    record = event.get("_record")
    in_workflow = getattr(record, "temporal_workflow", None)
    if isinstance(in_workflow, dict):
        event.setdefault("workflow_id", in_workflow.get("workflow_id"))
        event.setdefault("run_id", in_workflow.get("run_id"))
        event.setdefault("workflow_type", in_workflow.get("workflow_type"))
    in_activity = getattr(record, "temporal_activity", None)
    if isinstance(in_activity, dict):
        event.setdefault("workflow_id", in_activity.get("workflow_id"))
        event.setdefault("run_id", in_activity.get("workflow_run_id"))
        event.setdefault("activity", in_activity.get("activity_type"))
    return event


def add_order_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    workflow_id = event.get("workflow_id")
    if isinstance(workflow_id, str) and "order_id" not in event:
        order_id = order_id_of(workflow_id)
        if order_id is not None:
            event["order_id"] = order_id
    return event
