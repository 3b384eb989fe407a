"""The order's "current details" in the Temporal UI: what an operator needs at a glance (phase,
what the order waits for and until when, lines, refusal), as the UI's markdown. No personal
data: it names the customer only by Microsoft's id."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from ordering.status import OrderStatus, Waiting, WaitingFor

WAITING_FOR: dict[WaitingFor, str] = {
    WaitingFor.TAX_ID: "the customer's tax ID (Microsoft requires one in this country)",
    WaitingFor.RELATIONSHIP: "the customer's global admin to accept the reseller relationship",
    WaitingFor.VETTING: "Microsoft to vet the customer for education plans",
    WaitingFor.CUSTOMER_SLOT: "an earlier order of the same customer to finish",
    WaitingFor.PROVISIONING: "Microsoft to provision the subscriptions",
}


def current_details(status: OrderStatus) -> str:
    rows = [f"**Phase:** {status.phase.value}"]
    if status.customer_id:
        rows.append(f"**Customer:** {status.customer_id}")
    if status.waiting:
        rows.append(f"**Waiting for:** {describe_waiting(status.waiting)}")
        if status.waiting.relationship_link:
            rows.append(f"**Invitation:** {status.waiting.relationship_link}")
        if status.waiting.last_problem:
            rows.append(f"**Last input refused:** {status.waiting.last_problem}")
    if status.lines:
        states = Counter(line.state.value for line in status.lines)
        rows.append("**Lines:** " + ", ".join(f"{n} {state}" for state, n in states.items()))
    if status.refusal:
        rows.append(f"**Refused:** {status.refusal.code.value}: {status.refusal.message}")
    return "  \n".join(rows)


def describe_waiting(waiting: Waiting) -> str:
    text = f"{WAITING_FOR[waiting.what]}, since {_moment(waiting.since)}"
    if waiting.expires_at:
        text += f"; gives up at {_moment(waiting.expires_at)}"
    if waiting.reminders_sent:
        text += f"; reminders sent: {waiting.reminders_sent}"
    return text


def _moment(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")
