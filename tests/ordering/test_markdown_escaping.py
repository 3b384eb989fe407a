"""What an order or Partner Center puts into the operators' markdown stays text: `markdown_text`
escapes it, and the invitation is linked only when it points to the Microsoft 365 admin center.
(tests/test_ui_injection.py renders the same in the real Temporal UI.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordering.current_details import (
    INVITATION_HOSTS,
    MARKDOWN_SPECIAL,
    current_details,
    invitation_link,
    markdown_text,
)
from ordering.refusals import Refusal, RefusalCode
from ordering.status import OrderStatus, Phase, Waiting, WaitingFor

SINCE = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
INVITATION = (
    "https://admin.microsoft.com/Adminportal/Home?invType=ResellerRelationship"
    "&partnerId=7d2c5b6c-0000-4e7a-9a1a-5a7c0de5a11d&msppId=0&DAP=true"
    "#/BillingAccounts/partner-invitation"
)
PAYLOADS = [
    "[Re-verify the customer here](https://evil.example/login)",
    "[click](https://evil.example/x)",
    "<img src=x onerror=alert(1)>",
    '<a href="https://evil.example">x</a>',
    "![logo](https://evil.example/i.png)",
    "<https://evil.example/auto>",
    "https://evil.example/bare www.evil.example x@evil.example",
    "&lt;b&gt; &#60;i&#62; &amp;",
    "**bold** _it_ `code` ~~gone~~ | a | b | $x$ ^sup^",
    "line one\nline two\r\n# heading\u2028- item\u2029> quote\x85three",
    "[ref]: https://evil.example\n[ref]",
    "back\\slash\\",
]
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def read_back(markdown: str) -> str:
    """How a CommonMark reader (and the Temporal UI's gomarkdown) reads `markdown_text`'s output,
    asserting on the way that it holds nothing but literal text: every markup character comes
    escaped, a backslash only escapes one, and nothing breaks the line."""
    text: list[str] = []
    chars = iter(markdown)
    for char in chars:
        assert (char not in LINE_BREAKS and char.isprintable()) or char == " ", repr(char)
        if char == "\\":
            escaped = next(chars, None)
            assert escaped is not None and escaped in MARKDOWN_SPECIAL, markdown
            text.append(escaped)
        else:
            assert char not in MARKDOWN_SPECIAL, markdown
            text.append(char)
    return "".join(text)


def shown(value: str) -> str:
    """`value` as an operator should read it: line breaks and invisible characters as spaces."""
    return "".join(c if c.isprintable() else " " for c in value)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_come_out_escaped_and_read_back_as_their_text(payload: str) -> None:
    escaped = markdown_text(payload)
    assert read_back(escaped) == shown(payload)


def test_what_escaping_looks_like() -> None:
    assert markdown_text("[click](https://evil.example/x)") == (
        r"\[click\]\(https\://evil\.example/x\)"
    )
    assert markdown_text("<img src=x onerror=alert(1)>") == r"\<img src=x onerror=alert\(1\)\>"
    assert markdown_text("a\nb\r\nc\u2028d\te") == "a b  c d e"
    assert markdown_text("plain words, 42") == "plain words, 42"


@settings(max_examples=3000, deadline=None)
@given(st.text())
def test_arbitrary_text_cannot_make_a_link_image_html_or_line_break(value: str) -> None:
    escaped = markdown_text(value)
    # Nothing but literal text: no '[', '!', '<', ':' or '&' left to open a link, an image,
    # HTML, an autolink or an entity; no newline, so no new line, block or hard break.
    assert read_back(escaped) == shown(value)


@settings(max_examples=1000, deadline=None)
@given(st.text(), st.text(), st.text())
def test_values_in_current_details_never_add_a_row_or_markup(
    message: str, problem: str, customer: str
) -> None:
    status = OrderStatus(
        order_id="shop-1",
        phase=Phase.REFUSED,
        customer_id=customer or None,
        waiting=Waiting(what=WaitingFor.TAX_ID, since=SINCE, last_problem=problem or None),
        refusal=Refusal(code=RefusalCode.INVALID_ORDER, message=message),
    )
    rows = current_details(status).split("  \n")
    assert len(rows) == 3 + bool(customer) + bool(problem)
    for row in rows:
        label, _, value = row.partition(":** ")
        assert label.startswith("**") and label.count("*") == 2
        read_back(value)
    assert read_back(rows[-1].partition(":** ")[2]) == shown(f"INVALID_ORDER: {message}")


def test_the_refused_line_shows_an_injected_kind_as_text() -> None:
    payload = "[Re-verify the customer here](https://evil.example/login)"
    status = OrderStatus(
        order_id="shop-1",
        phase=Phase.REFUSED,
        refusal=Refusal(code=RefusalCode.INVALID_ORDER, message=f"customer: {payload}"),
    )
    assert current_details(status).split("  \n") == [
        r"**Phase:** refused",
        r"**Refused:** INVALID\_ORDER\: customer\: \[Re\-verify the customer here\]"
        r"\(https\://evil\.example/login\)",
    ]


def test_the_invitation_is_a_link_only_to_the_admin_center_over_https() -> None:
    assert frozenset({"admin.microsoft.com"}) == INVITATION_HOSTS
    assert invitation_link(INVITATION) == (
        rf"[the reseller relationship invitation on admin\.microsoft\.com]({INVITATION})"
    )
    assert invitation_link("https://ADMIN.Microsoft.com/x") is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://admin.microsoft.com/Adminportal/Home",
        "https://evil.example/login",
        "https://admin.microsoft.com.evil.example/",
        "https://admin.microsoft.com@evil.example/",
        "https://user:pw@admin.microsoft.com/",
        "https://admin.microsoft.com:8443/",
        "https://admin.microsoft.com./",
        "https://evil.example/?next=https://admin.microsoft.com/",
        "https://login.microsoftonline.com/",
        "https://portal.office.com/partner/partnersignup.aspx",
        "https://microsoft.com.evil.example/",
        "https://admin.microsoft.com\\@evil.example/",
        "https://admin.microsoft.com/x)[phish](https://evil.example",
        "https://admin.microsoft.com/<script>",
        "https://admin.microsoft.com/a b",
        "https://admin.microsoft.com/&lt;",
        "https://admin.microsoft.com/\nhttps://evil.example",
        "https://adm\u0456n.microsoft.com/",  # a Cyrillic i
        "javascript:alert(1)//https://admin.microsoft.com/",
        "//admin.microsoft.com/",
        "",
    ],
)
def test_any_other_invitation_is_withheld_with_a_fixed_sentence(url: str) -> None:
    assert invitation_link(url) is None
    status = OrderStatus(
        order_id="shop-1",
        phase=Phase.WAITING_FOR_RELATIONSHIP,
        waiting=Waiting(what=WaitingFor.RELATIONSHIP, since=SINCE, relationship_link=url or "x"),
    )
    [invitation] = [r for r in current_details(status).split("  \n") if "Invitation" in r]
    sentence = invitation.removeprefix("**Invitation:** ")
    assert "evil" not in sentence and "(http" not in sentence and "](" not in sentence
    assert read_back(sentence).startswith("Partner Center's invitation link is not shown here")


def test_an_admin_center_invitation_is_linked_in_current_details() -> None:
    status = OrderStatus(
        order_id="shop-1",
        phase=Phase.WAITING_FOR_RELATIONSHIP,
        waiting=Waiting(what=WaitingFor.RELATIONSHIP, since=SINCE, relationship_link=INVITATION),
    )
    assert (
        f"**Invitation:** [the reseller relationship invitation on admin\\.microsoft\\.com]"
        f"({INVITATION})" in current_details(status).split("  \n")
    )
