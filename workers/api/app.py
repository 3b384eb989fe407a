"""The storefronts' HTTP API: the storefront SDK (clients/storefront.py) over HTTP, JSON in
snake_case like the order document, errors as problem details (workers/api/problems.py).

Each storefront sees only its own orders: the API acts for the storefront of the presented key
(`Storefront.for_storefront`), whose orders are `order-<storefront>/<order id>`, so an order of
another storefront is simply not found (404, never 403). Bodies are read as they came and
validated by the engine's own parsers (`parse_order`, `validate_input`): the same strict rules
and the same field-and-reason sentences as the SDK and the CLI, never the submitted values.

The access log (one line per request, `csp_orders.api`) names the method, the route's template
(`/v1/orders/{order_id}`), the status, the storefront and the time taken: no path values, no
query, no body.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from http import HTTPStatus
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from clients.contract import (
    CancelAccepted,
    CancelRequest,
    LicenceRequest,
    RelationshipNudge,
    TaxIdAccepted,
    TaxIdSubmission,
)
from clients.storefront import (
    CancelRejected,
    EncryptionNotConfigured,
    EngineBusy,
    EngineUnreachable,
    IdConflict,
    LicenceRequestState,
    LifecycleRefused,
    OrderEnded,
    OrderNotFound,
    OrderPage,
    OrderRejected,
    Storefront,
    StorefrontError,
    TaxIdRejected,
)
from clients.subscription_lifecycle import LifecycleChange, PaymentFailedOutcome
from ordering.document import OrderDocument
from ordering.dry_run import OrderValidation
from ordering.events import StorefrontEvent
from ordering.refusals import RefusalCode
from ordering.status import LineStatus, OrderStatus, Phase
from ordering.validation import FieldProblem, InvalidOrder, problems, problems_of, validate_input
from workers.api.auth import Caller, Storefronts
from workers.api.bodies import LicenceReductionRequest
from workers.api.openapi import openapi_document
from workers.api.page_tokens import PageTokens
from workers.api.problems import ApiErrorCode, problem_response, with_problems
from workers.api.rate_limit import RateLimiter

log = structlog.get_logger("csp_orders.api")
ENGINE_UNREACHABLE_SENTENCE = (
    "The order engine cannot be reached right now; nothing was sent. Try again later."
)
ENGINE_FAILED_SENTENCE = "The order engine could not handle the request right now; try again later."

MAX_BODY_BYTES = 256 * 1024
RETRY_AFTER_SECONDS = 5
ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TENANT_ID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
OrderIdPath = Annotated[
    str, Path(pattern=ORDER_ID_PATTERN, description="The storefront's order id.")
]
RequestIdPath = Annotated[
    str, Path(pattern=ORDER_ID_PATTERN, description="The storefront's licence request id.")
]
MAX_LINE = 49  # an order has at most 50 lines (ordering/document.py)
LinePath = Annotated[
    int,
    Path(ge=0, le=MAX_LINE, description="The order's line, 0-based (`lines[n]` of the order)."),
]


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="The storefront's id for this change: asked again with the same key (a "
        "retry after a timeout), the same change is answered once more, never made twice.",
    ),
]


class ApiProblem(Exception):
    """Leaves the route as this problem response."""

    def __init__(self, response: Response) -> None:
        self.response = response


class Health(BaseModel):
    status: str


class RelationshipNudgeTaken(BaseModel):
    """The nudge is kept: the order checks Partner Center for the relationship."""

    accepted: bool = True


class Engine:
    """The connection to Temporal, made when first needed (and again after a failure), so the
    API starts, and answers 503, while Temporal is down."""

    def __init__(self, connect: Callable[[], Awaitable[Storefront]]) -> None:
        self._connect = connect
        self._shop: Storefront | None = None
        self._lock = asyncio.Lock()

    async def shop(self) -> Storefront:
        if self._shop is None:
            async with self._lock:
                if self._shop is None:
                    try:
                        self._shop = await self._connect()
                    except EngineUnreachable as error:  # why, for the operator (no secret)
                        log.warning("temporal unreachable", reason=str(error))
                        raise
                    except EncryptionNotConfigured as error:  # the variables to set
                        log.error("payload keys missing", reason=str(error))
                        raise
        return self._shop

    async def ready(self) -> bool:
        try:
            shop = await self.shop()
            await shop.client.service_client.check_health(timeout=timedelta(seconds=3))
        except Exception:  # unreachable, or an answer that is not "serving"
            return False
        return True


def _problem_from(error: StorefrontError, *, what: str = "order") -> Response:
    """A storefront error in HTTP's terms."""
    if isinstance(error, OrderNotFound):
        code = (
            ApiErrorCode.ORDER_NOT_FOUND
            if what == "order"
            else ApiErrorCode.LICENCE_REQUEST_NOT_FOUND
        )
        return problem_response(404, code, str(error))
    if isinstance(error, OrderRejected):
        return problem_response(422, error.refusal.code.value, str(error))
    if isinstance(error, IdConflict):
        return problem_response(409, error.refusal.code.value, str(error))
    if isinstance(error, OrderEnded):
        return problem_response(409, ApiErrorCode.ORDER_ENDED, str(error))
    if isinstance(error, TaxIdRejected):
        return problem_response(
            422,
            ApiErrorCode.TAX_ID_REJECTED,
            str(error),
            errors=[FieldProblem(field="tax_id", reason=str(error))],
        )
    if isinstance(error, CancelRejected):
        return problem_response(409, ApiErrorCode.CANCEL_REJECTED, str(error))
    if isinstance(error, LifecycleRefused):
        # (an invalid request is the caller's input; any other refusal is the order's or its
        # subscriptions' state: a window closed, licences of other orders, not finished...)
        refusal = error.refusal
        status = 422 if refusal.code is RefusalCode.INVALID_REQUEST else 409
        return problem_response(status, refusal.code.value, str(error), refusal=refusal)
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(error, EngineBusy):
        phase = error.last_known_phase.value if error.last_known_phase else None
        return problem_response(
            503, ApiErrorCode.ENGINE_BUSY, str(error), headers=retry, last_known_phase=phase
        )
    if isinstance(error, EngineUnreachable | EncryptionNotConfigured):
        # (why is for the operator, logged by `Engine.shop`: the setting to look at)
        return problem_response(
            503, ApiErrorCode.ENGINE_UNREACHABLE, ENGINE_UNREACHABLE_SENTENCE, headers=retry
        )
    # (any other failure: its sentence is not known to be the customer's, so never shown)
    log.warning("engine request failed", error_type=type(error).__name__)
    return problem_response(503, ApiErrorCode.ENGINE_BUSY, ENGINE_FAILED_SENTENCE, headers=retry)


