"""The storefront SDK: place orders, follow them, supply tax IDs, cancel, add licences.

    async with await Storefront.connect() as shop:   # Temporal's client configuration
        await shop.place_order(order)            # the same order twice: the same run
        status = await shop.status(order.order_id)
        await shop.provide_tax_id(order.order_id, "7707083893")   # TaxIdRejected if invalid
        outcome = await shop.wait_for_outcome(order.order_id)

`SyncStorefront` offers the same from synchronous code.

Every failure is a `StorefrontError` whose `str()` is a sentence for the customer (no personal
data); no Temporal exception escapes. An id reused with other content is refused
(`OrderIdConflict`, `RequestIdConflict`); an unknown order is `OrderNotFound` from every method;
an engine that does not answer in time (no worker running) is `EngineBusy`, with the order's
last known phase where there is one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, TypeVar
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    TemporalError,
    TerminatedError,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import TimeoutError as RunTimedOut
from temporalio.service import RPCError, RPCStatusCode

from clients.contract import (
    CANCEL,
    CUSTOMER_ID,
    LICENCES_WORKFLOW,
    ORDER_ENDED_REJECTION,
    ORDER_ID,
    ORDER_WORKFLOW,
    PHASE,
    PROVIDE_TAX_ID,
    RELATIONSHIP_ACCEPTED,
    RESELLER,
    STATUS,
    STOREFRONT,
    TASK_QUEUE,
    VALIDATE_ORDER_WORKFLOW,
    CancelAccepted,
    CancelRequest,
    LicenceOutcome,
    LicenceRequest,
    RelationshipNudge,
    Submission,
    TaxIdAccepted,
    TaxIdSubmission,
    licences_workflow_id,
    order_id_of,
    order_workflow_id,
    scoped_id,
)
from clients.payloads import KeyRing, data_converter, writer_key_ring
from clients.subscription_lifecycle import (
    CANCEL_SUBSCRIPTION_UPDATE,
    PAYMENT_FAILED_UPDATE,
    REDUCE_LICENCES_UPDATE,
    SUBSCRIPTIONS_QUERY,
    CustomerSubscriptionsView,
    LicenceReduction,
    LifecycleChange,
    NotUndone,
    PaymentFailedOutcome,
    PaymentFailure,
    SubscriptionCancellation,
    customer_subscriptions_workflow_id,
)
from clients.temporal_connection import (
    TemporalConnection,
    TemporalSettingsInvalid,
    TemporalUnreachable,
    connect_client,
    connection_for,
)
from ordering.document import OrderDocument
from ordering.dry_run import OrderValidation
from ordering.refusals import Refusal, RefusalCode
from ordering.status import LineState, OrderOutcome, OrderStatus, Phase
from ordering.validation import (
    InvalidOrder,
    canonical_sha256,
    parse_order,
    validate_input,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
# How long a question to a running order (status, tax ID, cancel) waits for a worker to answer
# before the storefront hears `EngineBusy` instead of waiting indefinitely. An order asks
# Partner Center inside its workflow task (local activities): a question that arrives meanwhile
# is answered once the request returns, and at the latest when Temporal completes the task in
# between (8 seconds into it); hence more than that.
DEFAULT_ANSWER_TIMEOUT = timedelta(seconds=10)
# The memo entry holding the SHA-256 of the canonical document a run was started with: an id
# placed again is compared with it (a hash, so no personal data is kept in it).
CONTENT_MEMO = "csp_content_sha256"
# The dry run (`validate_order`): its workflows' ids, and how long one may take (it asks Partner
# Center a few reads, inside one workflow task; longer means no worker is answering).
VALIDATE_ORDER_WORKFLOW_PREFIX = "validate-"
VALIDATE_ORDER_TIMEOUT = timedelta(minutes=1)


class StorefrontError(Exception):
    """A request the engine did not carry out; `str()` is a sentence for the customer."""


class TaxIdRejected(StorefrontError):
    pass


class CancelRejected(StorefrontError):
    pass


class OrderNotFound(StorefrontError):
    pass


class OrderEnded(StorefrontError):
    """The order has ended; it no longer takes this request."""


class TaxIdNotTaken(TaxIdRejected, OrderEnded):
    """The order has ended: it no longer takes a tax ID."""


class CancelNotTaken(CancelRejected, OrderEnded):
    """The order has ended: it can no longer be cancelled."""


class EngineUnreachable(StorefrontError):
    """The order engine's Temporal service could not be reached (nothing was sent)."""


class ConnectionNotConfigured(EngineUnreachable):
    """Temporal's client configuration cannot be used (a TLS file that does not exist, an
    unknown profile...): the sentence names the setting. Nothing was sent."""


class EncryptionNotConfigured(StorefrontError):
    """The storefront has no payload keys, or keys it cannot use (`CSP_CODEC_KEYS` not as
    documented): orders carry personal data and are only sent encrypted. Nothing was sent."""


