"""The engine's Partner Center client: every call the engine makes to Microsoft goes through here.

Each write takes the caller's `request_id` (a step's key, e.g. `<order>:purchase:cart`), sent as
`MS-RequestId`: a step that is retried (after a timeout, a lost answer, a crash) sends the same
value, and Partner Center does not carry the operation out twice. Microsoft documents the header
as a GUID, so a key that is not one is sent as its name-based UUID (v5): the same key, the same
GUID, every time. Every call gets a fresh `MS-CorrelationId` for tracing.

An answer is read streamed and refused past `max_response_bytes` (8 MiB; Partner Center's
largest, a page of 500 customers, is well under 1 MiB): a non-retryable error, since the same
request would get the same answer.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx
import structlog
from opentelemetry import trace
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from clients.partner_center.auth import (
    AuthMode,
    EntraCredentials,
    ResponseTooLarge,
    TokenProvider,
    bounded_send,
    describe_size,
)
from clients.partner_center.errors import PartnerCenterError, error_from_response
from clients.partner_center.models import (
    Address,
    AddressValidationResult,
    Agreement,
    AgreementMetadata,
    AgreementStatus,
    Availability,
    Cart,
    CheckoutResult,
    Customer,
    LineItemProvisioningStatus,
    NewCustomer,
    Order,
    Product,
    Qualification,
    QualificationRequest,
    RelationshipRequest,
    Sku,
    Subscription,
)

log = structlog.get_logger("partner_center")
tracer = trace.get_tracer("csp_orders.partner_center")

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

MAX_RESPONSE_BYTES = 8 * 2**20


class PartnerCenterConfig(BaseModel):
    """Everything needed to talk to one Partner Center (Microsoft's, or the sandbox)."""

    base_url: str = "https://api.partnercenter.microsoft.com"
    authority: str = "https://login.microsoftonline.com"
    tenant: str
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr | None = None
    timeout_seconds: float = 30.0
    retries: int = 0
    max_backoff_seconds: float = 30.0
    max_response_bytes: int = MAX_RESPONSE_BYTES

    def credentials(self) -> EntraCredentials:
        return EntraCredentials(
            authority=self.authority,
            tenant=self.tenant,
            client_id=self.client_id,
            client_secret=self.client_secret,
            refresh_token=self.refresh_token,
        )


def new_request_id() -> str:
    return str(uuid.uuid4())


# Fixed for good: changing it would change every step's GUID (and so Partner Center's idempotency).
REQUEST_ID_NAMESPACE = uuid.UUID("5f0c2a1e-6c1b-4f3e-9a57-2f1d6d6b0c11")


def ms_request_id(key: str) -> str:
    """The GUID sent as `MS-RequestId` for a request key: the key itself when it is a GUID in
    canonical form, else the key's name-based UUID (two different keys never share a GUID)."""
    try:
        if str(uuid.UUID(key)) == key:
            return key
    except ValueError:
        pass
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, key))


