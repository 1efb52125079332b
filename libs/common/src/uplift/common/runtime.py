"""The live parts of a running service (engine, NATS, relay, consumers, scheduler) and the request
dependencies that reach them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from uplift.common.consumer import ConsumerSpec, EventConsumer
from uplift.common.db import PlatformTables, create_engine, session_factory
from uplift.common.nats_link import NatsLink
from uplift.common.openapi import may_raise
from uplift.common.read_pool import ReadPool
from uplift.common.relay import OutboxRelay
from uplift.common.scheduler import ScheduledJob, Scheduler
from uplift.common.settings import ServiceSettings
from uplift.common.unit_of_work import UnitOfWork


@dataclass
class ServiceDefinition:
    """What a service is: its name, schema, routers, consumers and scheduled jobs."""

    name: str
    title: str
    description: str
    routers: Sequence[APIRouter] = ()
    consumers: Sequence[ConsumerSpec] = ()
    jobs: Sequence[ScheduledJob] = ()
    platform: PlatformTables | None = None
    version: str = "1.0.0"
    on_startup: Sequence[Callable[[FastAPI], Any]] = field(default_factory=list)

    @property
    def schema(self) -> str:
        return self.name


class Runtime:
    """The live parts of a running service, kept on `app.state.runtime`."""

    def __init__(self, definition: ServiceDefinition, settings: ServiceSettings) -> None:
        assert definition.platform is not None, "a service declares its platform tables"
        self.definition = definition
        self.settings = settings
        self.platform: PlatformTables = definition.platform
        self.engine: AsyncEngine = create_engine(
            settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.read_pool = ReadPool(settings.asyncpg_dsn, max_size=max(2, settings.db_pool_size))
        self.nats = NatsLink(settings.nats_url, name=f"uplift-{definition.name}")
        self.relay = OutboxRelay(
            service=definition.name,
            schema=definition.schema,
            dsn=settings.asyncpg_dsn,
            nats=self.nats,
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval_seconds,
            retention_days=settings.outbox_retention_days,
            duplicate_window=settings.nats_duplicate_window_seconds,
            stream_replicas=settings.nats_stream_replicas,
        )
        self.consumers = [
            (spec.consumer_class or EventConsumer)(
                service=definition.name,
                spec=spec,
                sessions=self.sessions,
                platform=self.platform,
                nats=self.nats,
                batch_size=settings.consumer_batch_size,
                max_deliver=settings.consumer_max_deliver,
                backoff=settings.consumer_backoff_seconds,
                ack_wait=settings.consumer_ack_wait_seconds,
                duplicate_window=settings.nats_duplicate_window_seconds,
                stream_replicas=settings.nats_stream_replicas,
                on_committed=self.relay.wake,
            )
            for spec in definition.consumers
        ]
        self.scheduler = Scheduler(
            service=definition.name,
            jobs=definition.jobs,
            sessions=self.sessions,
            platform=self.platform,
            interval=settings.scheduler_interval_seconds,
            timezone=settings.timezone,
            on_committed=self.relay.wake,
        )

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, platform=self.platform, source=f"uplift/{self.definition.name}")

    def consumer_named(self, name: str) -> EventConsumer | None:
        return next((c for c in self.consumers if c.name == name), None)

    async def start(self) -> None:
        self.nats.start()
        if self.settings.relay_enabled:
            self.relay.start()
        if self.settings.consumers_enabled:
            for consumer in self.consumers:
                consumer.start()
        if self.settings.scheduler_enabled:
            self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.stop()
        for consumer in self.consumers:
            await consumer.stop()
        await self.relay.stop()
        await self.nats.close()
        await self.read_pool.close()
        await self.engine.dispose()

    async def database_ok(self) -> bool:
        async def probe() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))

        try:
            await asyncio.wait_for(probe(), 2)
            return True
        except Exception:
            return False

    async def outbox_backlog(self) -> int | None:
        outbox = self.platform.outbox
        stmt = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))

        async def count() -> int:
            async with self.engine.connect() as conn:
                return int((await conn.execute(stmt)).scalar_one())

        try:
            return await asyncio.wait_for(count(), 2)
        except Exception:
            return None


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@may_raise(503)  # the service's database is unavailable
async def runtime_dependency(request: Request) -> Runtime:
    """`get_runtime` as a dependency: async, because FastAPI runs a plain function in its thread pool."""
    return get_runtime(request)


RuntimeDep = Annotated[Runtime, Depends(runtime_dependency)]


@may_raise(503)  # the service's database is unavailable
async def unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """A request-scoped unit of work; the endpoint calls `await uow.commit()` when its work is done."""
    async with get_runtime(request).unit_of_work() as uow:
        yield uow


UnitOfWorkDep = Annotated[UnitOfWork, Depends(unit_of_work)]


@may_raise(503)  # the service's database is unavailable
async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for reads (no events, nothing to commit)."""
    async with get_runtime(request).sessions() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(read_session)]
