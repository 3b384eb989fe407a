"""What storefronts and operators send to running workflows (signals, updates) and get back."""

from __future__ import annotations

from pydantic import BaseModel, Field

PROVIDE_TAX_ID = "provide_tax_id"  # signal (plain JSON: {"tax_id": "..."}) and update
RELATIONSHIP_ACCEPTED = "relationship_accepted"  # signal: check the relationship now
CANCEL = "cancel"  # update
STATUS = "status"  # query


ORDER_WORKFLOW_PREFIX = "order-"


def order_workflow_id(order_id: str) -> str:
    return f"{ORDER_WORKFLOW_PREFIX}{order_id}"


def order_id_of(workflow_id: str) -> str | None:
    """The order id in an order workflow's id; None for the engine's other workflows."""
    if workflow_id.startswith(ORDER_WORKFLOW_PREFIX):
        return workflow_id.removeprefix(ORDER_WORKFLOW_PREFIX)
    return None


def licences_workflow_id(request_id: str) -> str:
    return f"licences-{request_id}"


class TaxIdSubmission(BaseModel):
    tax_id: str = Field(max_length=64)


class TaxIdAccepted(BaseModel):
    accepted: bool = True


class RelationshipNudge(BaseModel):
    pass


class CancelRequest(BaseModel):
    reason: str = Field("", max_length=200)


class CancelAccepted(BaseModel):
    accepted: bool = True
