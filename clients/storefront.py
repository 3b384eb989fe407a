"""The storefront SDK: place orders, follow them, supply tax IDs, cancel, add licences.

    async with await Storefront.connect("127.0.0.1:7233") as shop:
        await shop.place_order(order)            # the same order twice: the same run
        status = await shop.status(order.order_id)
        await shop.provide_tax_id(order.order_id, "7707083893")   # TaxIdRejected if invalid
        outcome = await shop.wait_for_outcome(order.order_id)

`SyncStorefront` offers the same from synchronous code.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from clients.payloads import data_converter
from ordering.document import OrderDocument
from ordering.refusals import Refusal, RefusalCode
from ordering.status import OrderOutcome, OrderStatus, Phase
from ordering.validation import RawInput, parse_order
from workflows.licences import LicenceOutcome, LicenceRequest, LicencesWorkflow
from workflows.messages import (
    CANCEL,
    PROVIDE_TAX_ID,
    RELATIONSHIP_ACCEPTED,
    STATUS,
    CancelAccepted,
    CancelRequest,
    RelationshipNudge,
    TaxIdAccepted,
    TaxIdSubmission,
    licences_workflow_id,
    order_workflow_id,
)
from workflows.order import OrderWorkflow
from workflows.steps import ORDER_ID, PHASE, RESELLER

T = TypeVar("T")
DEFAULT_TASK_QUEUE = "csp-orders"


class StorefrontError(Exception):
    """A request the engine did not accept; `str()` is a sentence for the customer."""


class TaxIdRejected(StorefrontError):
    pass


class CancelRejected(StorefrontError):
    pass


class OrderNotFound(StorefrontError):
    pass


class EngineUnreachable(StorefrontError):
    """The order engine's Temporal service could not be reached (nothing was sent)."""


class LicencesRefused(StorefrontError):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _refusal_of(error: BaseException) -> Refusal | None:
    cause = error.cause if isinstance(error, WorkflowFailureError) else error
    if isinstance(cause, ApplicationError) and cause.details:
        try:
            return Refusal.model_validate(cause.details[0])
        except ValueError:
            return None
    return None


def _update_refusal(error: WorkflowUpdateFailedError) -> str:
    """The validator's reason (a sentence for the customer)."""
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or error)


