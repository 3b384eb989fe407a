"""Build 2 of the order workflow, for tests/engine/test_worker_versioning.py: the same workflow
type, changed in a way that running orders could not replay. Before anything else it starts a
timer, so its first command differs from build 1's: an order that started on build 1 and went
on here would fail its next workflow task with a non-determinism error.

A module of its own: the workflow sandbox imports the module that defines a workflow again for
each run, and this one imports only what workflow code may.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from clients.contract import MISSING_SUBMISSION, ORDER_WORKFLOW, Submission
    from ordering.status import OrderOutcome
    from workflows.order import OrderWorkflow

BUILD_TWO_PAUSE = timedelta(milliseconds=10)


@workflow.defn(name=ORDER_WORKFLOW)
class OrderWorkflowBuildTwo(OrderWorkflow):
    @workflow.run
    async def run(self, submission: Submission = MISSING_SUBMISSION) -> OrderOutcome:
        await workflow.sleep(BUILD_TWO_PAUSE)  # the change: a timer before anything else
        return await super().run(submission)
