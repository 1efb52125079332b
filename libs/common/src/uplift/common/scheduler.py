"""Time-driven rules (transition ends, rewards, overdue visits...) run once a business day per service.

Every replica runs the loop; a transaction-level advisory lock lets one of them work at a time, and a
`scheduler_runs (job, run_on)` row written in the job's own transaction makes each job idempotent per day: a
job that committed for a day never runs again for that day, a job that failed is tried again on the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from uplift.common.db import PlatformTables, advisory_key
from uplift.common.unit_of_work import UnitOfWork

log = structlog.get_logger("uplift.scheduler")

JobFunc = Callable[[UnitOfWork, dt.date], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    run: JobFunc


def business_today(tz: str = "Asia/Shanghai") -> dt.date:
    return dt.datetime.now(ZoneInfo(tz)).date()


class Scheduler:
    def __init__(
        self,
        *,
        service: str,
        jobs: Sequence[ScheduledJob],
        sessions: async_sessionmaker[AsyncSession],
        platform: PlatformTables,
        interval: float = 60.0,
        timezone: str = "Asia/Shanghai",
        on_committed: Callable[[], None] | None = None,
    ) -> None:
        self.service = service
        self.jobs = list(jobs)
        self.sessions = sessions
        self.platform = platform
        self.interval = interval
        self.timezone = timezone
        self.on_committed = on_committed
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self.jobs:
            self._task = asyncio.create_task(self._loop(), name=f"scheduler:{self.service}")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self.run_due(business_today(self.timezone))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("scheduler_error", service=self.service, error=str(exc))
            await asyncio.sleep(self.interval)

    async def run_due(self, day: dt.date) -> dict[str, Any]:
        """Run every job not yet done for `day`; returns {job: result or "skipped"}."""
        results: dict[str, Any] = {}
        for job in self.jobs:
            try:
                results[job.name] = await self.run_job(job, day)
            except Exception as exc:  # tried again on the next tick; the jobs after it still run
                log.warning("scheduled_job_failed", service=self.service, job=job.name, error=str(exc))
                results[job.name] = "failed"
        return results

    async def run_job(self, job: ScheduledJob, day: dt.date) -> Any:
        runs = self.platform.scheduler_runs
        async with UnitOfWork(self.sessions, platform=self.platform, source=f"uplift/{self.service}") as uow:
            session = uow.session
            key = advisory_key(f"uplift:scheduler:{self.service}:{job.name}")
            if not (await session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(key)))).scalar():
                return "busy"  # another replica is running it right now
            claimed = await session.execute(
                pg_insert(runs)
                .values(job=job.name, run_on=day)
                .on_conflict_do_nothing()
                .returning(runs.c.job)
            )
            if claimed.first() is None:
                return "skipped"
            result = await job.run(uow, day)
            await session.execute(
                sa.update(runs)
                .where(runs.c.job == job.name, runs.c.run_on == day)
                .values(finished_at=sa.func.now(), result=result)
            )
            await uow.commit()
        if self.on_committed is not None:
            self.on_committed()
        log.info("scheduled_job_done", service=self.service, job=job.name, day=day.isoformat())
        return result