def _invalid(invalid: InvalidOrder, what: str) -> Response:
    return problem_response(
        422,
        ApiErrorCode.INVALID_INPUT,
        f"The {what} is not valid: " + "; ".join(str(p) for p in invalid.problems[:5]),
        errors=invalid.problems,
    )


async def _json_body(request: Request, *, optional: bool = False) -> Any:
    """The request's JSON body as sent (an empty body is `{}` where `optional`)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = request.headers.get("content-length", "")
    declared = declared if declared.isascii() else ""
    body = b""
    if not (declared.isdigit() and int(declared) > MAX_BODY_BYTES):
        async for chunk in request.stream():  # never more than the limit held in memory
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                break
    if (declared.isdigit() and int(declared) > MAX_BODY_BYTES) or len(body) > MAX_BODY_BYTES:
        raise ApiProblem(
            problem_response(
                413,
                ApiErrorCode.PAYLOAD_TOO_LARGE,
                f"The body has more than {MAX_BODY_BYTES} bytes.",
            )
        )
    if not body.strip() and optional:
        return {}
    if media and media != "application/json" and not media.endswith("+json"):
        raise ApiProblem(
            problem_response(
                415,
                ApiErrorCode.UNSUPPORTED_MEDIA_TYPE,
                "The body must be JSON (application/json).",
            )
        )
    return body


def _validated(model: type[Any], body: Any, what: str) -> Any:
    try:
        if isinstance(body, bytes):
            try:
                return model.model_validate_json(body)
            except ValidationError as exc:
                raise InvalidOrder(problems(exc, whole="body")) from None
        return validate_input(model, body)  # (an empty optional body: `{}`)
    except InvalidOrder as invalid:
        raise ApiProblem(_invalid(invalid, what)) from None


def create_api_app(
    engine: Engine,
    storefronts: Storefronts,
    *,
    limiter: RateLimiter | None = None,
    page_tokens: PageTokens | None = None,
) -> FastAPI:
    limiter = limiter or RateLimiter()
    tokens = page_tokens or PageTokens.for_key_ring(None)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with contextlib.suppress(StorefrontError):
            await engine.shop()  # connect early when Temporal is there; later otherwise
        yield

    app = FastAPI(
        title="csp-orders storefront API",
        version="1",
        description="Orders for Microsoft CSP licences, for storefronts in any language. "
        "Authenticate with `Authorization: Bearer <API key>`. Errors are RFC 9457 problem "
        "details with a stable `code`. Webhooks: docs/WEBHOOKS.md.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    bearer = HTTPBearer(auto_error=False, description="The storefront's API key.")

    # ------------------------------------------------------------------ plumbing

    @app.middleware("http")
    async def access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as error:  # a bug: one line in the log, a problem document out
            log.error("request failed", error_type=type(error).__name__)
            response = problem_response(
                500,
                ApiErrorCode.INTERNAL_ERROR,
                "The API could not handle the request; try again later.",
            )
        route = request.scope.get("route")
        log.info(
            "request",
            method=request.method,
            route=getattr(route, "path", "(no route)"),
            status=response.status_code,
            storefront=getattr(request.state, "storefront", None),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, error: ApiProblem) -> Response:
        return error.response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        # (the location's first part says where: "query", "path", "body")
        errors = [{**e, "loc": tuple(e.get("loc", ()))[1:]} for e in error.errors()]
        return _invalid(InvalidOrder(problems_of(errors, whole="request")), "request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        # (the framework's own refusals, by their status; never the framework's text; its
        # headers kept: a 405's Allow)
        try:
            status = HTTPStatus(error.status_code)
        except ValueError:  # (a status Python does not name)
            code, detail = "HTTP_ERROR", "The request was refused."
        else:
            code, detail = FRAMEWORK_PROBLEMS.get(
                status, (status.name, f"The request was refused: {status.phrase.lower()}.")
            )
        headers = dict(error.headers) if error.headers else None
        return problem_response(error.status_code, code, detail, headers=headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> Response:
        log.error("request failed", error_type=type(error).__name__)
        return problem_response(
            500,
            ApiErrorCode.INTERNAL_ERROR,
            "The API could not handle the request; try again later.",
        )

    async def caller(request: Request, _: Annotated[Any, Depends(bearer)] = None) -> Caller:
        found = storefronts.caller(request.headers.get("authorization"))
        if found is None:
            raise ApiProblem(
                problem_response(
                    401,
                    ApiErrorCode.UNAUTHORIZED,
                    "A valid API key is required: Authorization: Bearer <key>.",
                    headers={"WWW-Authenticate": 'Bearer realm="csp-orders"'},
                )
            )
        request.state.storefront = found.storefront
        wait = limiter.take(f"{found.storefront}/{found.key_id}", found.rate_limit_per_minute)
        if wait is not None:
            raise ApiProblem(
                problem_response(
                    429,
                    ApiErrorCode.RATE_LIMITED,
                    f"Too many requests with this API key; try again in {wait} seconds.",
                    headers={"Retry-After": str(wait)},
                )
            )
        return found

    async def shop_for(who: Annotated[Caller, Depends(caller)]) -> Storefront:
        try:
            shop = await engine.shop()
        except StorefrontError as error:
            raise ApiProblem(_problem_from(error)) from None
        return shop.for_storefront(who.storefront)

    Shop = Annotated[Storefront, Depends(shop_for)]

    async def answer(work: Awaitable[Any], what: str = "order") -> Any:
        try:
            return await work
        except StorefrontError as error:
            raise ApiProblem(_problem_from(error, what=what)) from None

    # ------------------------------------------------------------------ orders

    @app.post(
        "/v1/orders",
        status_code=201,
        response_model=OrderStatus,
        summary="Place an order",
        description="The order document (docs/order.schema.json). 201: placed, with its status "
        "and `Location`. The same order id with the same content again: 200 with the order as "
        "it stands. With other content: 409 ORDER_ID_CONFLICT.",
        responses={
            200: {"description": "Placed before with the same content.", "model": OrderStatus},
            **with_problems(409, 413, 415, 422),
        },
        openapi_extra={"requestBody": _body("OrderDocument")},
        tags=["orders"],
    )
    async def place_order(request: Request, shop: Shop) -> Response:
        order = _validated(OrderDocument, await _json_body(request), "order")
        known = await answer(shop.knows_order(order.order_id))
        await answer(shop.place_order(order))
        location = {"Location": f"/v1/orders/{order.order_id}"}
        if known:
            status = await answer(shop.status(order.order_id))
            return JSONResponse(status.model_dump(mode="json"), status_code=200, headers=location)
        placed = OrderStatus(
            order_id=order.order_id,
            phase=Phase.RECEIVED,
            lines=[
                LineStatus(line=n, offer=line.offer, quantity=line.quantity)
                for n, line in enumerate(order.lines)
            ],
        )
        return JSONResponse(placed.model_dump(mode="json"), status_code=201, headers=location)

    @app.post(
        "/v1/orders/validate",
        response_model=OrderValidation,
        summary="Dry run: every check the order would run, nothing written",
        description="Runs the order's checks against Partner Center's current state with reads "
        "only: reseller agreement, domain, billing address, tax ID, segment eligibility, the "
        "customer agreement, and the plan per line (creates a subscription, or adds licences "
        "to one, before -> after), or the refusal. Nothing is placed.",
        responses=with_problems(413, 415, 422),
        openapi_extra={"requestBody": _body("OrderDocument")},
        tags=["orders"],
    )
    async def validate_order(request: Request, shop: Shop) -> OrderValidation:
        order = _validated(OrderDocument, await _json_body(request), "order")
        result: OrderValidation = await answer(shop.validate_order(order))
        return result

    @app.get(
        "/v1/orders",
        response_model=OrderPage,
        summary="List this storefront's orders",
        description="Newest first, from Temporal's search attributes (a moment behind the "
        "orders themselves); by phase and customer id; `page_token` from the previous page.",
        responses=with_problems(422),
        tags=["orders"],
    )
    async def list_orders(
        shop: Shop,
        phase: Annotated[Phase | None, Query(description="Only orders in this phase.")] = None,
        customer_id: Annotated[
            str | None, Query(pattern=TENANT_ID_PATTERN, description="Microsoft's customer id.")
        ] = None,
        page_size: Annotated[int, Query(ge=1, le=100)] = 50,
        page_token: Annotated[
            str | None,
            Query(max_length=4096, description="The previous page's `next_page_token`."),
        ] = None,
    ) -> OrderPage:
        customer = customer_id.lower() if customer_id else None
        query = f"{shop.storefront}|{phase.value if phase else ''}|{customer or ''}"
        temporal_token = tokens.open(query, page_token) if page_token else None
        if page_token and temporal_token is None:
            not_ours = FieldProblem(
                field="page_token",
                reason="is not a token this API gave out for this list (the same phase and "
                "customer): start again from the first page",
            )
            raise ApiProblem(_invalid(InvalidOrder([not_ours]), "request"))
        page: OrderPage = await answer(
            shop.list_orders(
                phase=phase, customer_id=customer, page_size=page_size, page_token=temporal_token
            )
        )
        if page.next_page_token:
            page = page.model_copy(
                update={"next_page_token": tokens.seal(query, page.next_page_token)}
            )
        return page

    @app.get(
        "/v1/orders/{order_id}",
        response_model=OrderStatus,
        summary="An order's status",
        description="What the order is doing or waiting for, or how it ended.",
        responses=with_problems(404, 422),
        tags=["orders"],
    )
    async def order_status(order_id: OrderIdPath, shop: Shop) -> OrderStatus:
        status: OrderStatus = await answer(shop.status(order_id))
        return status

    @app.post(
        "/v1/orders/{order_id}/tax-id",
        response_model=TaxIdAccepted,
        summary="Supply the customer's tax ID",
        description="An invalid tax ID is refused (422, the reason); the order keeps waiting.",
        responses=with_problems(404, 409, 413, 415, 422),
        openapi_extra={"requestBody": _body("TaxIdSubmission")},
        tags=["orders"],
    )
    async def provide_tax_id(order_id: OrderIdPath, request: Request, shop: Shop) -> TaxIdAccepted:
        submission = _validated(TaxIdSubmission, await _json_body(request), "tax ID")
        await answer(shop.provide_tax_id(order_id, submission.tax_id))
        return TaxIdAccepted()

    @app.post(
        "/v1/orders/{order_id}/cancel",
        response_model=CancelAccepted,
        summary="Cancel an order before its purchase starts",
        responses=with_problems(404, 409, 413, 415, 422),
        openapi_extra={"requestBody": _body("CancelRequest", required=False)},
        tags=["orders"],
    )
    async def cancel(order_id: OrderIdPath, request: Request, shop: Shop) -> CancelAccepted:
        cancel_request = _validated(
            CancelRequest, await _json_body(request, optional=True), "cancellation"
        )
        await answer(shop.cancel(order_id, cancel_request.reason))
        return CancelAccepted()

    @app.post(
        "/v1/orders/{order_id}/relationship-accepted",
        status_code=202,
        response_model=RelationshipNudgeTaken,
        summary="The customer accepted the reseller invitation: check now",
        description="A nudge: the order checks Partner Center now (at most once a minute); kept "
        "even while no worker runs.",
        responses=with_problems(404, 409, 422),
        tags=["orders"],
    )
    async def relationship_accepted(order_id: OrderIdPath, shop: Shop) -> RelationshipNudgeTaken:
        await answer(shop.relationship_accepted(order_id))
        return RelationshipNudgeTaken()

    # ------------------------------------------------------------------ after the purchase

    @app.post(
        "/v1/orders/{order_id}/lines/{line}/cancel-subscription",
        response_model=LifecycleChange,
        summary="Cancel the subscription an order's line created, within its refund window",
        description="The subscription that line `line` of a completed order created is "
        "cancelled at Partner Center (its status becomes `deleted`) while its refund window is "
        "open (`refund_window_closes_at` on the order's line). 409 with the refusal's code "
        "otherwise, nothing changed: REFUND_WINDOW_CLOSED, OTHER_ORDERS_LICENCES (other orders "
        "added licences to it), NOT_CANCELLABLE (the line added licences: reduce instead), "
        "SUBSCRIPTION_NOT_ACTIVE, ORDER_NOT_FINISHED, NOTHING_TO_UNDO, SUBSCRIPTION_DRIFTED.",
        responses=with_problems(404, 409, 422, s409=LIFECYCLE_409),
        tags=["after the purchase"],
    )
    async def cancel_subscription(
        order_id: OrderIdPath, line: LinePath, shop: Shop, key: IdempotencyKey = None
    ) -> LifecycleChange:
        change: LifecycleChange = await answer(
            shop.cancel_subscription(order_id, line, request_id=key)
        )
        return change

    @app.post(
        "/v1/orders/{order_id}/lines/{line}/reduce",
        response_model=LifecycleChange,
        summary="Take back licences an order's line added, within its refund window",
        description="`quantity` of the licences line `line` of a completed order bought are "
        "taken back at Partner Center while its refund window is open: never more than the "
        "line bought, so the customer's other licences stay. 409 with the refusal's code "
        "otherwise, nothing changed: QUANTITY_REDUCTION_NOT_ALLOWED (more than the line "
        "bought, or already taken back), REFUND_WINDOW_CLOSED, SUBSCRIPTION_NOT_ACTIVE, "
        "ORDER_NOT_FINISHED, NOTHING_TO_UNDO, SUBSCRIPTION_DRIFTED.",
        responses=with_problems(404, 409, 413, 415, 422, s409=LIFECYCLE_409),
        openapi_extra={"requestBody": _body("LicenceReductionRequest")},
        tags=["after the purchase"],
    )
    async def reduce_licences(
        order_id: OrderIdPath,
        line: LinePath,
        request: Request,
        shop: Shop,
        key: IdempotencyKey = None,
    ) -> LifecycleChange:
        reduction = _validated(LicenceReductionRequest, await _json_body(request), "reduction")
        change: LifecycleChange = await answer(
            shop.reduce_licences(order_id, line, reduction.quantity, request_id=key)
        )
        return change

    @app.post(
        "/v1/orders/{order_id}/payment-failed",
        response_model=PaymentFailedOutcome,
        summary="The order's payment failed: undo what it bought",
        description="Every line of a completed order is undone while its refund window is "
        "open: a subscription it created is cancelled, licences it added are taken back (the "
        "customer's other licences stay). 200 with what was undone (`undone`) and, line by "
        "line, what was not (`not_undone`, each with its refusal's code and sentence). 409 "
        "ORDER_NOT_FINISHED or NOTHING_TO_UNDO when there is nothing to undo yet or at all.",
        responses=with_problems(404, 409, 422, s409=LIFECYCLE_409),
        tags=["after the purchase"],
    )
    async def payment_failed(order_id: OrderIdPath, shop: Shop) -> PaymentFailedOutcome:
        outcome: PaymentFailedOutcome = await answer(shop.payment_failed(order_id))
        return outcome

    # ------------------------------------------------------------------ licence requests

    @app.post(
        "/v1/licence-requests",
        status_code=202,
        response_model=LicenceRequestState,
        summary="Add licences to an existing subscription",
        description="Accepted at once (202, `Location`); follow it with GET. The same request "
        "id with the same content again: 200 with where it stands; other content: 409 "
        "REQUEST_ID_CONFLICT.",
        responses={
            200: {"description": "Requested before.", "model": LicenceRequestState},
            **with_problems(409, 413, 415, 422),
        },
        openapi_extra={"requestBody": _body("LicenceRequest")},
        tags=["licence requests"],
    )
    async def request_licences(request: Request, shop: Shop) -> Response:
        licences = _validated(LicenceRequest, await _json_body(request), "licence request")
        known = await answer(shop.knows_licence_request(licences.request_id), "licences")
        await answer(shop.request_licences(licences), "licences")
        state = await answer(shop.licence_request(licences.request_id), "licences")
        return JSONResponse(
            state.model_dump(mode="json"),
            status_code=200 if known else 202,
            headers={"Location": f"/v1/licence-requests/{licences.request_id}"},
        )

    @app.get(
        "/v1/licence-requests/{request_id}",
        response_model=LicenceRequestState,
        summary="Where a licence request stands",
        responses=with_problems(404, 422),
        tags=["licence requests"],
    )
    async def licence_request(request_id: RequestIdPath, shop: Shop) -> LicenceRequestState:
        state: LicenceRequestState = await answer(shop.licence_request(request_id), "licences")
        return state

    # ------------------------------------------------------------------ webhooks (documented)

    @app.webhooks.post(
        "storefront-event",
        summary="An order or licence request moved (sent to the storefront's webhook URL)",
        description="Signed as the Standard Webhooks specification says: `webhook-id` (the "
        "same on every retry: de-duplicate by it), `webhook-timestamp`, `webhook-signature` "
        "(`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the storefront's `whsec_` "
        "secret). Answer 2xx to acknowledge; anything else is retried for up to 3 days. One "
        "order's events come in `sequence` order. docs/WEBHOOKS.md.",
        tags=["webhooks"],
    )
    def storefront_event(event: StorefrontEvent) -> None:
        """(Documentation only: the worker sends these.)"""

    # ------------------------------------------------------------------ health

    @app.get("/healthz", response_model=Health, summary="The API process runs", tags=["health"])
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Health,
        summary="Temporal can be reached",
        responses={503: COMMON_503},
        tags=["health"],
    )
    async def readyz() -> Response:
        if await engine.ready():
            return JSONResponse({"status": "ready"})
        return problem_response(
            503,
            ApiErrorCode.ENGINE_UNREACHABLE,
            "The order engine's Temporal service cannot be reached.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    _ = RelationshipNudge  # (the nudge has no body)
    return app


def _body(model: str, *, required: bool = True) -> dict[str, Any]:
    return {
        "required": required,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
    }


COMMON_503 = with_problems()[503]
# The framework's refusals (no route, a method a route does not take...) by status; any other
# status is named by its phrase.
FRAMEWORK_PROBLEMS: dict[HTTPStatus, tuple[str, str]] = {
    HTTPStatus.NOT_FOUND: (ApiErrorCode.NOT_FOUND, "There is nothing at this address."),
    HTTPStatus.METHOD_NOT_ALLOWED: (
        ApiErrorCode.METHOD_NOT_ALLOWED,
        "This method is not allowed here.",
    ),
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: (ApiErrorCode.PAYLOAD_TOO_LARGE, "The body is too large."),
    HTTPStatus.INTERNAL_SERVER_ERROR: (
        ApiErrorCode.INTERNAL_ERROR,
        "The API could not handle the request; try again later.",
    ),
}
LIFECYCLE_409 = (
    "Refused, nothing changed at Partner Center: the refusal's `code` (REFUND_WINDOW_CLOSED, "
    "QUANTITY_REDUCTION_NOT_ALLOWED, OTHER_ORDERS_LICENCES, ORDER_NOT_FINISHED...) and sentence."
)
