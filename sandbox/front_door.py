"""What Microsoft's front door does to every Partner Center call, as named steps.

`partner_center_route` wraps a handler in them, in this order:

1. arrive: the id echo headers (`MS-RequestId`, `MS-CorrelationId`) and the call count;
2. authenticate: the bearer token (401 without a valid one);
3. hold: wait at the door while the admin holds calls of this name;
4. slow down: injected latency, then the clock lets due provisioning and vetting finish;
5. throttle or fail: the per-minute budget (429) and injected faults (429, 503, nonsense);
6. replay: a repeated write (same `MS-RequestId`) gets the first answer, performing nothing twice;
7. read the body of a write (400 when it is not JSON);
8. answer: a scripted refusal of the call, or else the handler (dispatch);
9. record: a write's final answer is stored for replay, the state persisted after a change;
10. lose the answer: an injected fault, a write carried out whose caller hears nothing (504).

Steps 2 to 7 can answer the call themselves; nothing after them runs then.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.core import Sandbox, camelize
from sandbox.customers import HalfWayFailure
from sandbox.errors import PartnerCenterRefusal
from sandbox.faults import Fault
from sandbox.state import StoredAnswer

log = logging.getLogger("sandbox")

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# Answers that are not final: the same request may succeed later, so they are never replayed.
TRANSIENT_STATUSES = frozenset({408, 409, 429})
# Injected faults are counted beside the calls, under this prefix (`FAULT throttled`, ...).
FAULT_PREFIX = "FAULT "


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


# nginx's status for a request whose client closed the connection first (no one reads it)
CLIENT_CLOSED_REQUEST = 499

Result = Any  # a JSON body (200/201 by the route), or a Response for empty/odd answers
Handler = Callable[[Sandbox, Call], Result]


@dataclass(frozen=True)
class Arrival:
    """A call at the door: its name (`METHOD /path/template`), ids and replay key."""

    name: str
    is_write: bool
    echo: dict[str, str]  # the id headers every answer carries back
    answer_key: str  # where a write's answer is stored for replay


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def partner_center_route(
    sb: Sandbox, method: str, template: str, handler: Handler, *, status: int = 200
) -> Route:
    """The route of one Partner Center call: the front door's steps around `handler`, whose
    JSON result is answered with `status`."""

    async def endpoint(request: Request) -> Response:
        arrival = arrive(sb, request, method, template)
        mode = authenticate(sb, request)
        if mode is None:
            return unauthorized(arrival)
        await hold(sb, arrival)
        await slow_down(sb)
        if (early := throttle_or_fail(sb, arrival)) is not None:
            return early
        if (early := replay(sb, arrival)) is not None:
            return early
        try:
            body = await read_body(request) if arrival.is_write else None
        except PartnerCenterRefusal as refusal:
            return json_response(refusal.status, refusal.body(), arrival.echo)
        except ClientDisconnect:
            # The caller went away before its body arrived (a worker killed while its call was
            # held): nothing was asked, so nothing is done, and nobody hears the answer.
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        call = Call(request, dict(request.path_params), body, app_user=mode == "app+user")
        try:
            response = answer(sb, arrival, handler, call, status)
        except HalfWayFailure:
            sb.persist()
            return half_way_failure(arrival)
        except Exception:
            log.exception("sandbox handler failed: %s", arrival.name)
            return internal_error(arrival)
        record(sb, arrival, response)
        if (lost := lose_answer(sb, arrival, response)) is not None:
            return lost
        response.headers.update(arrival.echo)
        return response

    return Route(template, endpoint, methods=[method])


# ------------------------------------------------------------ the steps, in their order


def arrive(sb: Sandbox, request: Request, method: str, template: str) -> Arrival:
    """The ids the answer echoes (new ones when the caller sent none); the call is counted."""
    call_name = f"{method} {template}"
    request_id = request.headers.get("ms-requestid") or str(uuid.uuid4())
    echo = {
        "MS-RequestId": request_id,
        "MS-CorrelationId": request.headers.get("ms-correlationid") or str(uuid.uuid4()),
    }
    calls = sb.state.calls
    calls[call_name] = calls.get(call_name, 0) + 1
    return Arrival(
        name=call_name,
        is_write=method in WRITE_METHODS,
        echo=echo,
        answer_key=f"{method} {request.url.path} {request_id}",
    )


def authenticate(sb: Sandbox, request: Request) -> str | None:
    """The bearer token's mode (`app`, `app+user`); None without a valid, unexpired token."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    token = sb.state.tokens.get(header[7:].strip())
    if token is None or token.expires_at <= sb.now():
        return None
    return token.mode


def unauthorized(arrival: Arrival) -> Response:
    return json_response(
        401,
        {
            "code": 401,
            "description": "Unauthorized: invalid or expired bearer token.",
            "source": "PartnerFD",
        },
        arrival.echo,
    )


async def hold(sb: Sandbox, arrival: Arrival) -> None:
    """Wait here while the admin holds calls of this name (`PUT /_sandbox/holds`)."""
    await sb.holds.pass_door(arrival.name)


