"""The sandbox answers in Partner Center's shapes: for each resource the engine reads, the
sandbox's answer has every field of the documented payload (`tests/fixtures/microsoft/`), with
the same nesting and JSON types, and enumerated values in the same casing ("commercial",
"monthly", "pending", "Approved").

The answers are captured on the wire while the client drives a whole purchase through the
sandbox. Known differences are listed in `GAPS`, each with its reason: a field listed there is
one the engine does not read."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients.partner_center import PartnerCenterClient
from clients.partner_center.auth import TokenProvider
from clients.partner_center.models import Address, QualificationRequest
from devtools.sandbox_settings import sandbox_client_config
from sandbox.admin_client import SandboxAdmin
from sandbox.server import SandboxServer
from tests.partner_center.builders import cart, customer_agreement, new_customer

FIXTURES = Path(__file__).parent.parent / "fixtures" / "microsoft"
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"

# Fields whose values are enumerations whose casing Microsoft keeps. (Not billingCycle: Microsoft
# itself answers "monthly" and "Monthly" in different places; the engine ignores its case.)
CASED = {"segment", "status", "vettingStatus", "objectType", "termDuration"}

# Documented fields the sandbox leaves out (none is read by the engine), with the reason.
GAPS: dict[str, set[str]] = {
    "customers": {".links.self"},  # collections carry no self link: the engine does not page
    "checkout": {".orders[0].lineItems[0].partnerIdOnRecord"},  # only on a reseller's purchase
    "order": {".lineItems[0].pricing"},  # the sandbox has no prices
    "subscription": {".partnerId"},  # only on a reseller's purchase
}

# Resource -> (fixture, method, path pattern of the call whose answer it documents).
RESOURCES: dict[str, tuple[str, str, str]] = {
    "customer": ("customer_created.json", "POST", r"/v1/customers"),
    "customers": ("customers_collection.json", "GET", r"/v1/customers"),
    "sku": ("sku.json", "GET", r"/v1/products/[^/]+/skus/[^/]+"),
    "availabilities": (
        "availabilities_collection.json",
        "GET",
        r"/v1/products/[^/]+/skus/[^/]+/availabilities",
    ),
    "products": ("products_collection.json", "GET", r"/v1/products"),
    "cart": ("cart.json", "POST", r"/v1/customers/[^/]+/carts"),
    "checkout": ("cart_checkout_result.json", "POST", r"/v1/customers/[^/]+/carts/[^/]+/checkout"),
    "order": ("order.json", "GET", r"/v1/customers/[^/]+/orders/[^/]+"),
    "provisioning": (
        "provisioning_status.json",
        "GET",
        r"/v1/customers/[^/]+/orders/[^/]+/provisioningstatus",
    ),
    "subscription": ("subscription.json", "GET", r"/v1/customers/[^/]+/subscriptions/[^/]+"),
    "qualifications": ("qualifications.json", "GET", r"/v1/customers/[^/]+/qualifications"),
    "qualification_requested": (
        "qualification_in_review.json",
        "POST",
        r"/v1/customers/[^/]+/qualifications",
    ),
    "address_validation": ("address_validation.json", "POST", r"/v1/validations/address"),
    "relationship_request": (
        "relationship_request.json",
        "GET",
        r"/v1/customers/relationshiprequests",
    ),
    "agreement_metadata": ("agreement_metadata.json", "GET", r"/v1/agreements"),
    "agreement_confirmed": ("agreement_confirmed.json", "POST", r"/v1/customers/[^/]+/agreements"),
    "mpa_status": ("mpa_status.json", "GET", r"/v1/compliance/csp/agreementstatus"),
}


class Wire(httpx.AsyncBaseTransport):
    """The real transport, keeping each answer's JSON by method and path."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.answers: list[tuple[str, str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        body = await response.aread()
        if body and response.headers.get("content-type", "").startswith("application/json"):
            self.answers.append((request.method, request.url.path, json.loads(body)))
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
async def answers(sandbox: SandboxServer, admin: SandboxAdmin) -> AsyncIterator[Wire]:
    """Drive everything the engine does, once, and keep what the sandbox answered."""
    wire = Wire()
    http = httpx.AsyncClient(transport=wire)
    config = sandbox_client_config(sandbox)
    pc = PartnerCenterClient(config.base_url, TokenProvider(config.credentials(), http), http)
    await admin.add_reseller("5555555", "dddddddd-0000-4000-8000-000000000005")
    await admin.set_settings(provisioning_delay_seconds=0)
    await pc.get_reseller_agreement_status("5555555")
    await pc.validate_address(
        Address(
            address_line1="1 Microsoft Way",
            city="Redmond",
            state="WA",
            postal_code="98052",
            country="US",
        )
    )
    customer = await pc.create_customer(new_customer("shapes"), request_id="shapes-1")
    assert customer.id is not None
    await pc.search_customers("Domain", "shapes")
    await pc.get_relationship_request()
    await pc.list_products("US")
    await pc.get_sku("CFQ7TTC0LH18", "0001", "US")
    await pc.list_availabilities("CFQ7TTC0LH18", "0001", "US")
    await pc.request_qualification(
        customer.id,
        QualificationRequest(
            qualification="Education", education_segment="K12", website="https://k12.example"
        ),
        request_id="shapes-q",
    )
    await pc.get_qualifications(customer.id)
    [metadata] = await pc.get_agreement_metadata()
    await pc.confirm_agreement(
        customer.id, customer_agreement(metadata.template_id), request_id="shapes-a"
    )
    created = await pc.create_cart(customer.id, cart((BASIC, 3, "monthly")), request_id="shapes-c")
    assert created.id is not None
    result = await pc.checkout_cart(customer.id, created.id, request_id="shapes-o")
    [order] = result.orders
    await pc.get_provisioning_status(customer.id, order.id)
    completed = await pc.get_order(customer.id, order.id)
    [line] = completed.line_items
    await pc.get_subscription(customer.id, str(line.subscription_id))
    yield wire
    await http.aclose()


