"""The codec server: Temporal's `/encode` and `/decode` over HTTP, so an authorised operator sees
decoded payloads in the Temporal UI (`--ui-codec-endpoint`) and with the `temporal` CLI
(`--codec-endpoint URL --codec-auth "Bearer <token>"`).

Authentication: `Authorization: Bearer <token>` (401 otherwise). A Temporal UI without sign-in
(the dev server's) cannot send a bearer token, so the server can also accept the token as the
endpoint's path (`<base>/<token>/decode`, a capability URL: the codec protocol lets endpoints
sit at any depth); that is on only where asked for (`token_in_path`, or a separate
`path_token`, as `csp-orders dev` gives its UI so that the UI's settings never show the bearer
token operators use). CORS answers only the configured UI origins. A request body over
`max_body_bytes` (4 MiB) is refused unread with 413. Keys come from the same key ring as every
other process (`clients/payloads.py`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads

from clients.payloads import EncryptionCodec, KeyRing

TOKEN_VARIABLE = "CSP_CODEC_SERVER_TOKEN"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
MAX_BODY_BYTES = 4 * 1024 * 1024


def loopback_ui_origins(ui_port: int) -> list[str]:
    """The origins of a Temporal UI served on loopback (browsers may use either name)."""
    return [f"http://{host}:{ui_port}" for host in LOOPBACK_HOSTS]


ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
Handler = Callable[[Request], Awaitable[Response]]


def create_codec_app(
    keys: KeyRing,
    token: str,
    ui_origins: Sequence[str] = (),
    *,
    token_in_path: bool = False,
    path_token: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """`token_in_path`: the bearer token is also accepted as the endpoint's path;
    `path_token`: this value is (instead), so the path capability and the bearer token differ.
    `allowed_hosts`: the Host names it answers (e.g. loopback names only, against DNS rebinding
    from a web page); any when None."""
    if not token:
        raise ValueError("the codec server needs a non-empty token")
    if path_token is not None and not path_token:
        raise ValueError("the codec server's path token must not be empty")
    codec = EncryptionCodec(keys)
    bearer = f"Bearer {token}".encode()
    capability = (path_token or (token if token_in_path else "")).encode()
    too_large = (
        f"The request body is over {max_body_bytes} bytes ({max_body_bytes / 2**20:g} MiB), "
        "the most the codec server accepts; send fewer payloads per request."
    )

    def cors(request: Request) -> dict[str, str]:
        origin = request.headers.get("origin")
        if origin is None or origin not in ui_origins:
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }

    def authorised(request: Request) -> bool:
        offered = request.headers.get("authorization", "").encode()
        if hmac.compare_digest(offered, bearer):
            return True
        prefix = str(request.path_params.get("prefix", "")).encode()
        return bool(capability) and hmac.compare_digest(prefix, capability)

    def endpoint(encode: bool) -> Handler:
        async def handle(request: Request) -> Response:
            headers = cors(request)
            if request.method == "OPTIONS":
                return Response(status_code=204 if headers else 403, headers=headers)
            if not authorised(request):
                return JSONResponse({"error": "unauthorized"}, status_code=401, headers=headers)
            body = await bounded_body(request, max_body_bytes)
            if body is None:
                return JSONResponse({"error": too_large}, status_code=413, headers=headers)
            try:
                payloads = json_format.Parse(body, Payloads())
                converted = await (codec.encode if encode else codec.decode)(payloads.payloads)
            except Exception:
                return JSONResponse(
                    {"error": "payloads could not be converted"}, status_code=400, headers=headers
                )
            answer = json_format.MessageToJson(Payloads(payloads=converted))
            return Response(answer, media_type="application/json", headers=headers)

        return handle

    methods = ["POST", "OPTIONS"]
    middleware = (
        [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))]
        if allowed_hosts is not None
        else []
    )
    return Starlette(
        middleware=middleware,
        routes=[
            Route("/encode", endpoint(True), methods=methods),
            Route("/decode", endpoint(False), methods=methods),
            Route("/{prefix:path}/encode", endpoint(True), methods=methods),
            Route("/{prefix:path}/decode", endpoint(False), methods=methods),
        ],
    )


async def bounded_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is known to exceed `limit` bytes (a declared
    Content-Length over it is refused before anything is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
