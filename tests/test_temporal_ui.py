"""The operator's view in a real browser: headless Chromium (Debian's, driven by Playwright) opens
the Web UI of the stack `csp-orders dev` runs, lists orders by phase and by customer (search
attributes), opens one and reads its summary, current details and decoded input (through the dev
stack's codec server).

Screenshots go to the test's temporary directory, or to $CSP_UI_SCREENSHOTS (the ones under
docs/ui/ were taken with CSP_UI_SCREENSHOTS=docs/ui).
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from clients.payloads import ACTIVE_VARIABLE, KEYS_VARIABLE
from clients.storefront import Storefront
from ordering.document import OrderDocument
from ordering.status import Phase
from workers.codec_server import TOKEN_VARIABLE
from workers.dev import DevStack, dev_stack

CHROMIUM = Path("/usr/bin/chromium")
# As root, in a closed network: no sandbox, no background calls to Google's hosts.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXAMPLES = Path(__file__).parent.parent / "examples"
WAIT = 30_000  # ms: the UI polls and renders asynchronously


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DevStack]:
    # The dev stack makes its own secrets, as on an operator's machine; the test session's
    # key ring comes back afterwards.
    for name in (KEYS_VARIABLE, ACTIVE_VARIABLE, TOKEN_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    async with dev_stack(state_dir=tmp_path / "dev") as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
        )
        yield launched
        await launched.close()


def screenshots(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("CSP_UI_SCREENSHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def example(name: str) -> OrderDocument:
    return OrderDocument.model_validate(json.loads((EXAMPLES / name).read_text()))


async def test_operators_find_an_order_by_phase_and_read_it_decoded(
    stack: DevStack, browser: Browser, tmp_path: Path
) -> None:
    shop = Storefront(stack.client, task_queue=stack.task_queue)
    waiting = example("russian-customer-tax-id-later.json")
    completed = example("new-customer.json")
    await shop.place_order(waiting)
    await shop.place_order(completed)
    outcome = await shop.wait_for_outcome(completed.order_id)
    assert outcome.phase is Phase.COMPLETED and outcome.customer_id
    status = await shop.status(waiting.order_id)
    assert status.phase is Phase.WAITING_FOR_TAX_ID
    shots = screenshots(tmp_path)

    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    query = urllib.parse.quote('CspPhase="waiting_for_tax_id"')
    await page.goto(f"{stack.ui_url}/namespaces/default/workflows?query={query}")
    rows = page.locator("table tbody tr")
    await expect(rows).to_have_count(1, timeout=WAIT)
    await expect(rows.first).to_contain_text(f"order-{waiting.order_id}")
    await expect(page.get_by_text('CspPhase = "waiting_for_tax_id"')).to_be_visible()
    await page.screenshot(path=shots / "orders-by-phase.png")

    query = urllib.parse.quote(f'CspCustomerId="{outcome.customer_id}"')
    await page.goto(f"{stack.ui_url}/namespaces/default/workflows?query={query}")
    await expect(rows).to_have_count(1, timeout=WAIT)
    await expect(rows.first).to_contain_text(f"order-{completed.order_id}")
    await expect(rows.first).to_contain_text("Completed")

    query = urllib.parse.quote('CspPhase="waiting_for_tax_id"')
    await page.goto(f"{stack.ui_url}/namespaces/default/workflows?query={query}")
    await expect(rows).to_have_count(1, timeout=WAIT)

    await rows.first.get_by_role("link", name=f"order-{waiting.order_id}").click()
    await expect(page.get_by_role("heading", name=f"order-{waiting.order_id}")).to_be_visible(
        timeout=WAIT
    )
    # The input is encrypted at rest; the browser shows it decoded by the codec server.
    await expect(page.get_by_text('"Romashka LLC"').first).to_be_visible(timeout=WAIT)
    await page.screenshot(path=shots / "order-input-decoded.png")

    await page.get_by_role("tab", name="User Metadata").click()
    await expect_metadata(page, waiting)
    await page.screenshot(path=shots / "order-summary-and-details.png")


async def expect_metadata(page: Page, order: OrderDocument) -> None:
    """The tab renders summary, details and current details (markdown) in three frames."""
    summary, details, current = (page.frame_locator("iframe").nth(n) for n in range(3))
    [line] = order.lines
    await expect(
        summary.get_by_text(f"Order {order.order_id}: {line.quantity} x {line.offer}")
    ).to_be_visible(timeout=WAIT)
    await expect(details.get_by_text("Customer: new; 1 line(s); direct")).to_be_visible()
    await expect(current.get_by_text("Phase: waiting_for_tax_id")).to_be_visible(timeout=WAIT)
    # (the UI's markdown turns ' into a typographic apostrophe)
    waiting_for = current.get_by_text("tax ID (Microsoft requires one in this country)")
    await expect(waiting_for).to_be_visible()
    await expect(waiting_for).to_contain_text("gives up at")
