"""The scheduler runs each job once per business day, one instance at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from uplift.common.db import asyncpg_url, session_factory
from uplift.common.scheduler import ScheduledJob, Scheduler
from uplift.common.testkit import create_platform_schema, unique_name
from uplift.common.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration


async def test_a_job_runs_once_per_day_even_with_two_schedulers(database_url: str) -> None:
    schema = unique_name("sch")
    platform = await create_platform_schema(database_url, schema)
    engine = create_async_engine(asyncpg_url(database_url))
    sessions = session_factory(engine)
    calls: list[dt.date] = []

    async def close_transitions(uow: UnitOfWork, day: dt.date) -> dict[str, Any]:
        calls.append(day)
        await asyncio.sleep(0.05)  # long enough for the other replica to try at the same time
        uow.emit(f"{schema}.job.ran.v1", subject=day.isoformat(), data={"day": day.isoformat()})
        return {"closed": 3}

    jobs = [ScheduledJob("close_transitions", close_transitions)]
    a = Scheduler(service=schema, jobs=jobs, sessions=sessions, platform=platform)
    b = Scheduler(service=schema, jobs=jobs, sessions=sessions, platform=platform)
    day = dt.date(2026, 5, 1)
    try:
        results = await asyncio.gather(a.run_due(day), b.run_due(day))
        assert sorted(
            r["close_transitions"] if isinstance(r["close_transitions"], str) else "ran" for r in results
        ) in (
            ["busy", "ran"],
            ["ran", "skipped"],
        )
        again = await a.run_due(day)
        assert again == {"close_transitions": "skipped"}
        next_day = await b.run_due(day + dt.timedelta(days=1))
        assert next_day == {"close_transitions": {"closed": 3}}
        assert calls == [day, day + dt.timedelta(days=1)]
        async with engine.connect() as conn:
            runs = (
                await conn.execute(
                    sa.select(platform.scheduler_runs.c.run_on, platform.scheduler_runs.c.result)
                )
            ).all()
            events = (await conn.execute(sa.select(sa.func.count()).select_from(platform.outbox))).scalar()
        assert sorted(r[0] for r in runs) == [day, day + dt.timedelta(days=1)]
        assert all(r[1] == {"closed": 3} for r in runs)
        assert events == 2  # the job's events rode in its transaction
    finally:
        await engine.dispose()


async def test_a_failed_job_is_tried_again(database_url: str) -> None:
    schema = unique_name("sch")
    platform = await create_platform_schema(database_url, schema)
    engine = create_async_engine(asyncpg_url(database_url))
    attempts = {"n": 0}

    async def flaky(uow: UnitOfWork, day: dt.date) -> dict[str, Any]:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise RuntimeError("transient")
        return {"ok": True}

    scheduler = Scheduler(
        service=schema,
        jobs=[ScheduledJob("flaky", flaky)],
        sessions=session_factory(engine),
        platform=platform,
    )
    try:
        assert await scheduler.run_due(dt.date(2026, 5, 2)) == {"flaky": "failed"}
        assert await scheduler.run_due(dt.date(2026, 5, 2)) == {"flaky": {"ok": True}}
    finally:
        await engine.dispose()
