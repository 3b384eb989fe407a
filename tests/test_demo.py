"""`make demo`, as the README documents it: the demo runs on embedded defaults, every scenario
ends as the ordering rules say, and Partner Center holds no tenant of a refused new customer."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_make_demo() -> None:
    done = subprocess.run(
        ["make", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "Traceback" not in out + done.stderr
    outcomes = out[out.index("Outcomes") : out.index("What Partner Center holds")]
    rows = [row for row in outcomes.splitlines()[1:] if row.strip()]
    assert len(rows) == 14
    refused = [row for row in rows if "refused:" in row]
    assert [r.split("refused: ")[1].split(" ")[0] for r in refused] == [
        "NOT_ELIGIBLE",
        "OFFER_DISCONTINUED",
        "SEAT_LIMIT",
    ]
    assert all("completed" in row or "licences added" in row for row in rows if row not in refused)
    customers = out[out.index("Partner Center's customers: ") :].splitlines()[0].split(": ")[1]
    names = customers.split(", ")
    assert any(name.startswith("Contoso") for name in names)  # the new customer that bought
    assert "Litware" in names  # holds the discontinued offer
    # The refused new customers (discontinued offer; 400 Business seats) have no tenant.
    assert not [name for name in names if name.startswith(("Voice", "Capped"))]
    # One order over the HTTP API, its tax ID later; the storefront's webhooks, verified.
    http = out[out.index("Over the HTTP API") :]
    assert "POST /v1/orders -> 201 /v1/orders/http-" in http
    assert "-> 422 TAX_ID_REJECTED:" in http
    assert "-> completed" in http
    webhooks = [row.split()[1:3] for row in http.splitlines() if "webhook #" in row]
    assert webhooks == [
        ["#1", "order.waiting_for_tax_id"],
        ["#2", "order.completed"],
    ], http
    assert http.count("(signature verified)") == 2