class InvalidPageToken(StorefrontError, ValueError):
    """`list_orders` was given a page token it never gave out."""


class EngineBusy(StorefrontError):
    """The order engine did not answer in time (no worker is running, or it is overloaded).
    Nothing is lost; ask again later. `last_known_phase` is the order's phase as last recorded,
    when known."""

    def __init__(self, message: str, last_known_phase: Phase | None = None) -> None:
        super().__init__(message)
        self.last_known_phase = last_known_phase


class IdConflict(StorefrontError):
    """An id was reused with different content (as a payment API treats a reused idempotency
    key): nothing was started. `refusal.code` is ORDER_ID_CONFLICT or REQUEST_ID_CONFLICT."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class OrderIdConflict(IdConflict):
    pass


class RequestIdConflict(IdConflict):
    pass


class OrderRejected(StorefrontError):
    """The engine would not even check the order (e.g. it arrived unencrypted): `refusal`
    says why; asking again unchanged gives the same answer."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class LicencesRefused(StorefrontError):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class LifecycleRefused(StorefrontError):
    """A cancellation, reduction or failed payment that was not (or not wholly) carried out:
    `refusal.code` and the sentence say why (REFUND_WINDOW_CLOSED, OTHER_ORDERS_LICENCES, ...);
    nothing was changed at Partner Center."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class LicencesAborted(StorefrontError):
    """The licence request's run was terminated or timed out before it finished
    (`refusal.code` ORDER_ABORTED): check the subscription before asking again."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _refusal_of(cause: BaseException | None) -> Refusal | None:
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


def _ended(error: WorkflowUpdateFailedError) -> bool:
    """The order refused the update because it has ended (its run not closed yet)."""
    cause = error.cause
    return isinstance(cause, ApplicationError) and cause.type == ORDER_ENDED_REJECTION


def _how_it_stopped(cause: BaseException | None) -> str:
    """Why a run ended without an outcome of its own (never a Partner Center refusal)."""
    if isinstance(cause, TerminatedError):
        return "was stopped by an operator (its run was terminated)"
    if isinstance(cause, RunTimedOut):
        return "ran out of time (its run timed out)"
    if isinstance(cause, CancelledError):
        return "was cancelled by an operator while it ran"
    return "stopped with an error in the order engine"


def _aborted(order_id: str, cause: BaseException | None) -> Refusal:
    return Refusal(
        code=RefusalCode.ORDER_ABORTED,
        message=f"Order {order_id} {_how_it_stopped(cause)} before it finished. Some of it may "
        "have been bought: check the customer's subscriptions before ordering again under a "
        "new order id.",
    )


def _phase(description: WorkflowExecutionDescription) -> Phase | None:
    value = description.typed_search_attributes.get(PHASE)
    try:
        return Phase(value) if value else None
    except ValueError:
        return None


_UNREACHABLE = "The order engine cannot be reached right now; try again later."
_TRY_AGAIN = "The order engine could not handle the request right now; try again later."


def _not_found(order_id: str, what: str = "order") -> OrderNotFound:
    return OrderNotFound(f"There is no {what} {order_id}.")


def _busy(order_id: str, phase: Phase | None = None, consequence: str = "") -> EngineBusy:
    known = f" Its last known phase is {phase.value}." if phase else ""
    return EngineBusy(
        f"The order engine is not answering for order {order_id} right now (no worker may be "
        f"running){consequence}.{known} Try again in a moment.",
        phase,
    )


def _engine_error(
    error: TemporalError, order_id: str | None, what: str = "order"
) -> StorefrontError:
    """A Temporal error, in the storefront's terms (`what` the id names)."""
    if isinstance(error, RPCError):
        if error.status == RPCStatusCode.NOT_FOUND and order_id is not None:
            return _not_found(order_id, what)
        if error.status == RPCStatusCode.UNAVAILABLE:
            return EngineUnreachable(_UNREACHABLE)
        if error.status in (
            RPCStatusCode.CANCELLED,
            RPCStatusCode.DEADLINE_EXCEEDED,
            RPCStatusCode.RESOURCE_EXHAUSTED,
        ):
            return EngineBusy("The order engine is not answering right now; try again in a moment.")
    return StorefrontError(_TRY_AGAIN)


