"""The route table: every Partner Center path the sandbox answers, the handler behind it and
the status of its success; each route goes through the front door (`sandbox.front_door`)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from sandbox import commerce, compliance, customers
from sandbox.core import Sandbox
from sandbox.errors import PartnerCenterRefusal
from sandbox.front_door import Call, Handler, partner_center_route


def collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "totalCount": len(items),
        "items": items,
        "links": {},
        "attributes": {"objectType": "Collection"},
    }


def _domain(sb: Sandbox, call: Call) -> Response:
    taken = customers.is_domain_taken(sb, call.path["domain"])
    return Response(b"", status_code=200 if taken else 404)


def _customers(sb: Sandbox, call: Call) -> Any:
    size = int(call.query("size") or 500)
    return collection(customers.search_customers(sb, size, call.query("filter")))


def _customer(sb: Sandbox, call: Call) -> Any:
    return customers.customer_json(sb, customers.get_customer(sb, call.path["customer_id"]))


def _qualifications(sb: Sandbox, call: Call) -> Any:
    return compliance.get_qualifications(sb, call.path["customer_id"])


def _agreements(sb: Sandbox, call: Call) -> Any:
    return collection(
        compliance.list_agreements(sb, call.path["customer_id"], call.query("agreementType"))
    )


def _agreement_metadata(sb: Sandbox, call: Call) -> Any:
    kind = call.query("agreementType")
    items = [compliance.agreement_metadata()]
    return collection([m for m in items if kind in (None, "", "All", m["agreementType"])])


def _country(call: Call) -> str:
    country = call.query("country")
    if not country or len(country) != 2:
        raise PartnerCenterRefusal(400, 400001, "The query parameter 'country' is required.")
    return country


def _products(sb: Sandbox, call: Call) -> Any:
    _country(call)
    if not call.query("targetView"):
        raise PartnerCenterRefusal(400, 400001, "The query parameter 'targetView' is required.")
    segment = (call.query("targetSegment") or "").lower()
    products = [
        p
        for p in sb.catalog.products
        if not segment
        or any(a.segment.lower() == segment for sku in p.skus for a in sku.availabilities)
    ]
    return collection([sb.catalog.product_json(p) for p in products])


def _product(sb: Sandbox, call: Call) -> Any:
    _country(call)
    return sb.catalog.product_json(sb.catalog.product(call.path["product_id"]))


def _skus(sb: Sandbox, call: Call) -> Any:
    _country(call)
    product = sb.catalog.product(call.path["product_id"])
    return collection([sb.catalog.sku_json(product, sku) for sku in product.skus])


def _sku(sb: Sandbox, call: Call) -> Any:
    _country(call)
    product = sb.catalog.product(call.path["product_id"])
    return sb.catalog.sku_json(product, sb.catalog.sku(product.id, call.path["sku_id"]))


def _availabilities(sb: Sandbox, call: Call) -> Any:
    country = _country(call)
    product = sb.catalog.product(call.path["product_id"])
    sku = sb.catalog.sku(product.id, call.path["sku_id"])
    segment = (call.query("targetSegment") or "").lower()
    # As Microsoft does: without targetSegment, every segment but non-profit.
    return collection(
        [
            sb.catalog.availability_json(product, sku, a, country)
            for a in sku.availabilities
            if a.segment.lower() == segment or (not segment and a.segment.lower() != "nonprofit")
        ]
    )


def _order(sb: Sandbox, call: Call) -> Any:
    return commerce.order_json(
        commerce.get_order(sb, call.path["customer_id"], call.path["order_id"])
    )


def _provisioning(sb: Sandbox, call: Call) -> Any:
    order = commerce.get_order(sb, call.path["customer_id"], call.path["order_id"])
    return collection(commerce.provisioning_status(order))


def _subscriptions(sb: Sandbox, call: Call) -> Any:
    """A cancelled subscription is listed (status deleted) until Microsoft deprovisions it;
    from then on it is gone from the customer's list and no longer holds a slot."""
    customers.get_customer(sb, call.path["customer_id"])
    subs = sorted(
        (
            s
            for s in sb.state.customer_subscriptions(call.path["customer_id"])
            if not s.deprovisioned
        ),
        key=lambda s: s.created_at,
    )
    return collection([commerce.subscription_json(s, sb.now()) for s in subs])


