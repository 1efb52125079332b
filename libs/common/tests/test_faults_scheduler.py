"""Scheduler faults: replicas racing over the same day, and a job that keeps failing."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from uplift.common.db import asyncpg_url, session_factory
from uplift.common.scheduler import ScheduledJob, Scheduler, business_today
from uplift.common.testkit import create_platform_schema, eventually, unique_name
from uplift.common.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration


async def test_two_schedulers_racing_over_five_jobs_run_each_job_once_for_the_day(database_url: str) -> None:
    schema = unique_name("sf")
    platform = await create_platform_schema(database_url, schema)
    engine = create_async_engine(asyncpg_url(database_url), pool_size=6)
    sessions = session_factory(engine)
    calls: Counter[str] = Counter()

    def job(name: str) -> ScheduledJob:
        async def run(uow: UnitOfWork, day: dt.date) -> dict[str, Any]:
            calls[name] += 1
            await asyncio.sleep(0.03)  # long enough for the other replica to reach the same job
            uow.emit(f"{schema}.job.ran.v1", subject=name, data={"day": day.isoformat()})
            return {"job": name}

        return ScheduledJob(name, run)

    jobs = [job(f"job{i}") for i in range(5)]
    day = dt.date(2026, 6, 1)
    replicas = [Scheduler(service=schema, jobs=jobs, sessions=sessions, platform=platform) for _ in range(2)]
    try:
        # Three ticks of both replicas at once: every job must run exactly once over all of them.
        results = []
        for _ in range(3):
            results += await asyncio.gather(*(r.run_due(day) for r in replicas))
        async with engine.connect() as conn:
            runs = (
                await conn.execute(sa.select(platform.scheduler_runs.c.job, platform.scheduler_runs.c.result))
            ).all()
            events = (await conn.execute(sa.select(platform.outbox.c.subject, platform.outbox.c.seq))).all()
    finally:
        await engine.dispose()
    assert calls == Counter({f"job{i}": 1 for i in range(5)})
    assert sorted((r[0], r[1]["job"]) for r in runs) == [(f"job{i}", f"job{i}") for i in range(5)]
    assert sorted(events) == [(f"job{i}", 1) for i in range(5)]  # one event per job, in the job's transaction
    outcomes = Counter("ran" if isinstance(value, dict) else value for result in results for value in result.values())
    assert outcomes["ran"] == 5
    assert set(outcomes) <= {"ran", "busy", "skipped"}


async def test_a_failing_job_does_not_starve_the_jobs_after_it(database_url: str) -> None:
    schema = unique_name("sf")
    platform = await create_platform_schema(database_url, schema)
    engine = create_async_engine(asyncpg_url(database_url), pool_size=2)
    ran: list[dt.date] = []

    async def broken(uow: UnitOfWork, day: dt.date) -> None:
        raise RuntimeError("a bad row in the data this job reads")

    async def rewards(uow: UnitOfWork, day: dt.date) -> dict[str, Any]:
        ran.append(day)
        return {"granted": 0}

    scheduler = Scheduler(
        service=schema,
        jobs=[ScheduledJob("overdue_visits", broken), ScheduledJob("rewards", rewards)],
        sessions=session_factory(engine),
        platform=platform,
        interval=0.1,
    )
    scheduler.start()  # the real loop: ticks every 0.1 s
    try:
        await eventually(_ran(ran), timeout=2, what="the healthy job to run despite the broken one")
    finally:
        await scheduler.stop()
        await engine.dispose()
    assert ran == [business_today()]


def _ran(ran: list[dt.date]) -> Any:
    async def check() -> bool:
        return bool(ran)

    return check
