"""Injection into the operators' UI (issue 11), in the real Temporal Web UI of `csp-orders dev`
and real Chromium: orders carrying links and HTML in their customer kind and in unknown keys are
refused, and their workflow pages show the reasons as text (no link to the attacker's host, no
image); the reseller invitation is linked only to the Microsoft 365 admin center; and the UI's own
markdown renderer (`/render`, what the workflow page embeds) shows any text put through
`markdown_text` as that text, never as a link, image, HTML or a new line.
"""

from __future__ import annotations

import random
import urllib.parse
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import httpx
from playwright.async_api import Browser, Frame, Page, expect
from temporalio.client import Client

from clients.contract import order_workflow_id
from clients.storefront import Storefront
from devtools.dev import DevStack
from devtools.samples import AGREEMENT, OFFICE_E3, existing_tenant, line, new_customer, order
from ordering.current_details import current_details, markdown_text
from ordering.refusals import Refusal, RefusalCode
from ordering.status import OrderStatus, Phase, Waiting, WaitingFor
from sandbox.admin_client import SandboxAdmin
from tests.helpers import UI_WAIT_MS as WAIT
from tests.helpers import eventually, wait_for

EVIL_KIND = "[Re-verify the customer here](https://evil.example/login)"
EVIL_KEYS = {
    "order": "[click](https://evil.example/x)",
    "line": "<img src=x onerror=alert(1)>",
    "agreement": '<a href="https://evil.example">x</a>',
}
PAYLOADS = [
    EVIL_KIND,
    *EVIL_KEYS.values(),
    "![logo](https://evil.example/logo.png) <https://evil.example/auto> https://evil.example/bare",
    "&lt;b&gt; &#60;i&#62; **bold** _it_ `code` ~~gone~~ | a | b |",
    "first\nsecond\r\n# heading\u2028> quote  \nlast\\",
]
# The browser tests' fixtures, `stack` (the dev stack with its Web UI) and `browser`
# (Chromium): tests/conftest.py.
# The same evil order for every kind of injection: a valid new customer's order, then changed.
BASE: dict[str, Any] = {
    "customer": new_customer("injected"),
    "lines": [line(OFFICE_E3)],
    "customer_agreement": AGREEMENT,
}


async def start_raw(client: Client, task_queue: str, order_id: str, document: Any) -> str:
    """Start an order as a storefront that skipped validation would: the raw document, through
    the SDK (encrypted like every order)."""
    workflow_id = order_workflow_id(order_id)
    await client.start_workflow("OrderWorkflow", document, id=workflow_id, task_queue=task_queue)
    return workflow_id


async def wait_until_failed(client: Client, workflow_id: str) -> None:
    handle = client.get_workflow_handle(workflow_id)

    async def ended() -> bool:
        described = await handle.describe()
        if described.status is None or described.status.name == "RUNNING":
            return False
        assert described.status.name == "FAILED", described.status
        return True

    await eventually(ended, what=f"{workflow_id} refused")


async def open_current_details(page: Page, ui_url: str, workflow_id: str) -> Frame:
    """The workflow page's User Metadata tab; returns the current details' frame."""
    await page.goto(f"{ui_url}/namespaces/default/workflows/{urllib.parse.quote(workflow_id)}")
    await expect(page.get_by_role("heading", name=workflow_id)).to_be_visible(timeout=WAIT)
    await page.get_by_role("tab", name="User Metadata").click()
    frame_element = page.locator('iframe[src*="Phase"]')
    await expect(frame_element).to_have_count(1, timeout=WAIT)
    frame = await (await frame_element.element_handle()).content_frame()
    assert frame is not None
    await expect(frame.get_by_text("Phase:")).to_be_visible(timeout=WAIT)
    return frame


async def assert_nothing_injected(page: Page) -> None:
    """Nowhere on the page, frames included: a link to the attacker's host, an image or element
    from the payloads."""
    for frame in page.frames:
        assert await frame.locator('a[href*="evil.example"]').count() == 0, frame.url
        assert await frame.locator('img[src="x"], img[src*="evil.example"]').count() == 0
        assert await frame.locator("[onerror]").count() == 0, frame.url


def same_quotes(text: str) -> str:
    """The UI's renderer writes typographic quotes ("smartypants"); compare them as plain ones."""
    for curly, plain in (("\u201c", '"'), ("\u201d", '"'), ("\u2018", "'"), ("\u2019", "'")):
        text = text.replace(curly, plain)
    return text


def words(text: str) -> str:
    """`text` with its white space collapsed, as the browser lays it out."""
    return " ".join(text.split())


