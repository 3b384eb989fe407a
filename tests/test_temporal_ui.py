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
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from clients.storefront import Storefront
from devtools.dev import DevStack
from ordering.document import OrderDocument
from ordering.status import Phase
from tests.helpers import UI_WAIT_MS as WAIT

EXAMPLES = Path(__file__).parent.parent / "examples"
# The fixtures `stack` (the dev stack) and `browser` (Chromium): tests/conftest.py.


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