class Storefront:
    def __init__(
        self,
        client: Client,
        task_queue: str = TASK_QUEUE,
        *,
        answer_timeout: timedelta = DEFAULT_ANSWER_TIMEOUT,
        storefront: str | None = None,
    ) -> None:
        """`storefront`: the storefront whose orders this is (the HTTP API's caller); its
        orders are `order-<storefront>/<order id>` and it finds no other storefront's
        (clients/contract.py). None: orders of no storefront, `order-<order id>`."""
        self.client = client
        self.task_queue = task_queue
        self.answer_timeout = answer_timeout
        self.storefront = storefront

    def for_storefront(self, storefront: str) -> Storefront:
        """The same connection, acting for `storefront`."""
        return Storefront(
            self.client, self.task_queue, answer_timeout=self.answer_timeout, storefront=storefront
        )

    @classmethod
    async def connect(
        cls,
        address: str | TemporalConnection | None = None,
        *,
        namespace: str | None = None,
        task_queue: str = TASK_QUEUE,
        answer_timeout: timedelta = DEFAULT_ANSWER_TIMEOUT,
        keys: KeyRing | None = None,
    ) -> Storefront:
        """Connect to the order engine's Temporal as Temporal's standard client configuration
        says (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS_*`,
        `temporal.toml` profiles: clients/temporal_connection.py); `address` and `namespace`
        override it, or a resolved `TemporalConnection` replaces it, in `namespace` when one
        is given (`connection_for`). `keys`: the payload key ring (default:
        `CSP_CODEC_KEYS`). Without one it raises `EncryptionNotConfigured` before connecting
        (see clients/payloads.py). Settings that cannot be used, or a
        Temporal that cannot be reached or refuses the connection, raise `EngineUnreachable`
        with one line saying which setting to look at."""
        try:
            connection = connection_for(address, namespace)
        except TemporalSettingsInvalid as invalid:
            raise ConnectionNotConfigured(str(invalid)) from None
        try:
            ring = writer_key_ring(connection.target_host, keys)
        except ValueError as unusable:  # EncryptionKeysMissing, or keys not as documented
            raise EncryptionNotConfigured(str(unusable)) from None
        try:
            client = await connect_client(
                connection, data_converter=data_converter(ring, from_env=False)
            )
        except TemporalUnreachable as refused:
            raise EngineUnreachable(f"{refused} Nothing was sent.") from None
        return cls(client, task_queue, answer_timeout=answer_timeout)

    async def __aenter__(self) -> Storefront:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    @contextlib.asynccontextmanager
    async def _answers(
        self, order_id: str | None = None, what: str = "order"
    ) -> AsyncIterator[None]:
        """Whatever Temporal raises inside leaves as a `StorefrontError`."""
        try:
            yield
        except TemporalError as error:
            raise _engine_error(error, order_id, what) from error

    # ------------------------------------------------------------------ orders

    async def place_order(self, order: OrderDocument | dict[str, Any] | str) -> str:
        """Start the order (validated first: `InvalidOrder` names each bad field). Placing the
        same order id again with the same content returns the existing run, never a second
        one; with other content it raises `OrderIdConflict` (code ORDER_ID_CONFLICT). Returns
        the workflow id."""
        document = order if isinstance(order, OrderDocument) else parse_order(order)
        content = canonical_sha256(document)
        workflow_id = order_workflow_id(document.order_id, self.storefront)
        attributes = [
            SearchAttributePair(ORDER_ID, document.order_id),
            SearchAttributePair(PHASE, Phase.RECEIVED.value),
        ]
        if self.storefront is not None:
            attributes.append(SearchAttributePair(STOREFRONT, self.storefront))
        if document.reseller is not None:
            attributes.append(SearchAttributePair(RESELLER, document.reseller.mpn_id))
        lines = ", ".join(f"{line.quantity} x {line.offer}" for line in document.lines[:3])
        if len(document.lines) > 3:
            lines += f" and {len(document.lines) - 3} more"
        async with self._answers():
            with contextlib.suppress(WorkflowAlreadyStartedError):  # placed before, and ended
                await self.client.start_workflow(
                    ORDER_WORKFLOW,
                    Submission(document.model_dump(mode="json")),
                    id=workflow_id,
                    task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=TypedSearchAttributes(attributes),
                    memo={CONTENT_MEMO: content},
                    result_type=OrderOutcome,
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
            existing = await self._content_of(workflow_id, _order_content)
        if existing != content:
            raise OrderIdConflict(
                Refusal(
                    code=RefusalCode.ORDER_ID_CONFLICT,
                    message=f"Order {document.order_id} was already placed with different "
                    "content; an order id stands for one order. Send exactly the same order "
                    "to follow it, or place the new order under a new order id.",
                )
            )
        return workflow_id

    async def _content_of(
        self, workflow_id: str, canonical: Callable[[JsonValue], str | None]
    ) -> str | None:
        """The content hash of the run holding `workflow_id`: from its memo, or (a run started
        without one, e.g. by the `temporal` CLI) from its input, decrypted and parsed."""
        handle = self.client.get_workflow_handle(workflow_id)
        description = await handle.describe(rpc_timeout=self.answer_timeout)
        stored = await description.memo_value(CONTENT_MEMO, None, type_hint=str)
        if stored is not None:
            return str(stored)
        async for event in handle.fetch_history_events(rpc_timeout=self.answer_timeout):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            try:
                [raw] = await self.client.data_converter.decode(payloads, [Submission])
                return canonical(raw.root)
            except Exception:  # unreadable input is not the same content
                return None
        return None

    async def knows_order(self, order_id: str) -> bool:
        """Has this order id been placed (by this storefront)?"""
        try:
            await self._describe(order_id)
        except OrderNotFound:
            return False
        return True

    def _order(self, order_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(
            order_workflow_id(order_id, self.storefront), result_type=OrderOutcome
        )

    async def _describe(self, order_id: str) -> WorkflowExecutionDescription:
        async with self._answers(order_id):
            return await self._order(order_id).describe(rpc_timeout=self.answer_timeout)

    async def status(self, order_id: str) -> OrderStatus:
        """What the order is doing or waiting for, or how it ended. `OrderNotFound` for an
        unknown id; `EngineBusy` (with the last known phase) when no worker answers in time."""
        description = await self._describe(order_id)
        if description.status == WorkflowExecutionStatus.RUNNING:
            try:
                status: OrderStatus = await self._order(order_id).query(
                    STATUS, result_type=OrderStatus, rpc_timeout=self.answer_timeout
                )
                return status
            except TemporalError as error:
                if isinstance(error, RPCError) and error.status == RPCStatusCode.UNAVAILABLE:
                    raise EngineUnreachable(_UNREACHABLE) from error
                description = await self._describe(order_id)
                if description.status == WorkflowExecutionStatus.RUNNING:
                    raise _busy(order_id, _phase(description)) from error
        outcome = await self.wait_for_outcome(order_id)  # ended: no worker needed
        return OrderStatus(
            order_id=order_id,
            phase=outcome.phase,
            customer_id=outcome.customer_id,
            refusal=outcome.refusal,
            lines=outcome.lines,
            cancellable=False,
            updated_at=description.close_time,
            unencrypted_inputs=outcome.unencrypted_inputs,
        )

    async def provide_tax_id(self, order_id: str, tax_id: str) -> None:
        """Supply the customer's tax ID; an invalid one raises `TaxIdRejected` with the reason
        and the order keeps waiting."""
        try:
            submission = TaxIdSubmission(tax_id=tax_id)
        except ValidationError:
            raise TaxIdRejected("A tax ID has at most 64 characters.") from None
        try:
            await self._order(order_id).execute_update(
                PROVIDE_TAX_ID,
                submission,
                result_type=TaxIdAccepted,
                rpc_timeout=self.answer_timeout,
            )
        except WorkflowUpdateFailedError as error:
            if _ended(error):
                raise TaxIdNotTaken(_update_refusal(error)) from None
            raise TaxIdRejected(_update_refusal(error)) from None
        except TemporalError as error:
            raise await self._update_error(
                order_id,
                error,
                TaxIdNotTaken("The order has ended; it no longer takes a tax ID."),
                ", so the tax ID may not have been taken",
            ) from error

    async def relationship_accepted(self, order_id: str) -> None:
        """Tell the order the customer accepted the invitation (it checks Partner Center now).
        A signal: it is kept even while no worker runs. `OrderEnded` once the order ended."""
        try:
            await self._order(order_id).signal(
                RELATIONSHIP_ACCEPTED, RelationshipNudge(), rpc_timeout=self.answer_timeout
            )
        except TemporalError as error:
            raise await self._update_error(
                order_id,
                error,
                OrderEnded("The order has ended; it no longer waits for the relationship."),
                ", so the news may not have reached the order",
            ) from error

    async def cancel(self, order_id: str, reason: str = "") -> None:
        """Cancel an order that has not started buying; `CancelRejected` otherwise."""
        try:
            request = CancelRequest(reason=reason)
        except ValidationError:
            raise CancelRejected("The reason has at most 200 characters.") from None
        try:
            await self._order(order_id).execute_update(
                CANCEL, request, result_type=CancelAccepted, rpc_timeout=self.answer_timeout
            )
        except WorkflowUpdateFailedError as error:
            if _ended(error):
                raise CancelNotTaken(_update_refusal(error)) from None
            raise CancelRejected(_update_refusal(error)) from None
        except TemporalError as error:
            raise await self._update_error(
                order_id,
                error,
                CancelNotTaken("The order has ended; it can no longer be cancelled."),
                ", so the cancellation may not have been taken",
            ) from error

    async def _update_error(
        self, order_id: str, error: TemporalError, ended: StorefrontError, busy: str
    ) -> StorefrontError:
        """Why a signal or an update did not arrive: no such order, the order ended, or the
        engine did not answer."""
        description = await self._describe(order_id)  # OrderNotFound for an unknown id
        if description.status != WorkflowExecutionStatus.RUNNING:
            return ended
        if isinstance(error, RPCError) and error.status == RPCStatusCode.UNAVAILABLE:
            return EngineUnreachable(_UNREACHABLE)
        return _busy(order_id, _phase(description), busy)

    async def wait_for_outcome(self, order_id: str) -> OrderOutcome:
        """The order's outcome, once it has ended: completed, refused (with code and message),
        cancelled, or failed (some lines not fulfilled; or the run was terminated or timed out:
        code ORDER_ABORTED). `OrderNotFound` for an unknown id."""
        handle = self._order(order_id)
        try:
            outcome: OrderOutcome = await handle.result()
            return outcome
        except WorkflowFailureError as error:
            refusal = _refusal_of(error.cause)
            phase = Phase.REFUSED
            if refusal is None:  # terminated, timed out: no refusal of Partner Center's
                refusal, phase = _aborted(order_id, error.cause), Phase.FAILED
            last = await self._last_known(order_id)
            return OrderOutcome(
                order_id=order_id,
                phase=phase,
                customer_id=last.customer_id,
                lines=last.lines,
                refusal=refusal,
                unencrypted_inputs=last.unencrypted_inputs,
            )
        except TemporalError as error:
            raise _engine_error(error, order_id) from error

    async def _last_known(self, order_id: str) -> OrderStatus:
        """An ended order's status as it last recorded it (a worker replays it); without a
        worker, only the customer id its search attributes keep."""
        try:
            status: OrderStatus = await self._order(order_id).query(
                STATUS, result_type=OrderStatus, rpc_timeout=self.answer_timeout
            )
            return status
        except TemporalError:
            pass
        unknown = OrderStatus(order_id=order_id, phase=Phase.FAILED)
        try:
            description = await self._describe(order_id)
        except StorefrontError:
            return unknown
        return unknown.model_copy(
            update={"customer_id": description.typed_search_attributes.get(CUSTOMER_ID)}
        )

    # ------------------------------------------------------------------ after the purchase

    async def cancel_subscription(
        self, order_id: str, line: int, *, request_id: str | None = None
    ) -> LifecycleChange:
        """Cancel the subscription that line `line` of the order created, within its refund
        window (docs/LIFECYCLE.md). `LifecycleRefused` with the reason otherwise (the window
        closed, other orders added licences to it, it changed outside the engine). The same
        `request_id` again (a retry after a timeout) is the same change, answered once more."""
        request = self._lifecycle_request(SubscriptionCancellation, order_id=order_id, line=line)
        update_id = _update_id(
            CANCEL_SUBSCRIPTION_UPDATE, scoped_id(order_id, self.storefront), line, request_id
        )
        customer_id = await self._customer_of_finished(order_id)
        return await self._lifecycle_update(
            customer_id, CANCEL_SUBSCRIPTION_UPDATE, request, LifecycleChange, update_id
        )

    async def reduce_licences(
        self, order_id: str, line: int, quantity: int, *, request_id: str | None = None
    ) -> LifecycleChange:
        """Take back `quantity` of the licences line `line` of the order bought, within its
        refund window; never more than the order bought (others' licences stay).
        `LifecycleRefused` with the reason otherwise. The same `request_id` again (a retry
        after a timeout) is the same change, never a second reduction."""
        request = self._lifecycle_request(
            LicenceReduction, order_id=order_id, line=line, quantity=quantity
        )
        update_id = _update_id(
            REDUCE_LICENCES_UPDATE, scoped_id(order_id, self.storefront), line, request_id
        )
        customer_id = await self._customer_of_finished(order_id)
        return await self._lifecycle_update(
            customer_id, REDUCE_LICENCES_UPDATE, request, LifecycleChange, update_id
        )

    async def payment_failed(self, order_id: str) -> PaymentFailedOutcome:
        """The order's payment failed: undo exactly what it bought while the windows are open
        (cancel what it created, take back what it added); the outcome says what was undone and
        what could not be, line by line, with the reason."""
        request = self._lifecycle_request(PaymentFailure, order_id=order_id)
        status = await self._finished(order_id)
        outcome = await self._lifecycle_update(
            str(status.customer_id), PAYMENT_FAILED_UPDATE, request, PaymentFailedOutcome
        )
        for line in status.lines:  # bought, but with no window to undo it in
            if line.state is LineState.FULFILLED and line.refund_window_closes_at is None:
                outcome.not_undone.append(
                    NotUndone(
                        line=line.line,
                        subscription_id=line.subscription_id,
                        refusal=Refusal(
                            code=RefusalCode.NOTHING_TO_UNDO,
                            message=f"lines[{line.line}]: Partner Center reported no refund "
                            "window for it, so it cannot be undone; nothing was changed.",
                        ),
                    )
                )
        outcome.not_undone.sort(key=lambda n: n.line)
        return outcome

    async def customer_subscriptions(self, customer_id: str) -> CustomerSubscriptionsView:
        """What the engine's orders left on the customer's subscriptions, the refund windows
        it watches, and what reconciliation found drifted. `OrderNotFound` when the engine
        never bought anything for the customer."""
        handle = self.client.get_workflow_handle(customer_subscriptions_workflow_id(customer_id))
        async with self._answers(customer_id, "customer with purchases of the engine's"):
            view: CustomerSubscriptionsView = await handle.query(
                SUBSCRIPTIONS_QUERY,
                result_type=CustomerSubscriptionsView,
                rpc_timeout=self.answer_timeout,
            )
        return view

    def _lifecycle_request(self, model: type[M], **fields: Any) -> M:
        try:
            return model.model_validate({**fields, "storefront": self.storefront})
        except ValidationError as invalid:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in invalid.errors()
            )
            raise LifecycleRefused(
                Refusal(
                    code=RefusalCode.INVALID_REQUEST,
                    message=f"The request is not valid: {problems}.",
                )
            ) from None

    async def _customer_of_finished(self, order_id: str) -> str:
        """The customer of an order that has ended (what it bought is known only then)."""
        return str((await self._finished(order_id)).customer_id)

    async def _finished(self, order_id: str) -> OrderStatus:
        """The status of an order that has ended and bought something that can be undone."""
        status = await self.status(order_id)
        if not status.phase.final:
            raise LifecycleRefused(
                Refusal(
                    code=RefusalCode.ORDER_NOT_FINISHED,
                    message=f"Order {order_id} is still being carried out (it is "
                    f"{status.phase.value}); nothing was changed. Before its purchase it can "
                    "be cancelled; after it, ask again once the order has completed.",
                )
            )
        if status.customer_id is None or not any(
            line.refund_window_closes_at is not None for line in status.lines
        ):
            raise LifecycleRefused(
                Refusal(
                    code=RefusalCode.NOTHING_TO_UNDO,
                    message=f"Order {order_id} bought nothing that can be undone (nothing was "
                    "bought, or Partner Center reported no refund window); nothing was changed.",
                )
            )
        return status

    async def _lifecycle_update(
        self,
        customer_id: str,
        update: str,
        request: BaseModel,
        result_type: type[M],
        update_id: str | None = None,
    ) -> M:
        """Ask the customer's subscriptions workflow: accepted (or refused by its validator)
        within the answer timeout, then carried out (the customer's slot may be held by
        another order meanwhile)."""
        handle = self.client.get_workflow_handle(customer_subscriptions_workflow_id(customer_id))
        try:
            started = await handle.start_update(
                update,
                request,
                id=update_id,
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                result_type=result_type,
                rpc_timeout=self.answer_timeout,
            )
            result: M = await started.result()
            return result
        except WorkflowUpdateFailedError as error:
            refusal = _refusal_of(error.cause)
            if refusal is None:
                raise StorefrontError(_TRY_AGAIN) from None
            raise LifecycleRefused(refusal) from None
        except TemporalError as error:
            raise _engine_error(error, customer_id, "customer") from error

    # ------------------------------------------------------------------ extra licences

    async def add_licences(self, request: LicenceRequest) -> LicenceOutcome:
        """Add licences to an existing subscription (Dynamics instance, discontinued offer) and
        wait for the change. The same request id twice is one change; with another customer,
        subscription or quantity it raises `RequestIdConflict` (REQUEST_ID_CONFLICT).
        `LicencesRefused` on a refusal, `LicencesAborted` if its run was terminated or timed
        out."""
        await self.request_licences(request)
        return await self._licences_result(request.request_id)

    async def request_licences(self, request: LicenceRequest) -> None:
        """Start the change and return at once (`licence_request` tells how it goes); the same
        rules as `add_licences` for a request id used again."""
        workflow_id = licences_workflow_id(request.request_id, self.storefront)
        content = canonical_sha256(request)
        async with self._answers():
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await self.client.start_workflow(
                    LICENCES_WORKFLOW,
                    Submission(request.model_dump(mode="json")),
                    id=workflow_id,
                    task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    memo={CONTENT_MEMO: content},
                    result_type=LicenceOutcome,
                    static_summary=f"{request.quantity} licence(s) for subscription "
                    f"{request.subscription_id}",
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(STOREFRONT, self.storefront)]
                        if self.storefront is not None
                        else []
                    ),
                )
            if await self._content_of(workflow_id, _licences_content) != content:
                raise RequestIdConflict(
                    Refusal(
                        code=RefusalCode.REQUEST_ID_CONFLICT,
                        message=f"Licence request {request.request_id} was already made for a "
                        "different customer, subscription or quantity; a request id stands "
                        "for one change. Use a new request id for a new change.",
                    )
                )

    async def knows_licence_request(self, request_id: str) -> bool:
        """Has this licence request id been used (by this storefront)?"""
        handle = self.client.get_workflow_handle(licences_workflow_id(request_id, self.storefront))
        try:
            async with self._answers(request_id, "licence request"):
                await handle.describe(rpc_timeout=self.answer_timeout)
        except OrderNotFound:
            return False
        return True

    async def licence_request(self, request_id: str) -> LicenceRequestState:
        """Where a licence request stands: running, completed (with the change), refused (with
        the refusal) or failed (its run was terminated or timed out: ORDER_ABORTED).
        `OrderNotFound` for an unknown request id."""
        handle = self.client.get_workflow_handle(
            licences_workflow_id(request_id, self.storefront), result_type=LicenceOutcome
        )
        async with self._answers(request_id, "licence request"):
            description = await handle.describe(rpc_timeout=self.answer_timeout)
        if description.status == WorkflowExecutionStatus.RUNNING:
            return LicenceRequestState(request_id=request_id, state="running")
        try:
            outcome = await self._licences_result(request_id)
        except LicencesRefused as refused:
            return LicenceRequestState(
                request_id=request_id, state="refused", refusal=refused.refusal
            )
        except LicencesAborted as aborted:
            return LicenceRequestState(
                request_id=request_id, state="failed", refusal=aborted.refusal
            )
        return LicenceRequestState(request_id=request_id, state="completed", outcome=outcome)

    async def _licences_result(self, request_id: str) -> LicenceOutcome:
        handle = self.client.get_workflow_handle(
            licences_workflow_id(request_id, self.storefront), result_type=LicenceOutcome
        )
        async with self._answers(request_id, "licence request"):
            try:
                outcome: LicenceOutcome = await handle.result()
                return outcome
            except WorkflowFailureError as error:
                refusal = _refusal_of(error.cause)
                if refusal is not None:
                    raise LicencesRefused(refusal) from None
                raise LicencesAborted(
                    Refusal(
                        code=RefusalCode.ORDER_ABORTED,
                        message=f"Licence request {request_id} "
                        f"{_how_it_stopped(error.cause)} before it finished. Check the "
                        "subscription's quantity before asking again under a new request id.",
                    )
                ) from None

    # ------------------------------------------------------------------ listing

    async def list_orders(
        self,
        *,
        phase: Phase | None = None,
        customer_id: str | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> OrderPage:
        """Orders newest first, from the search attributes (no worker needed; Temporal's list
        lags a moment behind): this storefront's only, when it is one; by phase and customer.
        `page_token` is the previous page's `next_page_token`."""
        clauses = [f"WorkflowType = '{ORDER_WORKFLOW}'"]
        if self.storefront is not None:
            clauses.append(f"{STOREFRONT.name} = '{_quoted(self.storefront)}'")
        if phase is not None:
            clauses.append(f"{PHASE.name} = '{_quoted(Phase(phase).value)}'")
        if customer_id is not None:
            clauses.append(f"{CUSTOMER_ID.name} = '{_quoted(customer_id)}'")
        try:
            token = base64.urlsafe_b64decode(page_token.encode()) if page_token else None
        except (ValueError, UnicodeEncodeError):
            raise InvalidPageToken("The page token is not one this API gave out.") from None
        async with self._answers():
            iterator = self.client.list_workflows(
                " AND ".join(clauses),
                page_size=page_size,
                next_page_token=token,
                rpc_timeout=self.answer_timeout,
            )
            await iterator.fetch_next_page()
        orders = [
            OrderSummary(
                order_id=execution.typed_search_attributes.get(ORDER_ID)
                or order_id_of(execution.id)
                or execution.id,
                phase=_phase_of(execution.typed_search_attributes.get(PHASE)),
                customer_id=execution.typed_search_attributes.get(CUSTOMER_ID),
                running=execution.status == WorkflowExecutionStatus.RUNNING,
                placed_at=execution.start_time,
                ended_at=execution.close_time,
            )
            for execution in iterator.current_page or []
        ]
        next_token = iterator.next_page_token
        return OrderPage(
            orders=orders,
            next_page_token=base64.urlsafe_b64encode(next_token).decode() if next_token else None,
        )

    # ------------------------------------------------------------------ the dry run

    async def validate_order(self, order: OrderDocument | dict[str, Any] | str) -> OrderValidation:
        """Run every check the order would run, against Partner Center's current state, and
        plan every line, without writing anything to Partner Center (the dry run): the report
        says, per check, passed / failed / will_wait / not_applicable, and per line what it
        would do. The document is validated first (`InvalidOrder` names each bad field).
        Placing the order afterwards is a separate step: Partner Center may change meanwhile.

        Each dry run is a short workflow of its own, `validate-<storefront>/<order id>/<uuid>`:
        never the order's id (a dry run must not hold or reuse it), and never shared with
        another dry run of the same order id (its document may differ; a dry run is a read,
        so there is nothing to deduplicate)."""
        document = order if isinstance(order, OrderDocument) else parse_order(order)
        workflow_id = (
            f"{VALIDATE_ORDER_WORKFLOW_PREFIX}{scoped_id(document.order_id, self.storefront)}"
            f"/{uuid4()}"
        )
        async with self._answers():
            try:
                result: OrderValidation = await self.client.execute_workflow(
                    VALIDATE_ORDER_WORKFLOW,
                    Submission(document.model_dump(mode="json")),
                    id=workflow_id,
                    task_queue=self.task_queue,
                    result_type=OrderValidation,
                    execution_timeout=VALIDATE_ORDER_TIMEOUT,
                    static_summary=f"Dry run of order {document.order_id}",
                )
            except WorkflowFailureError as error:
                refusal = _refusal_of(error.cause)
                if refusal is not None:
                    raise OrderRejected(refusal) from None
                if isinstance(error.cause, RunTimedOut):
                    raise EngineBusy(
                        f"The order engine did not check order {document.order_id} in time "
                        "(no worker may be running); nothing was written. Try again in a "
                        "moment."
                    ) from None
                raise StorefrontError(_TRY_AGAIN) from None
        return result


def _update_id(update: str, order_id: str, line: int, request_id: str | None) -> str | None:
    """The update's id for a change the storefront named (`request_id`): Temporal answers an
    update id it has run with that run's answer, so a retried request is never a second change.
    None: a change of its own each time."""
    if request_id is None:
        return None
    if not _REQUEST_ID.fullmatch(request_id):
        raise LifecycleRefused(
            Refusal(
                code=RefusalCode.INVALID_REQUEST,
                message="The request id must be 1 to 64 letters, digits, '.', '_', ':' or '-'.",
            )
        )
    return f"{update}:{order_id}:{line}:{request_id}"


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _quoted(value: str) -> str:
    """A value inside a visibility query's single quotes."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _phase_of(value: str | None) -> Phase | None:
    try:
        return Phase(value) if value else None
    except ValueError:
        return None


class OrderSummary(BaseModel):
    """An order as Temporal's list shows it (its search attributes): no worker is asked."""

    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: str
    phase: Phase | None = Field(None, description="The phase last recorded.")
    customer_id: str | None = None
    running: bool
    placed_at: datetime
    ended_at: datetime | None = None


class OrderPage(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    orders: list[OrderSummary]
    next_page_token: str | None = Field(
        None, description="Ask again with this for the next page; none on the last page."
    )


class LicenceRequestState(BaseModel):
    """Where a licence request stands."""

    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: str
    state: Literal["running", "completed", "refused", "failed"]
    outcome: LicenceOutcome | None = None
    refusal: Refusal | None = None


def _order_content(raw: JsonValue) -> str | None:
    try:
        return canonical_sha256(parse_order(raw, as_recorded=True))
    except InvalidOrder:
        return None


def _licences_content(raw: JsonValue) -> str | None:
    try:
        return canonical_sha256(validate_input(LicenceRequest, raw))
    except InvalidOrder:
        return None


class SyncStorefront:
    """`Storefront` for synchronous code: a private event loop on a background thread."""

    def __init__(self, address: str | TemporalConnection | None = None, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self._shop: Storefront = self._run(Storefront.connect(address, **kwargs))
        except BaseException:
            self.close()
            raise

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def place_order(self, order: OrderDocument | dict[str, Any] | str) -> str:
        return self._run(self._shop.place_order(order))

    def status(self, order_id: str) -> OrderStatus:
        return self._run(self._shop.status(order_id))

    def provide_tax_id(self, order_id: str, tax_id: str) -> None:
        self._run(self._shop.provide_tax_id(order_id, tax_id))

    def relationship_accepted(self, order_id: str) -> None:
        self._run(self._shop.relationship_accepted(order_id))

    def cancel(self, order_id: str, reason: str = "") -> None:
        self._run(self._shop.cancel(order_id, reason))

    def wait_for_outcome(self, order_id: str) -> OrderOutcome:
        return self._run(self._shop.wait_for_outcome(order_id))

    def add_licences(self, request: LicenceRequest) -> LicenceOutcome:
        return self._run(self._shop.add_licences(request))

    def validate_order(self, order: OrderDocument | dict[str, Any] | str) -> OrderValidation:
        return self._run(self._shop.validate_order(order))

    def cancel_subscription(
        self, order_id: str, line: int, *, request_id: str | None = None
    ) -> LifecycleChange:
        return self._run(self._shop.cancel_subscription(order_id, line, request_id=request_id))

    def reduce_licences(
        self, order_id: str, line: int, quantity: int, *, request_id: str | None = None
    ) -> LifecycleChange:
        return self._run(
            self._shop.reduce_licences(order_id, line, quantity, request_id=request_id)
        )

    def payment_failed(self, order_id: str) -> PaymentFailedOutcome:
        return self._run(self._shop.payment_failed(order_id))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SyncStorefront:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
