"""Validation errors carry no input values (issue 11).

pydantic writes `input_value=...` into a ValidationError's text; a worker logging that error
(Temporal logs a signal or an activity input that does not fit its model, with the traceback)
would write the customer's tax ID, address or name into the log. Every model that can carry
customer data hides input values in its errors (`hide_input_in_errors`), while the order's
validation messages still name each field and the reason. The log line a worker writes for such
an error is tested in tests/engine/test_logs.py.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from clients.contract import TaxIdSubmission
from ordering.document import OrderDocument
from ordering.validation import InvalidOrder, parse_order

# The modules whose models carry customer data or travel with it: the order document, what the
# storefront sees, refusals, signals and updates, activity inputs and outputs, Partner Center
# resources.
MODULES = [
    "ordering.document",
    "ordering.status",
    "ordering.refusals",
    "clients.contract",
    "activities.messages",
    "clients.partner_center.models",
]
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "new-customer.json"
TAX_ID = "PL5260250274"
NAME = "Ada Lovelace"


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for name in MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseModel)
                and value.__module__ == name
                and value not in found
            ):
                found.append(value)
    return found


MODELS = _models()


def _errors_of(call: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value


def _assert_no_input(exc: ValidationError, *values: str) -> None:
    for text in (str(exc), repr(exc)):
        assert "input_value" not in text
        for value in values:
            assert value not in text, text


def test_the_modules_have_models() -> None:
    assert len(MODELS) > 40  # a broken discovery must not pass the tests below vacuously
    assert TaxIdSubmission in MODELS and OrderDocument in MODELS


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.__module__}.{m.__qualname__}")
def test_every_model_hides_input_values_in_its_errors(model: type[BaseModel]) -> None:
    """Whatever the model, an input that does not fit is not repeated: as a Python value, and
    as JSON text that is not even JSON (the payload converter reads JSON)."""
    broken_json = f'{{"tax_id": "{TAX_ID}", "name": "{NAME}", '
    _assert_no_input(_errors_of(lambda: model.model_validate_json(broken_json)), TAX_ID, NAME)
    try:
        model.model_validate(f"{TAX_ID} {NAME}")  # a string where an object belongs
    except ValidationError as exc:
        _assert_no_input(exc, TAX_ID, NAME)
    # (a root model of any JSON takes the string: nothing to check for it)


def _order(**customer: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    document["customer"].update(customer)
    return document


def test_an_order_that_does_not_validate_names_fields_and_reasons_but_no_values() -> None:
    phone = "+48 (22) 123-45-67 ext. 1234567890 " + NAME  # too long (32 at most)
    tax_id = f"{TAX_ID} " * 8  # too long (64 at most)
    email = f"{NAME} at example dot com"  # not an e-mail address
    data = _order(phone=phone, tax_id=tax_id, email=email, first_name=NAME)  # unknown field
    values = (phone, tax_id.strip(), TAX_ID, email, NAME)

    exc = _errors_of(lambda: OrderDocument.model_validate(data))
    _assert_no_input(exc, *values)
    exc = _errors_of(lambda: OrderDocument.model_validate_json(json.dumps(data)))
    _assert_no_input(exc, *values)

    # The order's validation (ordering/validation.py reads `type`, `loc` and `ctx`) still names
    # every field and why.
    with pytest.raises(InvalidOrder) as caught:
        parse_order(data)
    problems = {p.field: p.reason for p in caught.value.problems}
    assert problems["customer.phone"] and "32" in problems["customer.phone"]
    assert problems["customer.tax_id"] and "64" in problems["customer.tax_id"]
    assert problems["customer.email"] == "is not an e-mail address"
    assert problems["customer.first_name"] == "is not a known field"
    text = str(caught.value) + json.dumps([p.model_dump() for p in caught.value.problems])
    for value in values:
        assert value not in text


def test_the_payload_converter_a_worker_uses_raises_without_the_values() -> None:
    """What a worker does with a signal's payload: JSON to the handler's model. The error it
    logs when the input does not fit holds no value."""
    converter = pydantic_data_converter.payload_converter
    for body in (
        {"tax_id": {"name": NAME, "tax_id": TAX_ID}},  # not a string
        {"tax_id": f"{TAX_ID} {NAME} " * 4},  # too long
        {"tax_id": TAX_ID, "name": NAME, "extra": [TAX_ID]},  # extra fields are ignored: valid
    ):
        payload = Payload(
            metadata={"encoding": b"json/plain"}, data=json.dumps(body).encode("utf-8")
        )
        try:
            [value] = converter.from_payloads([payload], [TaxIdSubmission])
        except ValidationError as exc:
            _assert_no_input(exc, TAX_ID, NAME)
        else:
            assert isinstance(value, TaxIdSubmission) and "extra" in body