class PartnerCenterClient:
    """Async Partner Center REST client.

    `retries` is how many times a retryable failure (429, 408, 5xx, timeouts, conflicts that clear)
    is sent again, with the same `MS-RequestId`, before the error is raised. Inside Temporal
    activities leave it at 0 and let the activity retry policy do the waiting.
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        http: httpx.AsyncClient,
        *,
        retries: int = 0,
        max_backoff_seconds: float = 30.0,
        owns_http: bool = False,
        on_answer: Callable[[str, int, float], None] | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        before_request: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        # (method, HTTP status or 0, seconds waited) for every request sent: metrics
        self.on_answer = on_answer
        # Awaited before every request is sent (a rate limit shared by several processes).
        self.before_request = before_request
        self._tokens = tokens
        self._http = http
        self._retries = retries
        self._max_backoff = max_backoff_seconds
        self._owns_http = owns_http
        self._max_response_bytes = max_response_bytes

    @classmethod
    def from_config(cls, config: PartnerCenterConfig) -> PartnerCenterClient:
        http = httpx.AsyncClient(timeout=config.timeout_seconds)
        return cls(
            config.base_url,
            TokenProvider(config.credentials(), http),
            http,
            retries=config.retries,
            max_backoff_seconds=config.max_backoff_seconds,
            owns_http=True,
            max_response_bytes=config.max_response_bytes,
        )

    @property
    def tokens(self) -> TokenProvider:
        return self._tokens

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> PartnerCenterClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------ customers

    async def is_domain_available(self, domain: str) -> bool:
        """`HEAD /v1/domains/{domain}`: 404 means free, 200 means taken."""
        response = await self._send("HEAD", f"/v1/domains/{domain}", ok=(200, 404))
        return response.status_code == 404

    async def validate_address(self, address: Address) -> AddressValidationResult:
        body = address.model_dump(
            mode="json",
            by_alias=True,
            exclude_none=True,
            include={"address_line1", "address_line2", "city", "state", "postal_code", "country"},
        )
        return await self._call(
            "POST", "/v1/validations/address", AddressValidationResult, json_body=body
        )

    async def create_customer(self, customer: NewCustomer, *, request_id: str) -> Customer:
        """Create a customer (a new tenant). For an indirect reseller's customer set
        `associated_partner_id`; that needs an app+user token."""
        mode = AuthMode.APP_USER if customer.associated_partner_id else self._default_mode()
        return await self._call(
            "POST",
            "/v1/customers",
            Customer,
            json_body=customer.to_wire(),
            request_id=request_id,
            mode=mode,
        )

    async def get_customer(self, customer_id: str) -> Customer:
        return await self._call("GET", f"/v1/customers/{customer_id}", Customer)

    async def search_customers(
        self, field: str, value: str, *, operator: str = "starts_with", size: int = 100
    ) -> list[Customer]:
        """Search the partner's customers by `CompanyName`, `Domain` or `IndirectReseller`."""
        flt = json.dumps({"Field": field, "Value": value, "Operator": operator})
        return await self._collection(
            "/v1/customers", Customer, params={"size": str(size), "filter": flt}
        )

    async def list_customers(self, *, size: int = 500) -> list[Customer]:
        return await self._collection("/v1/customers", Customer, params={"size": str(size)})

    async def get_relationship_request(self) -> RelationshipRequest:
        """The reseller-relationship invitation link a customer's global admin accepts."""
        return await self._call(
            "GET", "/v1/customers/relationshiprequests", RelationshipRequest, mode=AuthMode.APP_USER
        )

    async def get_reseller_agreement_status(self, mpn_id: str) -> AgreementStatus:
        """Whether an indirect reseller has signed the Microsoft Partner Agreement."""
        return await self._call(
            "GET",
            "/v1/compliance/csp/agreementstatus",
            AgreementStatus,
            params={"mpnId": mpn_id},
            mode=AuthMode.APP_USER,
        )

    # ------------------------------------------------------------ qualifications

    async def get_qualifications(self, customer_id: str) -> list[Qualification]:
        data = await self._json("GET", f"/v1/customers/{customer_id}/qualifications")
        items = data.get("items", []) if isinstance(data, dict) else data
        return _parse(TypeAdapter(list[Qualification]), items)

    async def request_qualification(
        self, customer_id: str, request: QualificationRequest, *, request_id: str
    ) -> Qualification:
        return await self._call(
            "POST",
            f"/v1/customers/{customer_id}/qualifications",
            Qualification,
            json_body=request.to_wire(),
            request_id=request_id,
            mode=AuthMode.APP_USER,
        )

    # ------------------------------------------------------------ customer agreement

    async def get_agreement_metadata(
        self, agreement_type: str = "MicrosoftCustomerAgreement"
    ) -> list[AgreementMetadata]:
        return await self._collection(
            "/v1/agreements",
            AgreementMetadata,
            params={"agreementType": agreement_type},
            mode=AuthMode.APP_USER,  # documented as app+user only
        )

    async def confirm_agreement(
        self, customer_id: str, agreement: Agreement, *, request_id: str
    ) -> Agreement:
        return await self._call(
            "POST",
            f"/v1/customers/{customer_id}/agreements",
            Agreement,
            json_body=agreement.to_wire(),
            request_id=request_id,
            mode=AuthMode.APP_USER,
        )

    async def list_agreements(
        self, customer_id: str, agreement_type: str = "MicrosoftCustomerAgreement"
    ) -> list[Agreement]:
        return await self._collection(
            f"/v1/customers/{customer_id}/agreements",
            Agreement,
            params={"agreementType": agreement_type},
            mode=AuthMode.APP_USER,  # documented as app+user only
        )

    # ------------------------------------------------------------ catalog

    async def list_products(
        self,
        country: str,
        *,
        target_view: str = "OnlineServices",
        target_segment: str | None = None,
    ) -> list[Product]:
        params = {"country": country, "targetView": target_view}
        if target_segment:
            params["targetSegment"] = target_segment
        return await self._collection("/v1/products", Product, params=params)

    async def get_product(self, product_id: str, country: str) -> Product:
        return await self._call(
            "GET", f"/v1/products/{product_id}", Product, params={"country": country}
        )

    async def list_skus(self, product_id: str, country: str) -> list[Sku]:
        return await self._collection(
            f"/v1/products/{product_id}/skus", Sku, params={"country": country}
        )

    async def get_sku(self, product_id: str, sku_id: str, country: str) -> Sku:
        return await self._call(
            "GET", f"/v1/products/{product_id}/skus/{sku_id}", Sku, params={"country": country}
        )

    async def list_availabilities(
        self, product_id: str, sku_id: str, country: str, *, target_segment: str | None = None
    ) -> list[Availability]:
        """Without `target_segment` Microsoft lists every segment but non-profit: a non-profit
        availability is only listed when asked for."""
        params = {"country": country}
        if target_segment:
            params["targetSegment"] = target_segment
        return await self._collection(
            f"/v1/products/{product_id}/skus/{sku_id}/availabilities",
            Availability,
            params=params,
        )

    # ------------------------------------------------------------ carts and orders

    async def create_cart(self, customer_id: str, cart: Cart, *, request_id: str) -> Cart:
        return await self._call(
            "POST",
            f"/v1/customers/{customer_id}/carts",
            Cart,
            json_body=cart.to_wire(),
            request_id=request_id,
        )

    async def checkout_cart(
        self, customer_id: str, cart_id: str, *, request_id: str
    ) -> CheckoutResult:
        return await self._call(
            "POST",
            f"/v1/customers/{customer_id}/carts/{cart_id}/checkout",
            CheckoutResult,
            request_id=request_id,
        )

    async def get_order(self, customer_id: str, order_id: str) -> Order:
        return await self._call("GET", f"/v1/customers/{customer_id}/orders/{order_id}", Order)

    async def get_provisioning_status(
        self, customer_id: str, order_id: str
    ) -> list[LineItemProvisioningStatus]:
        return await self._collection(
            f"/v1/customers/{customer_id}/orders/{order_id}/provisioningstatus",
            LineItemProvisioningStatus,
            mode=AuthMode.APP_USER,  # documented as app+user only
        )

    # ------------------------------------------------------------ subscriptions

    async def list_subscriptions(self, customer_id: str) -> list[Subscription]:
        return await self._collection(f"/v1/customers/{customer_id}/subscriptions", Subscription)

    async def get_subscription(self, customer_id: str, subscription_id: str) -> Subscription:
        return await self._call(
            "GET", f"/v1/customers/{customer_id}/subscriptions/{subscription_id}", Subscription
        )

    async def change_quantity(
        self,
        customer_id: str,
        subscription: Subscription,
        quantity: int,
        *,
        request_id: str,
    ) -> Subscription:
        """Set a subscription's licence count (`PATCH` with the whole subscription); when
        Partner Center accepts the change without carrying it out yet (202), the subscription
        is read again to tell where it stands."""
        changed = await self.request_quantity_change(
            customer_id, subscription, quantity, request_id=request_id
        )
        if changed is None:
            return await self.get_subscription(customer_id, subscription.id)
        return changed

    async def request_quantity_change(
        self,
        customer_id: str,
        subscription: Subscription,
        quantity: int,
        *,
        request_id: str,
    ) -> Subscription | None:
        """One `PATCH` with the whole subscription and its new licence count: the subscription
        as changed, or None when Partner Center accepted the change to carry it out later
        (202 Accepted)."""
        body = subscription.model_copy(update={"quantity": quantity}).to_wire()
        path = f"/v1/customers/{customer_id}/subscriptions/{subscription.id}"
        headers = {}
        if subscription.attributes is not None and subscription.attributes.etag:
            headers["If-Match"] = subscription.attributes.etag
        response = await self._send(
            "PATCH", path, json_body=body, request_id=request_id, headers=headers, ok=(200, 202)
        )
        if response.status_code == 202:
            return None
        return _parse(TypeAdapter(Subscription), _decode(response))

    async def cancel_subscription(
        self, customer_id: str, subscription: Subscription, *, request_id: str
    ) -> Subscription:
        """Cancel a new-commerce subscription within its cancellation window: one `PATCH` with
        the whole subscription and status `deleted` (Microsoft refuses it after the window with
        900117, and any change to a deleted one with 2011)."""
        body = subscription.model_copy(update={"status": "deleted"}).to_wire()
        path = f"/v1/customers/{customer_id}/subscriptions/{subscription.id}"
        headers = {}
        if subscription.attributes is not None and subscription.attributes.etag:
            headers["If-Match"] = subscription.attributes.etag
        response = await self._send(
            "PATCH", path, json_body=body, request_id=request_id, headers=headers, ok=(200, 202)
        )
        if response.status_code == 202:
            return await self.get_subscription(customer_id, subscription.id)
        return _parse(TypeAdapter(Subscription), _decode(response))

    # ------------------------------------------------------------ plumbing

    def _answered(self, method: str, status: int, started: float) -> None:
        if self.on_answer is not None:
            try:
                self.on_answer(method, status, time.perf_counter() - started)
            except Exception:  # metrics must never break a call
                log.warning("partner_center.metrics_failed")

    def _default_mode(self) -> AuthMode:
        return AuthMode.APP_USER if self._tokens.supports_app_user else AuthMode.APP_ONLY

    async def _call(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        request_id: str | None = None,
        mode: AuthMode | None = None,
    ) -> M:
        data = await self._json(
            method, path, json_body=json_body, params=params, request_id=request_id, mode=mode
        )
        return _parse(TypeAdapter(model), data)

    async def _collection(
        self,
        path: str,
        model: type[M],
        *,
        params: Mapping[str, str] | None = None,
        mode: AuthMode | None = None,
    ) -> list[M]:
        data = await self._json("GET", path, params=params, mode=mode)
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise _unexpected(200, "a collection without items")
        adapter = TypeAdapter(model)
        return [_parse(adapter, item) for item in data["items"]]

    async def _json(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        request_id: str | None = None,
        mode: AuthMode | None = None,
    ) -> Any:
        response = await self._send(
            method, path, json_body=json_body, params=params, request_id=request_id, mode=mode
        )
        return _decode(response)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        request_id: str | None = None,
        mode: AuthMode | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> httpx.Response:
        """Send one logical request, retrying retryable failures with the same request id."""
        request_key = request_id or new_request_id()
        if mode is None or not self._tokens.supports_app_user:
            # Without a refresh token only app-only tokens exist; an app+user-only operation
            # is then refused by Partner Center itself (403, 900329), which says it best.
            mode = self._default_mode()
        attempt = 0
        while True:
            try:
                return await self._send_once(
                    method, path, json_body, params, request_key, mode, headers or {}, ok
                )
            except PartnerCenterError as error:
                if not error.retryable or attempt >= self._retries:
                    raise
                attempt += 1
                await asyncio.sleep(self._backoff(attempt, error.retry_after))

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._max_backoff)
        return float(min(0.2 * 2 ** (attempt - 1), self._max_backoff))

    async def _send_once(
        self,
        method: str,
        path: str,
        json_body: Any,
        params: Mapping[str, str] | None,
        request_key: str,
        mode: AuthMode,
        extra_headers: Mapping[str, str],
        ok: tuple[int, ...],
    ) -> httpx.Response:
        request_id = ms_request_id(request_key)  # what Microsoft sees, logs and quotes
        for auth_attempt in range(2):
            if self.before_request is not None:
                await self.before_request()
            correlation_id = str(uuid.uuid4())
            headers = {
                "Authorization": f"Bearer {await self._tokens.token(mode)}",
                "MS-RequestId": request_id,
                "MS-CorrelationId": correlation_id,
                "MS-Contract-Version": "v1",
                "Accept": "application/json",
                **extra_headers,
            }
            started = time.perf_counter()
            try:
                with tracer.start_as_current_span(
                    f"PartnerCenter {method}",
                    kind=trace.SpanKind.CLIENT,
                    attributes={
                        "http.request.method": method,
                        "url.path": path,
                        "partner_center.correlation_id": correlation_id,
                        "partner_center.request_id": request_id,
                        "partner_center.request_key": request_key,
                    },
                ) as span:
                    request = self._http.build_request(
                        method,
                        self._base_url + path,
                        json=json_body,
                        params=params,
                        headers=headers,
                    )
                    response = await bounded_send(self._http, request, self._max_response_bytes)
                    span.set_attribute("http.response.status_code", response.status_code)
            except ResponseTooLarge as too_large:
                self._answered(method, too_large.status, started)
                log.warning(
                    "partner_center.call",
                    method=method,
                    path=path,
                    status=too_large.status,
                    outcome="response_too_large",
                    request_id=request_id,
                    request_key=request_key,
                    correlation_id=correlation_id,
                )
                raise PartnerCenterError(
                    too_large.status,
                    None,
                    f"Partner Center sent an answer over {describe_size(too_large.limit)}, the "
                    "most this client reads; it was not read further (the same request would "
                    "get the same answer, so it is not retried)",
                    retryable=False,
                    unreadable=True,
                    request_id=request_id,
                    correlation_id=correlation_id,
                ) from None
            except httpx.HTTPError as exc:
                self._answered(method, 0, started)
                log.warning(
                    "partner_center.call",
                    method=method,
                    path=path,
                    outcome=type(exc).__name__,
                    request_id=request_id,
                    request_key=request_key,
                    correlation_id=correlation_id,
                )
                raise PartnerCenterError(
                    0,
                    None,
                    f"no answer from Partner Center ({type(exc).__name__})",
                    retryable=True,
                    request_id=request_id,
                    correlation_id=correlation_id,
                ) from None
            self._answered(method, response.status_code, started)
            log.info(
                "partner_center.call",
                method=method,
                path=path,
                status=response.status_code,
                request_id=request_id,
                request_key=request_key,
                correlation_id=correlation_id,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
            if response.status_code == 401 and auth_attempt == 0:
                self._tokens.invalidate(mode)  # expired or revoked: fetch a new one once
                continue
            if response.status_code in ok:
                return response
            raise error_from_response(
                response.status_code,
                response.content,
                {k.lower(): v for k, v in response.headers.items()},
                request_id=request_id,
                correlation_id=correlation_id,
            )
        raise AssertionError("unreachable")


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        raise _unexpected(response.status_code, "an answer that is not JSON") from None


def _parse(adapter: TypeAdapter[T], data: Any) -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise _unexpected(200, f"an answer of unexpected shape ({where}: {first['msg']})") from None


def _unexpected(status: int, what: str) -> PartnerCenterError:
    # Nonsense from a healthy status is treated like a transient fault: a proxy or a
    # half-deployed service answered; the same request may get a proper answer next time.
    return PartnerCenterError(status, None, f"Partner Center sent {what}", retryable=True)