async def slow_down(sb: Sandbox) -> None:
    """Injected latency; then time does its work (provisioning and vetting that are due)."""
    delay = sb.faults.latency_seconds()
    if delay:
        await asyncio.sleep(delay)
    sb.advance()


def throttle_or_fail(sb: Sandbox, arrival: Arrival) -> Response | None:
    """Throttling when the per-minute budget is spent, else an injected fault, if any: its
    answer (counted under `FAULT_PREFIX`). The fault is drawn even when throttled."""
    wait = sb.faults.rate_limited(sb.now())
    fault = sb.faults.before_handling()
    if wait is not None:
        fault = Fault.THROTTLED
    if fault is None:
        return None
    count_fault(sb, fault.value)
    if fault is Fault.THROTTLED:
        seconds = wait if wait is not None else sb.faults.settings.retry_after_seconds
        return json_response(
            429,
            {
                "statusCode": 429,
                "message": f"Rate limit is exceeded. Try again in {seconds} seconds.",
            },
            {**arrival.echo, "Retry-After": str(seconds)},
        )
    if fault is Fault.SERVER_ERROR:
        return json_response(
            503,
            {
                "code": 3000,
                "description": "The service is temporarily unavailable.",
                "source": "PartnerFD",
            },
            arrival.echo,
        )
    return nonsense(sb, arrival.echo)


def replay(sb: Sandbox, arrival: Arrival) -> Response | None:
    """A write already answered under this `MS-RequestId`: the stored answer, again."""
    if not arrival.is_write:
        return None
    stored = sb.state.answers.get(arrival.answer_key)
    if stored is None:
        return None
    return Response(
        stored.body,
        status_code=stored.status,
        headers={**stored.headers, **arrival.echo},
        media_type="application/json",
    )


async def read_body(request: Request) -> Any:
    """A write's JSON body, keys camelized (None when empty); a refusal when it is not JSON."""
    raw = await request.body()
    if not raw:
        return None
    try:
        return camelize(json.loads(raw))
    except ValueError:
        raise PartnerCenterRefusal(400, 2000, "The request body is not valid JSON.") from None


def answer(sb: Sandbox, arrival: Arrival, handler: Handler, call: Call, status: int) -> Response:
    """A refusal scripted for this call, else the handler's answer; a refusal is an answer."""
    try:
        play_scripted_refusal(sb, arrival)
        return dispatch(sb, handler, call, status)
    except PartnerCenterRefusal as refusal:
        return json_response(refusal.status, refusal.body())


def play_scripted_refusal(sb: Sandbox, arrival: Arrival) -> None:
    """Raise the refusal a test scripted for the next call of this name (`PUT
    /_sandbox/refusals`), if any; the handler does not run then."""
    scripted = sb.scripted_refusals.take(arrival.name)
    if scripted is not None:
        raise scripted


def dispatch(sb: Sandbox, handler: Handler, call: Call, status: int) -> Response:
    result = handler(sb, call)
    return result if isinstance(result, Response) else json_response(status, result)


def half_way_failure(arrival: Arrival) -> Response:
    return json_response(
        500,
        {
            "code": 3001,
            "description": "An internal error occurred while creating the customer.",
            "source": "PartnerFD",
        },
        arrival.echo,
    )


def internal_error(arrival: Arrival) -> Response:
    return json_response(
        500,
        {"code": 3000, "description": "An internal error occurred.", "source": "PartnerFD"},
        arrival.echo,
    )


def record(sb: Sandbox, arrival: Arrival, response: Response) -> None:
    """A write changed the state and its final answer is kept for replay; then the state is
    persisted (when changed)."""
    if arrival.is_write:
        sb.changed()
        if response.status_code < 500 and response.status_code not in TRANSIENT_STATUSES:
            sb.state.answers[arrival.answer_key] = StoredAnswer(
                status=response.status_code,
                body=bytes(response.body),
                headers={"Location": response.headers["location"]}
                if "location" in response.headers
                else {},
            )
    sb.persist()


def lose_answer(sb: Sandbox, arrival: Arrival, response: Response) -> Response | None:
    """An injected fault: a successful write, carried out and recorded, whose caller never
    hears about it (504)."""
    if arrival.is_write and response.status_code < 400 and sb.faults.lose_answer():
        count_fault(sb, "lost_answer")
        return Response(b"", status_code=504, headers=arrival.echo)
    return None


# ------------------------------------------------------------ helpers of the steps


def count_fault(sb: Sandbox, kind: str) -> None:
    """Injected faults are counted beside the calls (`FAULT throttled`, ...)."""
    key = FAULT_PREFIX + kind
    sb.state.calls[key] = sb.state.calls.get(key, 0) + 1


def nonsense(sb: Sandbox, headers: dict[str, str]) -> Response:
    """An answer no client expects: an HTML error page, an empty 200 or a JSON of odd shape."""
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
