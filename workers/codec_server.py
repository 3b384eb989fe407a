"""The codec server: Temporal's `/encode` and `/decode` over HTTP, so an authorised operator sees
decoded payloads in the Temporal UI (`--ui-codec-endpoint`) and with the `temporal` CLI
(`--codec-endpoint URL --codec-auth "Bearer <token>"`).

Requests need `Authorization: Bearer <token>` (401 otherwise); CORS answers only the configured
UI origin. Keys come from the same key ring as every other process (`clients/payloads.py`).
"""

from __future__ import annotations

import hmac

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads

from clients.payloads import EncryptionCodec, KeyRing

ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


def create_codec_app(keys: KeyRing, token: str, ui_origin: str | None) -> Starlette:
    codec = EncryptionCodec(keys)

    def cors(request: Request) -> dict[str, str]:
        origin = request.headers.get("origin")
        if ui_origin is None or origin != ui_origin:
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }

    def endpoint(encode: bool):  # type: ignore[no-untyped-def]
        async def handle(request: Request) -> Response:
            headers = cors(request)
            if request.method == "OPTIONS":
                return Response(status_code=204 if headers else 403, headers=headers)
            offered = request.headers.get("authorization", "")
            if not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"error": "unauthorized"}, status_code=401, headers=headers)
            try:
                payloads = json_format.Parse(await request.body(), Payloads())
                converted = await (codec.encode if encode else codec.decode)(payloads.payloads)
            except Exception:
                return JSONResponse(
                    {"error": "payloads could not be converted"}, status_code=400, headers=headers
                )
            body = json_format.MessageToJson(Payloads(payloads=converted))
            return Response(body, media_type="application/json", headers=headers)

        return handle

    return Starlette(
        routes=[
            Route("/encode", endpoint(True), methods=["POST", "OPTIONS"]),
            Route("/decode", endpoint(False), methods=["POST", "OPTIONS"]),
        ]
    )
