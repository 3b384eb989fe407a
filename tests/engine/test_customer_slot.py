"""The customer's slot as an order that created the customer takes it (activities/
customer_slot.py, workflows/customer_slot.py), on the real dev server: it is told it is
`undisturbed` only when nobody ever asked for the customer's slot before it, so it may plan
against the empty customer it created without reading the subscriptions. Whenever anybody came
first (holding, queued, or in an earlier slot run that has ended), it is not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities import messages as m
from activities.customer_slot import CustomerSlotActivities
from clients.contract import SLOT_HOLDER_QUERY, SlotAnswer, slot_workflow_id
from tests.helpers import eventually
from workflows.customer_slot import CustomerSlotWorkflow

Slots = CustomerSlotActivities


@pytest.fixture
async def slots(client: Client) -> AsyncIterator[Slots]:
    queue = f"slots-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[CustomerSlotWorkflow]):
        yield CustomerSlotActivities(client, queue)


def request(customer_id: str, holder: str, *, created: bool = False) -> m.CustomerSlotRequest:
    return m.CustomerSlotRequest(
        customer_id=customer_id,
        workflow_id=holder,
        purpose=holder,
        lease_seconds=600,
        created_customer=created,
    )


async def release(slots: Slots, customer_id: str, holder: str) -> None:
    await slots.release_customer_slot(
        m.CustomerSlotRelease(customer_id=customer_id, workflow_id=holder)
    )


async def test_the_customers_creator_asking_first_is_undisturbed(slots: Slots) -> None:
    customer = str(uuid.uuid4())
    answer = await slots.take_customer_slot(request(customer, "order-creator", created=True))
    assert answer == SlotAnswer(granted=True, grant_number=1, undisturbed=True)
    # Asked again (an activity retried, a replay): the same answer.
    again = await slots.take_customer_slot(request(customer, "order-creator", created=True))
    assert again == answer


async def test_a_creator_after_a_holder_is_queued_and_not_undisturbed(slots: Slots) -> None:
    """(The grant that follows by signal: tests/engine/test_ordering_rules.py, racing orders.)"""
    customer = str(uuid.uuid4())
    first = await slots.take_customer_slot(request(customer, "order-other"))
    assert first.granted and not first.undisturbed
    creator = await slots.take_customer_slot(request(customer, "order-creator", created=True))
    assert creator == SlotAnswer(granted=False)
    await release(slots, customer, "order-other")


async def test_a_creator_after_an_ended_slot_run_is_not_undisturbed(
    slots: Slots, client: Client
) -> None:
    customer = str(uuid.uuid4())
    await slots.take_customer_slot(request(customer, "order-other"))
    await release(slots, customer, "order-other")
    handle = client.get_workflow_handle(slot_workflow_id(customer))
    await asyncio.wait_for(handle.result(), 30)  # nobody holds or waits: the run ends
    creator = await slots.take_customer_slot(request(customer, "order-creator", created=True))
    assert creator.granted and not creator.undisturbed


async def test_a_release_for_an_ended_slot_run_is_nothing(slots: Slots) -> None:
    await release(slots, str(uuid.uuid4()), "order-nobody")


async def test_a_second_take_is_answered_on_its_own(slots: Slots) -> None:
    """An order that gave the slot back (to wait for vetting) and takes it again while the same
    slot run is open gets the answer of now, not its first take's (each take its own update)."""
    customer = str(uuid.uuid4())
    first = await slots.take_customer_slot(request(customer, "order-again"))
    assert first.granted
    await release(slots, customer, "order-again")
    other = await slots.take_customer_slot(request(customer, "order-other"))
    assert other.granted  # the run stays open: held by another
    again = request(customer, "order-again")
    again.take = 1
    assert await slots.take_customer_slot(again) == SlotAnswer(granted=False)
    await release(slots, customer, "order-again")  # withdrawn
    await release(slots, customer, "order-other")


async def test_a_holder_giving_back_and_taking_again_at_once_gets_a_new_hold(
    client: Client,
) -> None:
    """A customer's subscriptions workflow gives the slot back after one change and asks for it
    again for the next; both can reach the slot in one workflow task of its (here: sent while
    no worker runs). The take is a new one (a new grant number), the slot stays held by it, and
    an order asking meanwhile waits: never two holders."""
    queue = f"slots-retake-{uuid.uuid4().hex[:8]}"
    slots = CustomerSlotActivities(client, queue)
    customer = str(uuid.uuid4())
    holder = "subscriptions-retake"
    async with Worker(client, task_queue=queue, workflows=[CustomerSlotWorkflow]):
        first = await slots.take_customer_slot(request(customer, holder, created=True))
        assert (first.granted, first.grant_number) == (True, 1)
    # no worker: the release and the next take wait for the slot's same workflow task
    await release(slots, customer, holder)
    again = asyncio.ensure_future(
        slots.take_customer_slot(request(customer, holder).model_copy(update={"take": 1}))
    )
    await asyncio.sleep(1)
    async with Worker(client, task_queue=queue, workflows=[CustomerSlotWorkflow]):
        retaken = await asyncio.wait_for(again, 30)
        assert (retaken.granted, retaken.grant_number) == (True, 2)
        handle = client.get_workflow_handle(slot_workflow_id(customer))
        assert await handle.query(SLOT_HOLDER_QUERY, result_type=str) == holder
        other = await slots.take_customer_slot(request(customer, "order-after"))
        assert not other.granted  # queued behind the new hold
        await release(slots, customer, holder)
        await release(slots, customer, "order-after")


async def test_a_release_sent_again_after_a_crash_never_ends_a_later_hold(client: Client) -> None:
    """A holder's worker crashes after giving the slot back and taking it anew; replayed, the
    release is sent again, naming the take it ended. The slot ignores it: the later hold
    stands, and the order asking meanwhile still waits."""
    queue = f"slots-stale-{uuid.uuid4().hex[:8]}"
    slots = CustomerSlotActivities(client, queue)
    customer = str(uuid.uuid4())
    holder = "subscriptions-stale"

    def give_back(take: int) -> m.CustomerSlotRelease:
        return m.CustomerSlotRelease(customer_id=customer, workflow_id=holder, take=take)

    async with Worker(client, task_queue=queue, workflows=[CustomerSlotWorkflow]):
        first = await slots.take_customer_slot(request(customer, holder, created=True))
        assert first.granted
        await slots.release_customer_slot(give_back(0))
        handle = client.get_workflow_handle(slot_workflow_id(customer))
        second = await slots.take_customer_slot(
            request(customer, holder).model_copy(update={"take": 1})
        )
        assert second.granted
        other = await slots.take_customer_slot(request(customer, "order-waiting"))
        assert not other.granted

        await slots.release_customer_slot(give_back(0))  # sent again

        await asyncio.sleep(0.5)
        assert await handle.query(SLOT_HOLDER_QUERY, result_type=str) == holder
        await slots.release_customer_slot(give_back(1))

        async def handed_on() -> bool:
            holding: str | None = await handle.query(SLOT_HOLDER_QUERY, result_type=str)
            return holding == "order-waiting"

        await eventually(handed_on, timeout=10, what="the slot handed to the waiting order")
        await release(slots, customer, "order-waiting")
