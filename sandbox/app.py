"""The sandbox's HTTP face: Partner Center's paths, Entra ID's token endpoint, admin paths.

Every Partner Center path goes through one wrapper that does what Microsoft's front door does:
bearer-token check, throttling and injected faults, `MS-RequestId` idempotency for writes
(a repeated write returns the first answer and performs nothing twice), id echo headers, and
persisting the state after a change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import commerce, compliance, customers
from sandbox.admin import LOOPBACK_NAMES, admin_routes
from sandbox.core import Sandbox, SandboxSettings, camelize
from sandbox.customers import HalfWayFailure
from sandbox.errors import PartnerCenterRefusal
from sandbox.faults import Fault
from sandbox.state import StoredAnswer, TokenRecord

log = logging.getLogger("sandbox")

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# Answers that are not final: the same request may succeed later, so they are never replayed.
TRANSIENT_STATUSES = frozenset({408, 409, 429})


@dataclass
class Call:
    """One Partner Center request, as a handler sees it."""

    request: Request
    path: dict[str, str]
    body: Any
    app_user: bool

    def query(self, name: str) -> str | None:
        """A query parameter, its name in any casing (`mpnId`, `mpnid`, `MpnId`)."""
        found = self.request.query_params.get(name)
        if found is not None:
            return found
        wanted = name.lower()
        return next((v for k, v in self.request.query_params.items() if k.lower() == wanted), None)


Result = Any  # a JSON body (200/201 by the route), or a Response for empty/odd answers
Handler = Callable[[Sandbox, Call], Result]


def collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "totalCount": len(items),
        "items": items,
        "links": {},
        "attributes": {"objectType": "Collection"},
    }


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def partner_center_route(
    sb: Sandbox, method: str, template: str, handler: Handler, *, status: int = 200
) -> Route:
    is_write = method in WRITE_METHODS
    call_name = f"{method} {template}"

    async def endpoint(request: Request) -> Response:
        request_id = request.headers.get("ms-requestid") or str(uuid.uuid4())
        echo = {
            "MS-RequestId": request_id,
            "MS-CorrelationId": request.headers.get("ms-correlationid") or str(uuid.uuid4()),
        }
        state = sb.state
        state.calls[call_name] = state.calls.get(call_name, 0) + 1
        mode = _token_mode(sb, request)
        if mode is None:
            return _json(
                401,
                {
                    "code": 401,
                    "description": "Unauthorized: invalid or expired bearer token.",
                    "source": "PartnerFD",
                },
                echo,
            )
        await sb.holds.pass_door(call_name)
        delay = sb.faults.latency_seconds()
        if delay:
            await asyncio.sleep(delay)
        sb.advance()
        wait = sb.faults.rate_limited(sb.now())
        fault = sb.faults.before_handling()
        if wait is not None:
            fault = Fault.THROTTLED
        if fault is not None:
            _count_fault(sb, fault.value)
        if fault is Fault.THROTTLED:
            seconds = wait if wait is not None else sb.faults.settings.retry_after_seconds
            return _json(
                429,
                {
                    "statusCode": 429,
                    "message": f"Rate limit is exceeded. Try again in {seconds} seconds.",
                },
                {**echo, "Retry-After": str(seconds)},
            )
        if fault is Fault.SERVER_ERROR:
            return _json(
                503,
                {
                    "code": 3000,
                    "description": "The service is temporarily unavailable.",
                    "source": "PartnerFD",
                },
                echo,
            )
        if fault is Fault.NONSENSE:
            return _nonsense(sb, echo)

        answer_key = f"{method} {request.url.path} {request_id}"
        if is_write and answer_key in state.answers:
            stored = state.answers[answer_key]
            return Response(
                stored.body,
                status_code=stored.status,
                headers={**stored.headers, **echo},
                media_type="application/json",
            )

        body: Any = None
        if is_write:
            raw = await request.body()
            if raw:
                try:
                    body = camelize(json.loads(raw))
                except ValueError:
                    return _json(
                        400,
                        PartnerCenterRefusal(
                            400, 2000, "The request body is not valid JSON."
                        ).body(),
                        echo,
                    )
        call = Call(request, dict(request.path_params), body, app_user=mode == "app+user")
        try:
            scripted = sb.scripted_refusals.take(call_name)
            if scripted is not None:
                raise scripted
            result = handler(sb, call)
            response = result if isinstance(result, Response) else _json(status, result)
        except PartnerCenterRefusal as refusal:
            response = _json(refusal.status, refusal.body())
        except HalfWayFailure:
            sb.persist()
            return _json(
                500,
                {
                    "code": 3001,
                    "description": "An internal error occurred while creating the customer.",
                    "source": "PartnerFD",
                },
                echo,
            )
        except Exception:
            log.exception("sandbox handler failed: %s", call_name)
            return _json(
                500,
                {"code": 3000, "description": "An internal error occurred.", "source": "PartnerFD"},
                echo,
            )
        if is_write:
            sb.changed()
            if response.status_code < 500 and response.status_code not in TRANSIENT_STATUSES:
                state.answers[answer_key] = StoredAnswer(
                    status=response.status_code,
                    body=bytes(response.body),
                    headers={"Location": response.headers["location"]}
                    if "location" in response.headers
                    else {},
                )
        sb.persist()
        if is_write and response.status_code < 400 and sb.faults.lose_answer():
            # Carried out and recorded, but the caller never hears about it.
            _count_fault(sb, "lost_answer")
            return Response(b"", status_code=504, headers=echo)
        response.headers.update(echo)
        return response

    return Route(template, endpoint, methods=[method])


FAULT_PREFIX = "FAULT "


def _count_fault(sb: Sandbox, kind: str) -> None:
    """Injected faults are counted beside the calls (`FAULT throttled`, ...)."""
    key = FAULT_PREFIX + kind
    sb.state.calls[key] = sb.state.calls.get(key, 0) + 1


def _nonsense(sb: Sandbox, headers: dict[str, str]) -> Response:
    kind = sb.faults.pick(3)
    if kind == 0:
        return Response(
            b"<html><body><h1>Service Unavailable</h1></body></html>",
            status_code=502,
            media_type="text/html",
            headers=headers,
        )
    if kind == 1:
        return Response(b"", status_code=200, headers=headers)
    return Response(
        b'{"unexpected": ["shape"]}',
        status_code=200,
        media_type="application/json",
        headers=headers,
    )


def _token_mode(sb: Sandbox, request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    token = sb.state.tokens.get(header[7:].strip())
    if token is None or token.expires_at <= sb.now():
        return None
    return token.mode


# ------------------------------------------------------------ Entra ID token endpoint


def token_endpoint(sb: Sandbox) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        s = sb.settings
        if form.get("client_id") != s.client_id or form.get("client_secret") != s.client_secret:
            return _json(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
        grant = form.get("grant_type")
        if grant == "client_credentials":
            mode = "app"
        elif grant == "refresh_token":
            if form.get("refresh_token") != s.refresh_token:
                return _json(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "AADSTS70000: The provided refresh token is invalid.",
                    },
                )
            mode = "app+user"
        else:
            return _json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"AADSTS70003: The grant type {grant} is not supported.",
                },
            )
        token = secrets.token_urlsafe(32)
        now = sb.now()
        sb.state.tokens = {k: v for k, v in sb.state.tokens.items() if v.expires_at > now}
        sb.state.tokens[token] = TokenRecord(mode=mode, expires_at=now + s.token_lifetime_seconds)
        sb.changed()
        sb.persist()
        body = {
            "token_type": "Bearer",
            "expires_in": str(s.token_lifetime_seconds),
            "ext_expires_in": str(s.token_lifetime_seconds),
            "expires_on": str(int(now + s.token_lifetime_seconds)),
            "not_before": str(int(now)),
            "resource": form.get("resource", "https://api.partnercenter.microsoft.com"),
            "access_token": token,
        }
        if mode == "app+user":
            body["refresh_token"] = s.refresh_token
            body["scope"] = "user_impersonation"
        return _json(200, body)

    return endpoint


# ------------------------------------------------------------ Partner Center routes


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
    return collection([commerce.subscription_json(s) for s in subs])


def _subscription(sb: Sandbox, call: Call) -> Any:
    return commerce.subscription_json(
        commerce.get_subscription(sb, call.path["customer_id"], call.path["subscription_id"])
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


def create_app(
    settings: SandboxSettings | None = None,
    sandbox: Sandbox | None = None,
    *,
    admin_hosts: Iterable[str] = LOOPBACK_NAMES,
) -> Starlette:
    """`admin_hosts`: the Host names the admin paths answer (`sandbox.admin.admin_host_names`
    of the address served); the Partner Center paths answer any (they need a bearer token)."""
    sb = sandbox or Sandbox(settings)
    app = Starlette(
        routes=[
            *admin_routes(sb, admin_hosts),
            Route("/{tenant}/oauth2/token", token_endpoint(sb), methods=["POST"]),
            *partner_center_routes(sb),
        ]
    )
    app.state.sandbox = sb
    return app