class Tags(HTMLParser):
    """The elements inside <main> of a page `/render` made."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.seen: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main":
            self.inside = True
        elif self.inside:
            self.seen.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.inside = False


def nasty_text(rng: random.Random) -> str:
    pieces = [
        "[", "]", "(", ")", "![", "](", "<", ">", "<a href=", "<img src=x>", "&", "&lt;", "&#60;",
        "*", "**", "_", "`", "```", "~~", "|", "#", "- ", "1. ", "> ", "\\", "!", ":", "://",
        "https://evil.example", "www.evil.example", "x@evil.example", "^", "$", "{", "}",
        "\n", "\r\n", "\u2028", "\u2029", "\x85", "  ", "\t", "    ", "=", "---", "+", ".",
        "evil", "link", "\u202e", "\u200b", "é", "日本",
    ]  # fmt: skip
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))


async def test_injected_text_is_shown_as_text_in_the_operators_ui(
    stack: DevStack, browser: Browser
) -> None:
    client, queue = stack.client, stack.task_queue
    kind_order = await start_raw(
        client,
        queue,
        "evil-kind",
        {**BASE, "order_id": "evil-kind", "customer": {**BASE["customer"], "kind": EVIL_KIND}},
    )
    keys_order = await start_raw(
        client,
        queue,
        "evil-keys",
        {
            **BASE,
            "order_id": "evil-keys",
            EVIL_KEYS["order"]: 1,
            "lines": [{**BASE["lines"][0], EVIL_KEYS["line"]: 1}],
            "customer_agreement": {**AGREEMENT, EVIL_KEYS["agreement"]: 1},
        },
    )
    admin = SandboxAdmin(stack.sandbox.base_url)
    try:
        await admin.add_tenant("fabrikam.onmicrosoft.com", "Fabrikam")
    finally:
        await admin.aclose()
    shop = Storefront(client, task_queue=queue)
    invited = order("invited", existing_tenant("fabrikam.onmicrosoft.com"))
    await shop.place_order(invited)
    await wait_until_failed(client, kind_order)
    await wait_until_failed(client, keys_order)

    page = await browser.new_page(viewport={"width": 1400, "height": 900})

    # The refused kind: named by the field and a fixed sentence, never repeated.
    current = await open_current_details(page, stack.ui_url, kind_order)
    await expect(current.locator("main")).to_contain_text("Refused: INVALID_ORDER")
    await assert_nothing_injected(page)
    assert await current.locator("a, img").count() == 0
    await expect(current.locator("main")).to_contain_text("customer.kind: must be one of")
    await expect(current.locator("main")).not_to_contain_text("evil")

    # Unknown keys: named in safe characters, as text.
    current = await open_current_details(page, stack.ui_url, keys_order)
    await expect(current.locator("main")).to_contain_text("Refused: INVALID_ORDER")
    await assert_nothing_injected(page)
    assert await current.locator("a, img").count() == 0
    text = await current.locator("main").inner_text()
    assert "?click??https???evil?example?x?: is not a known field" in text
    assert "lines[0].?img?src?x?onerror?alert?1??: is not a known field" in text
    assert "customer_agreement.?a?href??https???evil?example??x??a?: is not a known field" in text
    assert "evil.example" not in text

    # Partner Center's invitation (admin.microsoft.com): the one link current details may hold.
    await wait_for(shop, invited.order_id, WaitingFor.RELATIONSHIP)
    current = await open_current_details(page, stack.ui_url, order_workflow_id(invited.order_id))
    invitation = current.get_by_role(
        "link", name="the reseller relationship invitation on admin.microsoft.com"
    )
    await expect(invitation).to_be_visible(timeout=WAIT)
    href = await invitation.get_attribute("href")
    assert href is not None and href.startswith("https://admin.microsoft.com/Adminportal/")
    assert await current.locator("a").count() == 1

    # Any text, as a refusal, a last problem or an invitation from elsewhere: the UI's renderer
    # (what the workflow page embeds) shows it as text.
    evil = OrderStatus(
        order_id="x",
        phase=Phase.REFUSED,
        customer_id=PAYLOADS[1],
        waiting=Waiting(
            what=WaitingFor.RELATIONSHIP,
            since=datetime(2026, 11, 25, tzinfo=UTC),
            relationship_link="https://evil.example/login?next=admin.microsoft.com",
            last_problem=PAYLOADS[2],
        ),
        refusal=Refusal(code=RefusalCode.PARTNER_CENTER_REFUSED, message=" / ".join(PAYLOADS)),
    )
    rendered = f"{stack.ui_url}/render?content={urllib.parse.quote(current_details(evil))}"
    await page.goto(rendered)
    await expect(page.locator("main")).to_contain_text("Refused: PARTNER_CENTER_REFUSED")
    shown = words(same_quotes(await page.locator("main").inner_text()))
    for payload in PAYLOADS:
        assert words("".join(c if c.isprintable() else " " for c in payload)) in shown, payload
    assert "invitation link is not shown here" in shown
    assert await page.locator("main a, main img, main h1, main code, main em").count() == 0
    assert await page.locator("main br").count() == len(current_details(evil).split("\n")) - 1
    await assert_nothing_injected(page)
    await page.close()

    # Many more (seeded, so a failure repeats): the renderer's HTML holds only our labels,
    # our row breaks and the text; nothing links, embeds or starts a line.
    rng = random.Random(11)
    async with httpx.AsyncClient(base_url=stack.ui_url, timeout=30) as http:
        for _ in range(20):
            values = [nasty_text(rng) for _ in range(50)]
            markdown = "  \n".join(f"**Value:** {markdown_text(v)}" for v in values)
            answer = await http.get("/render", params={"content": markdown})
            answer.raise_for_status()
            tags = Tags()
            tags.feed(answer.text)
            # (sup/sub: the renderer's typographic fractions, as in 1/2)
            assert set(tags.seen) <= {"p", "strong", "br", "sup", "sub"}, (tags.seen, values)
            assert tags.seen.count("strong") == len(values)
            assert tags.seen.count("br") == len(values) - 1
            assert tags.seen.count("p") == 1
