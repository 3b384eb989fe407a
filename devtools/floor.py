"""The empty workflow the benchmark measures the engine against: Temporal's floor on this machine,
through the same client, payload encryption and kind of worker process as an order.

    python -m devtools.floor <temporal address>    # a worker for it, until SIGTERM
"""

from __future__ import annotations

import asyncio
import signal
import sys

from pydantic import BaseModel
from temporalio import workflow
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

FLOOR_WORKFLOW = "BenchFloorWorkflow"
FLOOR_TASK_QUEUE = "bench-floor"
# Run like the engine's workflows (workers/worker.py): its module passed through the sandbox.
FLOOR_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("devtools.floor")
)


class FloorInput(BaseModel):
    n: int = 0


@workflow.defn(name=FLOOR_WORKFLOW)
class FloorWorkflow:
    """Does nothing: one workflow task, started and completed."""

    @workflow.run
    async def run(self, given: FloorInput) -> int:
        return given.n


async def serve(address: str) -> None:
    from clients.temporal_connection import local_server
    from workers.worker import connect

    client = await connect(local_server(address))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with Worker(
        client, task_queue=FLOOR_TASK_QUEUE, workflows=[FloorWorkflow], workflow_runner=FLOOR_RUNNER
    ):
        print("floor worker ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
