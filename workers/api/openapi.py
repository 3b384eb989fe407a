"""The API's OpenAPI 3.1 document: FastAPI's, with the bodies the routes read themselves
(validated by the engine's parsers, so FastAPI does not see their models) and problem details in
place of FastAPI's default validation error. Committed as docs/openapi.json
(`csp-orders api --openapi`); a test fails when the two differ."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from clients.contract import CancelRequest, LicenceRequest, TaxIdSubmission
from ordering.document import OrderDocument
from workers.api.bodies import LicenceReductionRequest
from workers.api.problems import MEDIA_TYPE, ProblemDetails

REQUEST_BODIES: tuple[type[BaseModel], ...] = (
    OrderDocument,
    TaxIdSubmission,
    CancelRequest,
    LicenceRequest,
    LicenceReductionRequest,
)
REF_TEMPLATE = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        webhooks=app.webhooks.routes,
    )
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    _, defs = models_json_schema(
        [(model, "validation") for model in REQUEST_BODIES], ref_template=REF_TEMPLATE
    )
    for name, schema in defs.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    _, problem = models_json_schema([(ProblemDetails, "serialization")], ref_template=REF_TEMPLATE)
    for name, schema in problem.get("$defs", {}).items():
        # (a schema of the same name, another model's, would silently take its place)
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two OpenAPI schemas are named {name}")
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path in document.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = {
                    "description": "Invalid input: every field with its reason.",
                    "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}},
                }
    return document