def shape_problems(documented: Any, answered: Any, where: str = "") -> list[str]:
    """Where the answer lacks a documented field, or differs in JSON type or casing."""
    if isinstance(documented, dict):
        if not isinstance(answered, dict):
            return [f"{where or '.'}: an object is documented"]
        problems = []
        for key, value in documented.items():
            if key not in answered:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += shape_problems(value, answered[key], f"{where}.{key}")
                theirs = answered[key]
                if (
                    key in CASED
                    and isinstance(value, str)
                    and isinstance(theirs, str)
                    and value.islower() != theirs.islower()
                ):
                    problems.append(f"{where}.{key}: {theirs!r}, Microsoft {value!r}")
        return problems
    if isinstance(documented, list):
        if not isinstance(answered, list):
            return [f"{where}: a list is documented"]
        if documented and answered:
            return shape_problems(documented[0], answered[0], f"{where}[0]")
        return []
    if documented is None or answered is None:
        return []
    kinds = (bool, (int, float), str)
    for kind in kinds:
        if isinstance(documented, kind):
            return [] if isinstance(answered, kind) else [f"{where}: not a {kind}"]
    return []


@pytest.mark.parametrize("resource", sorted(RESOURCES))
async def test_the_sandbox_answers_in_the_documented_shape(answers: Wire, resource: str) -> None:
    fixture, method, pattern = RESOURCES[resource]
    documented = json.loads((FIXTURES / fixture).read_text())
    answered = [
        body for m, path, body in answers.answers if m == method and re.fullmatch(pattern, path)
    ]
    assert answered, f"the drive never called {method} {pattern}"
    problems = [
        p
        for p in shape_problems(documented, answered[-1])
        if p.split(":")[0] not in GAPS.get(resource, set())
    ]
    assert problems == [], problems
