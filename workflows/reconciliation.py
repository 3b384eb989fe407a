"""ReconciliationWorkflow: started by a Temporal Schedule (workers/reconciliation_schedule.py),
it asks every customer's subscriptions workflow, page by page, to compare the engine's record
with Partner Center (workflows/customer_subscriptions.py), paced at the configured number of
customers a minute: each costs one Partner Center request, and orders keep the rest of the cap.
It continues as new between pages when Temporal suggests it; the schedule skips a run while the
previous one is still going."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import messages as m
    from clients.subscription_lifecycle import RECONCILIATION_WORKFLOW, ReconciliationStart
    from workflows import steps

PAGE_SIZE = 100
BATCH = 10  # customers asked per activity


# Versioned deploys: upgrades, as the coordination queue's worker does (docs/VERSIONING.md).
@workflow.defn(name=RECONCILIATION_WORKFLOW)
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, start: ReconciliationStart) -> int:
        """How many customers were asked (over the chain of runs)."""
        token, asked = start.page_token, start.asked
        while True:
            page = await steps.write(
                m.CUSTOMERS_TO_RECONCILE,
                m.ReconcilePage(page_token=token, page_size=PAGE_SIZE),
                m.CustomersPage,
            )
            for first in range(0, len(page.customer_ids), BATCH):
                batch = page.customer_ids[first : first + BATCH]
                await steps.write(m.ASK_TO_RECONCILE, m.CustomerIds(customer_ids=batch), m.NoInput)
                asked += len(batch)
                workflow.set_current_details(f"**Customers asked to reconcile**: {asked}")
                await workflow.sleep(timedelta(minutes=len(batch) / start.per_minute))
            token = page.next_page_token
            if token is None:
                return asked
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    ReconciliationStart(per_minute=start.per_minute, page_token=token, asked=asked)
                )
