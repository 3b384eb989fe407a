"""The order's "current details" in the Temporal UI: what an operator needs at a glance (phase,
what the order waits for and until when, lines, refusal), as the UI's markdown. No personal
data: it names the customer only by Microsoft's id.

Every value put into the markdown is text, never markup: `markdown_text` escapes it, so an
order (or an answer of Partner Center) cannot place a link, an image, HTML or a line break in
the operators' UI. The one link shown is the reseller invitation, and only when it is an https
address on `INVITATION_HOSTS`."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from urllib.parse import urlsplit

from ordering.status import OrderStatus, Waiting, WaitingFor

WAITING_FOR: dict[WaitingFor, str] = {
    WaitingFor.TAX_ID: "the customer's tax ID (Microsoft requires one in this country)",
    WaitingFor.RELATIONSHIP: "the customer's global admin to accept the reseller relationship",
    WaitingFor.VETTING: "Microsoft to vet the customer for education plans",
    WaitingFor.CUSTOMER_SLOT: "an earlier order of the same customer to finish",
    WaitingFor.PROVISIONING: "Microsoft to provision the subscriptions",
}

UNENCRYPTED_INPUT = {"order": "the order", "tax_id": "the tax ID"}
UNENCRYPTED_NOTE = (
    "{} (sent without the payload keys, e.g. with the plain temporal CLI): readable in this "
    "order's history for as long as it is retained"
)

# Where Partner Center's reseller relationship invitation may point for the UI to link it: the
# Microsoft 365 admin center, where a customer's global admin accepts it (the host Partner
# Center's documented answer uses). Exact host names, no wildcard.
INVITATION_HOSTS = frozenset({"admin.microsoft.com"})
INVITATION_WITHHELD = (
    "Partner Center's invitation link is not shown here: it is not an https address on "
    "admin.microsoft.com. Ask the customer to accept the reseller relationship in the "
    "Microsoft 365 admin center."
)
# The characters a linked invitation may contain: no spaces, quotes, brackets, parentheses,
# backslashes, angle brackets or ';' (so no entity), nothing outside ASCII.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9._~/?#=&%+,:!-]*")

# Every character a Markdown renderer may read as markup: CommonMark's backslash escapes cover all
# ASCII punctuation; these are the ones the Temporal UI's renderer (gomarkdown) also unescapes,
# and they include every character that starts a link, an image, an autolink (':' of a scheme,
# '.' of a host), HTML, an entity, emphasis, code, a table, a heading or a list.
MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()#+-.!:|&<>~^$")


def markdown_text(value: object) -> str:
    """`value` as Markdown that renders as exactly its text on one line: markup characters are
    backslash-escaped; every character Python does not call printable (line and paragraph
    breaks, tabs, control and format characters such as bidirectional overrides, unassigned
    code points, spaces other than ' ') becomes a space."""
    out: list[str] = []
    for char in str(value):
        if char in MARKDOWN_SPECIAL:
            out.append("\\" + char)
        elif not char.isprintable():
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def invitation_link(url: str) -> str | None:
    """The invitation as a Markdown link when `url` is https on one of `INVITATION_HOSTS` (no
    user, no port, plain ASCII address characters), else None."""
    if not _URL_CHARACTERS.fullmatch(url):
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.netloc.lower() not in INVITATION_HOSTS:
        return None
    host = markdown_text(parts.netloc.lower())
    return f"[the reseller relationship invitation on {host}]({url})"


def current_details(status: OrderStatus) -> str:
    rows = [f"**Phase:** {markdown_text(status.phase.value)}"]
    if status.customer_id:
        rows.append(f"**Customer:** {markdown_text(status.customer_id)}")
    if status.waiting:
        rows.append(f"**Waiting for:** {markdown_text(describe_waiting(status.waiting))}")
        if status.waiting.relationship_link:
            link = invitation_link(status.waiting.relationship_link)
            rows.append(f"**Invitation:** {link or markdown_text(INVITATION_WITHHELD)}")
        if status.waiting.last_problem:
            rows.append(f"**Last input refused:** {markdown_text(status.waiting.last_problem)}")
    if status.lines:
        states = Counter(line.state.value for line in status.lines)
        rows.append(
            "**Lines:** " + ", ".join(f"{n} {markdown_text(state)}" for state, n in states.items())
        )
    if status.refusal:
        refusal = f"{status.refusal.code.value}: {status.refusal.message}"
        rows.append(f"**Refused:** {markdown_text(refusal)}")
    if status.unencrypted_inputs:
        what = ", ".join(UNENCRYPTED_INPUT.get(i, "an input") for i in status.unencrypted_inputs)
        rows.append(f"**Arrived unencrypted:** {markdown_text(UNENCRYPTED_NOTE.format(what))}")
    return "  \n".join(rows)


def describe_waiting(waiting: Waiting) -> str:
    """What the order waits for, as plain text (not Markdown)."""
    text = f"{WAITING_FOR[waiting.what]}, since {_moment(waiting.since)}"
    if waiting.expires_at:
        text += f"; gives up at {_moment(waiting.expires_at)}"
    if waiting.reminders_sent:
        text += f"; reminders sent: {waiting.reminders_sent}"
    return text


def _moment(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")
