"""The truth about an order that did not complete after its purchase started: per line, what was
bought, what was not, what exists at Microsoft, and what the storefront can do next."""

from __future__ import annotations

from ordering.refusals import Refusal, RefusalCode
from ordering.status import LineState, LineStatus


def _lines(numbers: list[int]) -> str:
    names = [f"lines[{n}]" for n in numbers]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def created_customer_sentence(customer_id: str) -> str:
    """What exists at Microsoft when an order created a customer and then did not complete."""
    return (
        f"The new customer was created at Microsoft (customer id {customer_id}): a new order "
        "for it names this known customer."
    )


def telling_what_exists(refusal: Refusal, created_customer_id: str | None) -> Refusal:
    """A refusal (or cancellation) that came after the order created its customer says so,
    with the id."""
    if created_customer_id is None:
        return refusal
    return refusal.model_copy(
        update={
            "message": f"{refusal.message} {created_customer_sentence(created_customer_id)}",
            "details": {**refusal.details, "customer_created": True},
        }
    )


def incomplete_order(
    lines: list[LineStatus],
    *,
    customer_id: str | None,
    customer_created: bool,
    refusal_codes: dict[int, RefusalCode] | None = None,
) -> Refusal:
    """The outcome's refusal when some line was refused at purchase or not fulfilled.

    `refusal_codes` maps refused lines to the code Microsoft's refusal translates to; the
    outcome's code is that code when every unfinished line was refused for the same reason, and
    PROVISIONING_FAILED when something may have been ordered but was not fulfilled."""
    codes = refusal_codes or {}
    bought = [line.line for line in lines if line.state is LineState.FULFILLED]
    refused = [line for line in lines if line.state is LineState.REFUSED]
    failed = [line for line in lines if line.state is LineState.FAILED]
    sentences: list[str] = []
    if bought:
        sentences.append(f"Bought: {_lines(bought)}.")
    elif not failed:
        sentences.append("Nothing was bought.")
    for line in failed:
        sentences.append(f"Not fulfilled: lines[{line.line}] ({line.problem or 'unknown'}).")
    for line in refused:
        sentences.append(f"Not bought: lines[{line.line}] ({line.problem or 'refused'}).")
    if customer_created and customer_id:
        sentences.append(created_customer_sentence(customer_id))
    if refused and customer_id:
        sentences.append(
            f"The lines not bought may be ordered again for customer id {customer_id}."
        )
    distinct = {codes.get(line.line, RefusalCode.PARTNER_CENTER_REFUSED) for line in refused}
    if failed or len(distinct) != 1:
        code = RefusalCode.PROVISIONING_FAILED if failed else RefusalCode.PARTNER_CENTER_REFUSED
    else:
        [code] = distinct
    return Refusal(
        code=code,
        message=" ".join(sentences),
        details={
            "bought_lines": bought,
            "refused_lines": [line.line for line in refused],
            "failed_lines": [line.line for line in failed],
            "customer_created": customer_created,
        },
    )
