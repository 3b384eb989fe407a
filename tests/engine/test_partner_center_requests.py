"""Each scenario of the ordering rules asks Partner Center exactly the requests it needs, no more
(devtools/scenarios.py lists them; docs/PERFORMANCE.md says why each is needed): counted by a
sandbox of their own, on a worker that has seen the offers once (catalog facts and the
agreement's template are then remembered, not asked again). The benchmark prints the same
figures; here they are asserted exactly, request by request."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from activities import messages as m
from clients.contract import order_workflow_id, slot_workflow_id
from clients.storefront import Storefront
from devtools.samples import BUSINESS_BASIC, line, new_customer, order
from devtools.scenarios import SCENARIOS, Scenario, requests_of, warm_up
from ordering.config import load_config
from ordering.status import Phase
from sandbox.admin_client import SandboxAdmin
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from tests.helpers import activity_type, engine_worker

Counting = tuple[Storefront, SandboxAdmin]


@pytest.fixture(scope="module")
async def counting(temporal: WorkflowEnvironment) -> AsyncIterator[Counting]:
    """A sandbox that provisions at once, asked by nothing else, and a worker with the built-in
    configuration that has seen the scenarios' offers."""
    with SandboxServer(SandboxSettings(provisioning_delay_seconds=0)) as sandbox:
        queue = f"counting-{uuid.uuid4().hex[:8]}"
        async with engine_worker(
            temporal.client, sandbox, task_queue=queue, config=load_config()
        ) as shop:
            admin = SandboxAdmin(sandbox.base_url)
            await warm_up(shop, uuid.uuid4().hex[:8])
            yield shop, admin
            await admin.aclose()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_each_scenario_asks_partner_center_only_what_it_needs(
    counting: Counting, scenario: Scenario
) -> None:
    shop, admin = counting
    outcome, requests = await requests_of(scenario, shop, admin, uuid.uuid4().hex[:8])
    assert outcome.phase is Phase.COMPLETED, outcome.refusal
    assert requests == Counter(scenario.requests)
    assert requests.total() == scenario.minimum


async def test_the_standard_order_asks_seven_times_and_its_history_is_short(
    counting: Counting, temporal: WorkflowEnvironment
) -> None:
    """The standard order (a new customer, one Business line): the domain check, the customer,
    the agreement, the cart, the checkout, one look at the order, one at the customer's
    subscriptions (the refund window of what it created); each a Partner Center step of its
    own, the customer's creation and the checkout as regular activities (what cannot be
    undone), the rest as local ones; besides, the first step (which asks nobody), the customer
    slot's taking and giving back, and telling the customer's subscriptions workflow what was
    bought."""
    shop, admin = counting
    unique = uuid.uuid4().hex[:8]
    document = order(f"std-{unique}", new_customer(f"std{unique}"), line(BUSINESS_BASIC, 3))
    await admin.clear_calls()
    await shop.place_order(document)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED
    assert sum((await admin.calls()).values()) == 7

    history = await temporal.client.get_workflow_handle(
        order_workflow_id(document.order_id)
    ).fetch_history()
    steps = [kind for e in history.events if (kind := activity_type(e)) is not None]
    assert steps == [
        m.PREPARE_ORDER,
        m.CHECK_DOMAIN,
        m.CREATE_CUSTOMER,
        m.TAKE_CUSTOMER_SLOT,
        m.RECORD_CUSTOMER_AGREEMENT,
        m.CREATE_CART,
        m.CHECKOUT_CART,
        m.AWAIT_PROVISIONING,
        m.READ_SUBSCRIPTIONS,
        m.RECORD_PURCHASES,
        m.RELEASE_CUSTOMER_SLOT,
    ]
    tasks = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    # Three workflow tasks: the first (up to the customer's creation), the one after it (up to
    # the checkout), the last. Thirty-four events: those tasks' 9, start and end 2, the two
    # regular activities' 6, ten local activities' markers, the two patches' markers and their
    # search attribute (4), and the status's search attributes set once per task (3).
    assert len(tasks) == 3
    assert len(history.events) == 34

    # The slot the order took for the customer it created: its first run, started holding it
    # (no update, no grant signal), given back once, and closed as soon as nobody held it.
    slot_handle = temporal.client.get_workflow_handle(slot_workflow_id(str(outcome.customer_id)))
    await asyncio.wait_for(slot_handle.result(), 30)  # the release ends its run
    slot = await slot_handle.fetch_history()
    signals = [
        e for e in slot.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    outgoing = [
        e
        for e in slot.events
        if e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
    ]
    assert len(signals) == 1 and not outgoing
    assert slot.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    # Two workflow tasks (the start, the release); thirteen events: start and end 2, the tasks'
    # 6, the lease's timer started and cancelled 2, the release's signal, the patch marker and
    # its search attribute.
    slot_tasks = [
        e for e in slot.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    assert len(slot_tasks) == 2
    assert len(slot.events) == 13
    assert not any(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in slot.events
    )
