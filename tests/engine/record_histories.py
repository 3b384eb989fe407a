"""Record workflow histories for the replay test: `python -m tests.engine.record_histories`.

Runs representative orders on a local dev server against the sandbox and writes their
histories to tests/engine/histories/. Re-record when a workflow change is meant to ship
together with a versioning plan; move the files it replaces into a folder of their own under
histories/ (`earlier/`: the first release's; `before-refund-windows/`: the lean course before
issue 16; the replay test replays every folder) to prove that running orders still replay.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from clients.contract import (
    SEARCH_ATTRIBUTES,
    LicenceRequest,
    licences_workflow_id,
    order_workflow_id,
    slot_workflow_id,
)
from clients.partner_center import PartnerCenterClient
from clients.payloads import data_converter
from clients.storefront import Storefront
from clients.subscription_lifecycle import customer_subscriptions_workflow_id
from devtools.dev import dynamic_config_args
from devtools.samples import (
    BUSINESS_BASIC,
    DYNAMICS_SALES,
    EDUCATION_A1,
    OFFICE_E3,
    existing_tenant,
    known_customer,
    line,
    new_customer,
    order,
)
from devtools.sandbox_settings import sandbox_client_config
from devtools.temporal_cli import temporal_binary
from sandbox.admin_client import SandboxAdmin
from sandbox.core import SandboxSettings
from sandbox.server import SandboxServer
from tests.helpers import engine_config_for_tests
from workers.worker import build_worker

OUT = Path(__file__).parent / "histories"
QUEUE = "record-histories"


async def record() -> None:
    OUT.mkdir(exist_ok=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=dynamic_config_args(),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=data_converter(from_env=False),  # readable by any future key ring
    )
    with SandboxServer(SandboxSettings(provisioning_delay_seconds=0.3)) as sandbox:
        admin = SandboxAdmin(sandbox.base_url)
        pc = PartnerCenterClient.from_config(sandbox_client_config(sandbox))
        shop = Storefront(env.client, task_queue=QUEUE)
        async with build_worker(env.client, pc, engine_config_for_tests(), task_queue=QUEUE):
            ids: dict[str, str] = {}
            new = order(
                "rec-new",
                new_customer("recnew"),
                line(BUSINESS_BASIC, 5),
                line(OFFICE_E3, 2, "annual"),
            )
            await shop.place_order(new)
            created = await shop.wait_for_outcome(new.order_id)
            ids["order_new_customer"] = order_workflow_id(new.order_id)
            # The slot its creator started holding (no update)
            ids["customer_slot_creator"] = slot_workflow_id(str(created.customer_id))

            ru = order(
                "rec-ru",
                new_customer(
                    "recru",
                    country="RU",
                    address={"city": "Moscow", "postal_code": "125009", "state": ""},
                ),
                line(OFFICE_E3, 1),
            )
            await shop.place_order(ru)
            while (await shop.status(ru.order_id)).waiting is None:
                await asyncio.sleep(0.1)
            await shop.provide_tax_id(ru.order_id, "7707083893")
            await shop.wait_for_outcome(ru.order_id)
            ids["order_tax_id_later"] = order_workflow_id(ru.order_id)

            await admin.add_tenant("recexisting.onmicrosoft.com", "Existing")
            ex = order("rec-existing", existing_tenant("recexisting.onmicrosoft.com"))
            await shop.place_order(ex)
            while (await shop.status(ex.order_id)).waiting is None:
                await asyncio.sleep(0.1)
            await admin.accept_relationship("recexisting.onmicrosoft.com")
            await shop.relationship_accepted(ex.order_id)
            await shop.wait_for_outcome(ex.order_id)
            ids["order_existing_tenant"] = order_workflow_id(ex.order_id)

            plain = await admin.add_customer("Plain", "recplain.onmicrosoft.com")
            refused = order(
                "rec-refused", known_customer(plain), line(EDUCATION_A1, 1, segment="Education")
            )
            await shop.place_order(refused)
            await shop.wait_for_outcome(refused.order_id)
            ids["order_refused"] = order_workflow_id(refused.order_id)

            dyn = order("rec-dynamics", known_customer(plain), line(DYNAMICS_SALES, 3))
            await shop.place_order(dyn)
            outcome = await shop.wait_for_outcome(dyn.order_id)
            await shop.add_licences(
                LicenceRequest(
                    request_id="rec-licences",
                    customer_id=plain,
                    subscription_id=str(outcome.lines[0].subscription_id),
                    quantity=2,
                )
            )
            ids["licences"] = licences_workflow_id("rec-licences")
            ids["customer_slot"] = slot_workflow_id(plain)
            # After the purchase: a reduction of the Dynamics order's licences, and a failed
            # payment undoing the new customer's order (the customers' subscriptions workflows
            # keep running: their histories so far)
            await shop.reduce_licences(dyn.order_id, 0, 1)
            await shop.payment_failed(new.order_id)
            ids["customer_subscriptions"] = customer_subscriptions_workflow_id(plain)
            ids["customer_subscriptions_undone"] = customer_subscriptions_workflow_id(
                str(created.customer_id)
            )

            for name, workflow_id in ids.items():
                handle = env.client.get_workflow_handle(workflow_id)
                if name.startswith("customer_slot"):  # its run ends once let go
                    await asyncio.wait_for(handle.result(), 60)
                history = await handle.fetch_history()
                (OUT / f"{name}.json").write_text(history.to_json())
                print(f"recorded {name}: {len(history.events)} events")
        await pc.aclose()
        await admin.aclose()
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
