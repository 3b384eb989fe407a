"""A CI-sized run of the chaos harness: 60 orders, 2 worker kills, one server restart, faults
on. Nothing may be lost, duplicated or drifted."""

from __future__ import annotations

from workers.chaos import run_chaos


async def test_chaos_run_loses_duplicates_and_drifts_nothing() -> None:
    report = await run_chaos(orders=60, kills=2, server_restarts=1, seed=3)
    print(report.render())
    assert report.worker_kills == 2 and report.server_restarts == 1
    assert report.placed == 60
    assert report.still_running == []
    assert report.duplicate_customers == []
    assert report.duplicate_subscriptions == []
    assert report.drift == {}
    assert report.licence_failures == []
    assert report.ok
    assert report.calls > report.placed  # faults happened and were retried