def _subscription(sb: Sandbox, call: Call) -> Any:
    return commerce.subscription_json(
        commerce.get_subscription(sb, call.path["customer_id"], call.path["subscription_id"]),
        sb.now(),
    )


def _body(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise PartnerCenterRefusal(400, 2000, "The request body must be a JSON object.")
    return call.body


def partner_center_routes(sb: Sandbox) -> list[Route]:
    c = "/v1/customers/{customer_id}"
    table: list[tuple[str, str, Handler, int]] = [
        ("HEAD", "/v1/domains/{domain}", _domain, 200),
        (
            "POST",
            "/v1/validations/address",
            lambda sb, call: compliance.validate_address(sb, _body(call)),
            200,
        ),
        (
            "GET",
            "/v1/customers/relationshiprequests",
            lambda sb, call: (
                customers.relationship_request(sb)
                if call.app_user
                else _raise(customers.app_user_required())
            ),
            200,
        ),
        ("GET", "/v1/customers", _customers, 200),
        (
            "POST",
            "/v1/customers",
            lambda sb, call: customers.create_customer(sb, _body(call), app_user=call.app_user),
            201,
        ),
        ("GET", c, _customer, 200),
        (
            "GET",
            "/v1/compliance/csp/agreementstatus",
            lambda sb, call: compliance.reseller_agreement_status(
                sb, call.query("mpnId"), app_user=call.app_user
            ),
            200,
        ),
        ("GET", f"{c}/qualifications", _qualifications, 200),
        (
            "POST",
            f"{c}/qualifications",
            lambda sb, call: compliance.request_qualification(
                sb, call.path["customer_id"], _body(call), app_user=call.app_user
            ),
            201,
        ),
        ("GET", "/v1/agreements", _agreement_metadata, 200),
        ("GET", f"{c}/agreements", _agreements, 200),
        (
            "POST",
            f"{c}/agreements",
            lambda sb, call: compliance.confirm_agreement(
                sb, call.path["customer_id"], _body(call), app_user=call.app_user
            ),
            201,
        ),
        ("GET", "/v1/products", _products, 200),
        ("GET", "/v1/products/{product_id}", _product, 200),
        ("GET", "/v1/products/{product_id}/skus", _skus, 200),
        ("GET", "/v1/products/{product_id}/skus/{sku_id}", _sku, 200),
        ("GET", "/v1/products/{product_id}/skus/{sku_id}/availabilities", _availabilities, 200),
        (
            "POST",
            f"{c}/carts",
            lambda sb, call: commerce.create_cart(sb, call.path["customer_id"], _body(call)),
            201,
        ),
        (
            "POST",
            f"{c}/carts/{{cart_id}}/checkout",
            lambda sb, call: commerce.checkout(sb, call.path["customer_id"], call.path["cart_id"]),
            201,
        ),
        ("GET", f"{c}/orders/{{order_id}}", _order, 200),
        ("GET", f"{c}/orders/{{order_id}}/provisioningstatus", _provisioning, 200),
        ("GET", f"{c}/subscriptions", _subscriptions, 200),
        ("GET", f"{c}/subscriptions/{{subscription_id}}", _subscription, 200),
        (
            "PATCH",
            f"{c}/subscriptions/{{subscription_id}}",
            lambda sb, call: commerce.change_subscription(
                sb,
                call.path["customer_id"],
                call.path["subscription_id"],
                _body(call),
                call.request.headers.get("if-match"),
            ),
            200,
        ),
    ]
    return [partner_center_route(sb, m, path, h, status=s) for m, path, h, s in table]


def _raise(refusal: PartnerCenterRefusal) -> Any:
    raise refusal
