"""Request bodies of the API's own (the others are the SDK's, clients/contract.py): read and
validated by the routes themselves, and named in the OpenAPI document (workers/api/openapi.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_REDUCTION = 10_000  # as the SDK's LicenceReduction (clients/subscription_lifecycle.py)


class LicenceReductionRequest(BaseModel):
    """How many of the licences an order's line bought to take back."""

    model_config = ConfigDict(hide_input_in_errors=True, extra="forbid")

    quantity: int = Field(
        ge=1,
        le=MAX_REDUCTION,
        strict=True,
        description="Licences to take back: never more than the line added.",
    )
