"""What storefronts and operators send to running workflows (signals, updates) and get back."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ordering.validation import FieldProblem, RawInput

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


class Arrival(StrEnum):
    """How an input reached the workflow, as the worker's payload codec saw it."""

    ENCRYPTED = "encrypted"
    PLAIN = "plain"  # readable in the history (e.g. sent with the plain `temporal` CLI)
    UNREADABLE = "unreadable"  # not decryptable, not JSON, too deep or too large
    UNKNOWN = "unknown"  # read without the engine's codec (e.g. by a replayer)


# The private attribute a model declares to be told its `Arrival` (clients/payloads.py).
ARRIVAL_ATTRIBUTE = "_arrival"


class Submission(RawInput):
    """A workflow's start input as plain JSON, with how it arrived."""

    model_config = ConfigDict(hide_input_in_errors=True)

    _arrival: Arrival = PrivateAttr(default=Arrival.UNKNOWN)

    @property
    def arrival(self) -> Arrival:
        return self._arrival

    @classmethod
    def unreadable(cls) -> Submission:
        return cls(None)


def unreadable_input(field: str) -> FieldProblem:
    """The problem of a start input that arrived `unreadable`."""
    return FieldProblem(
        field=field,
        reason="could not be read: it must be JSON of at most 256 KB, nested at most a few "
        "hundred levels, sent as plain JSON or encrypted with a key the engine holds",
    )


class TaxIdSubmission(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    tax_id: str = Field(max_length=64)
    _arrival: Arrival = PrivateAttr(default=Arrival.UNKNOWN)

    @property
    def arrival(self) -> Arrival:
        return self._arrival


class TaxIdAccepted(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    accepted: bool = True


class RelationshipNudge(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)


class CancelRequest(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    reason: str = Field("", max_length=200)


class CancelAccepted(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    accepted: bool = True