class Storefront:
    def __init__(self, client: Client, task_queue: str = DEFAULT_TASK_QUEUE) -> None:
        self.client = client
        self.task_queue = task_queue

    @classmethod
    async def connect(
        cls, address: str, *, namespace: str = "default", task_queue: str = DEFAULT_TASK_QUEUE
    ) -> Storefront:
        try:
            client = await Client.connect(
                address, namespace=namespace, data_converter=data_converter()
            )
        except RuntimeError as error:  # the SDK's connection failure
            raise EngineUnreachable(
                f"The order engine at {address} cannot be reached right now; nothing was sent. "
                "Try again later."
            ) from error
        return cls(client, task_queue)

    async def __aenter__(self) -> Storefront:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    # ------------------------------------------------------------------ orders

    async def place_order(self, order: OrderDocument | dict[str, Any] | str) -> str:
        """Start the order (validated first: `InvalidOrder` names each bad field). Placing the
        same order id again returns the existing run, never a second one. Returns the
        workflow id."""
        document = order if isinstance(order, OrderDocument) else parse_order(order)
        attributes = [
            SearchAttributePair(ORDER_ID, document.order_id),
            SearchAttributePair(PHASE, Phase.RECEIVED.value),
        ]
        if document.reseller is not None:
            attributes.append(SearchAttributePair(RESELLER, document.reseller.mpn_id))
        lines = ", ".join(f"{line.quantity} x {line.offer}" for line in document.lines[:3])
        if len(document.lines) > 3:
            lines += f" and {len(document.lines) - 3} more"
        try:
            handle = await self.client.start_workflow(
                OrderWorkflow.run,
                RawInput(document.model_dump(mode="json")),
                id=order_workflow_id(document.order_id),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(attributes),
                static_summary=f"Order {document.order_id}: {lines}",
                static_details=(
                    f"Customer: {document.customer.kind}; {len(document.lines)} line(s); "
                    + (
                        f"indirect via {document.reseller.mpn_id}"
                        if document.reseller
                        else "direct"
                    )
                ),
            )
        except WorkflowAlreadyStartedError:
            return order_workflow_id(document.order_id)  # placed before, and already ended
        return handle.id

    def _order(self, order_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(
            order_workflow_id(order_id), result_type=OrderOutcome
        )

    async def status(self, order_id: str) -> OrderStatus:
        try:
            status: OrderStatus = await self._order(order_id).query(STATUS, result_type=OrderStatus)
            return status
        except RPCError as error:
            raise OrderNotFound(f"There is no order {order_id}.") from error

    async def provide_tax_id(self, order_id: str, tax_id: str) -> None:
        """Supply the customer's tax ID; an invalid one raises `TaxIdRejected` with the reason
        and the order keeps waiting."""
        try:
            await self._order(order_id).execute_update(
                PROVIDE_TAX_ID, TaxIdSubmission(tax_id=tax_id), result_type=TaxIdAccepted
            )
        except WorkflowUpdateFailedError as error:
            raise TaxIdRejected(_update_refusal(error)) from None
        except RPCError as error:
            await self._raise_if_missing(order_id, error)
            raise TaxIdRejected("The order has ended; it no longer takes a tax ID.") from None

    async def relationship_accepted(self, order_id: str) -> None:
        """Tell the order the customer accepted the invitation (it checks Partner Center now)."""
        await self._order(order_id).signal(RELATIONSHIP_ACCEPTED, RelationshipNudge())

    async def cancel(self, order_id: str, reason: str = "") -> None:
        """Cancel an order that has not started buying; `CancelRejected` otherwise."""
        try:
            await self._order(order_id).execute_update(
                CANCEL, CancelRequest(reason=reason), result_type=CancelAccepted
            )
        except WorkflowUpdateFailedError as error:
            raise CancelRejected(_update_refusal(error)) from None
        except RPCError as error:
            await self._raise_if_missing(order_id, error)
            raise CancelRejected("The order has ended; it can no longer be cancelled.") from None

    async def _raise_if_missing(self, order_id: str, error: RPCError) -> None:
        try:
            await self._order(order_id).describe()
        except RPCError:
            raise OrderNotFound(f"There is no order {order_id}.") from error

    async def wait_for_outcome(self, order_id: str) -> OrderOutcome:
        """The order's outcome: completed, refused (with code and message) or cancelled."""
        handle = self._order(order_id)
        try:
            outcome: OrderOutcome = await handle.result()
            return outcome
        except WorkflowFailureError as error:
            refusal = _refusal_of(error) or Refusal(
                code=RefusalCode.PARTNER_CENTER_REFUSED, message="The order failed."
            )
            status = await self.status(order_id)
            return OrderOutcome(
                order_id=order_id,
                phase=Phase.REFUSED,
                customer_id=status.customer_id,
                lines=status.lines,
                refusal=refusal,
            )

    # ------------------------------------------------------------------ extra licences

    async def add_licences(self, request: LicenceRequest) -> LicenceOutcome:
        """Add licences to an existing subscription (Dynamics instance, discontinued offer).
        The same request id twice is one change. `LicencesRefused` on a refusal."""
        workflow_id = licences_workflow_id(request.request_id)
        try:
            try:
                handle = await self.client.start_workflow(
                    LicencesWorkflow.run,
                    RawInput(request.model_dump(mode="json")),
                    id=workflow_id,
                    task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=f"{request.quantity} licence(s) for subscription "
                    f"{request.subscription_id}",
                )
            except WorkflowAlreadyStartedError:
                handle = self.client.get_workflow_handle_for(LicencesWorkflow.run, workflow_id)
            return await handle.result()
        except WorkflowFailureError as error:
            refusal = _refusal_of(error)
            if refusal is None:
                raise
            raise LicencesRefused(refusal) from None


class SyncStorefront:
    """`Storefront` for synchronous code: a private event loop on a background thread."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._shop: Storefront = self._run(Storefront.connect(address, **kwargs))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def place_order(self, order: OrderDocument | dict[str, Any] | str) -> str:
        return self._run(self._shop.place_order(order))

    def status(self, order_id: str) -> OrderStatus:
        return self._run(self._shop.status(order_id))

    def provide_tax_id(self, order_id: str, tax_id: str) -> None:
        self._run(self._shop.provide_tax_id(order_id, tax_id))

    def cancel(self, order_id: str, reason: str = "") -> None:
        self._run(self._shop.cancel(order_id, reason))

    def wait_for_outcome(self, order_id: str) -> OrderOutcome:
        return self._run(self._shop.wait_for_outcome(order_id))

    def add_licences(self, request: LicenceRequest) -> LicenceOutcome:
        return self._run(self._shop.add_licences(request))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> SyncStorefront:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
