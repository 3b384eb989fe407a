"""The status says what an order waits for, and the configuration says how long and how often
the engine waits: the customer slot's lease, and how a licence request follows its change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from clients.contract import (
    LicenceRequest,
    licences_workflow_id,
    order_workflow_id,
    slot_workflow_id,
)
from clients.storefront import Storefront
from devtools.samples import DYNAMICS_SALES, OFFICE_E3, catalog_item, known_customer, line, order
from ordering.config import EngineConfig
from ordering.status import Phase, WaitingFor
from sandbox.admin_client import SandboxAdmin
from tests.helpers import engine_config_for_tests, wait_for

A_DAY = 86_400


async def test_an_order_waiting_for_provisioning_says_so(
    shop: Storefront, client: Client, admin: SandboxAdmin, unique: str
) -> None:
    customer_id = await admin.add_customer("Prov", f"prov{unique}.onmicrosoft.com")
    document = order(f"prov-{unique}", known_customer(customer_id), line(OFFICE_E3, 2))
    previous = (await admin.set_settings())["provisioning_delay_seconds"]
    await admin.set_settings(provisioning_delay_seconds=A_DAY)  # Microsoft takes its time
    try:
        await shop.place_order(document)
        await wait_for(shop, document.order_id, WaitingFor.PROVISIONING)
    finally:
        await admin.set_settings(provisioning_delay_seconds=previous)

    status = await shop.status(document.order_id)
    assert status.phase is Phase.PROVISIONING
    assert status.waiting is not None and status.waiting.what is WaitingFor.PROVISIONING
    assert not status.cancellable
    handle = client.get_workflow_handle(order_workflow_id(document.order_id))
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "Microsoft to provision the subscriptions" in metadata.current_details

    await admin.advance_clock(A_DAY)
    outcome = await shop.wait_for_outcome(document.order_id)
    assert outcome.phase is Phase.COMPLETED
    assert (await shop.status(document.order_id)).waiting is None


def _with_waits(**waits: timedelta) -> EngineConfig:
    config = engine_config_for_tests()
    return config.model_copy(update={"waits": config.waits.model_copy(update=waits)})


async def _timers(client: Client, workflow_id: str, run_id: str | None = None) -> list[timedelta]:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return [
        event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for event in history.events
        if event.HasField("timer_started_event_attributes")
    ]


async def test_the_customer_slot_is_leased_and_licences_followed_as_configured(
    shop_with: Callable[[EngineConfig], Awaitable[Storefront]],
    client: Client,
    admin: SandboxAdmin,
    unique: str,
) -> None:
    lease = timedelta(minutes=17)
    poll_every = timedelta(milliseconds=300)
    expires_after = timedelta(minutes=97)
    shop = await shop_with(
        _with_waits(
            customer_slot_lease=lease,
            provisioning_poll_every=poll_every,
            provisioning_expires_after=expires_after,
        )
    )
    customer_id = await admin.add_customer("Lease", f"lease{unique}.onmicrosoft.com")
    document = order(f"lease-{unique}", known_customer(customer_id), line(OFFICE_E3, 1))
    await shop.place_order(document)
    assert (await shop.wait_for_outcome(document.order_id)).phase is Phase.COMPLETED

    instance = await admin.add_subscription(customer_id, catalog_item(DYNAMICS_SALES), quantity=3)
    request = LicenceRequest(
        request_id=f"lease-lic-{unique}",
        customer_id=customer_id,
        subscription_id=instance["id"],
        quantity=2,
    )
    # Partner Center accepts the change and carries it out a moment later (202): the licence
    # request waits for the new quantity.
    await admin.set_settings(quantity_change_delay_seconds=0.5)
    try:
        added = await shop.add_licences(request)
    finally:
        await admin.set_settings(quantity_change_delay_seconds=0)
    assert (added.quantity_before, added.quantity_after) == (3, 5)

    # The slot held each of them (the order, then the licence request) for the configured
    # lease: one slot run each, since a run ends when nobody holds or waits for the slot.
    runs = [
        run.run_id
        async for run in client.list_workflows(f'WorkflowId = "{slot_workflow_id(customer_id)}"')
    ]
    assert len(runs) == 2
    for run_id in runs:
        assert (await _timers(client, slot_workflow_id(customer_id), run_id)).count(lease) == 1
    # The licence request followed its change as configured (it polled every 2 s for at most
    # 2 h whatever the configuration said).
    history = await client.get_workflow_handle(
        licences_workflow_id(request.request_id)
    ).fetch_history()
    [awaited] = [
        event.activity_task_scheduled_event_attributes
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.activity_task_scheduled_event_attributes.activity_type.name == "await_quantity"
    ]
    assert awaited.retry_policy.initial_interval.ToTimedelta() == poll_every
    assert awaited.schedule_to_close_timeout.ToTimedelta() == expires_after
