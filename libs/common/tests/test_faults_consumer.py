"""Fault tests of the idempotent consumer: a crash mid-batch, transient and poison handlers, a slow handler, and
a database that is unreachable while messages arrive.

Every test publishes to a stream of its own and checks that each event was applied exactly once (the handler
writes one row per application into a table without a unique key, so a second application would show).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from uplift.common.consumer import ConsumerSpec, EventConsumer, Handler, ParentMissing
from uplift.common.db import PlatformTables, asyncpg_url, session_factory
from uplift.common.embedded import free_tcp_port
from uplift.common.envelope import Envelope
from uplift.common.nats_link import NatsLink, ensure_stream
from uplift.common.testkit import create_platform_schema, eventually, unique_name
from uplift.common.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration


@dataclass
class Bench:
    """A consuming service's schema plus a source stream of its own."""

    name: str
    stream: str
    platform: PlatformTables
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    nats: NatsLink
    consumers: list[EventConsumer] = field(default_factory=list)
    extra_engines: list[AsyncEngine] = field(default_factory=list)

    @property
    def event_type(self) -> str:
        return f"{self.stream.lower()}.thing.happened.v1"

    def consumer(
        self, handler: Handler, *, sessions: async_sessionmaker[AsyncSession] | None = None, **kw: Any
    ) -> EventConsumer:
        kw.setdefault("backoff", [0.1])
        consumer = EventConsumer(
            service=self.name,
            spec=ConsumerSpec(stream=self.stream, handlers={self.event_type: handler}),
            sessions=sessions or self.sessions,
            platform=self.platform,
            nats=self.nats,
            **kw,
        )
        self.consumers.append(consumer)
        return consumer

    async def publish(self, count: int) -> list[uuid.UUID]:
        ids = []
        for n in range(count):
            envelope = Envelope(type=self.event_type, source="t", subject=str(uuid.uuid4()), data={"seq": 1, "n": n})
            await self.nats.js.publish(
                envelope.nats_subject, envelope.to_json_bytes(), headers={"Nats-Msg-Id": str(envelope.id)}
            )
            ids.append(envelope.id)
        return ids

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.text(sql), params)).scalar()

    async def applied_ids(self) -> list[uuid.UUID]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.text(f'SELECT event_id FROM "{self.name}".applied'))).all()
        return [r[0] for r in rows]

    async def inbox_ids(self) -> list[uuid.UUID]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.text(f'SELECT event_id FROM "{self.name}".inbox'))).all()
        return [r[0] for r in rows]

    async def dead_letters(self) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(
                (await conn.execute(sa.text(f'SELECT event_id, attempts FROM "{self.name}".dead_letters'))).all()
            )

    async def idle(self, consumer: EventConsumer) -> bool:
        try:
            info = await self.nats.js.consumer_info(consumer.stream, consumer.name)
        except NotFoundError:
            return False
        return info.num_pending == 0 and info.num_ack_pending == 0 and info.num_redelivered >= 0

    async def close(self) -> None:
        for consumer in self.consumers:
            await consumer.stop()
        # NatsLink.close() drains first, and the drain often waits out its 5 s timeout after a test that
        # NAKed or terminated messages; a test connection has nothing worth draining.
        with contextlib.suppress(Exception):
            await self.nats.client.close()
        await self.nats.close()
        await self.engine.dispose()
        for engine in self.extra_engines:
            await engine.dispose()


@pytest.fixture
async def bench(database_url: str, nats_url: str) -> AsyncIterator[Bench]:
    name = unique_name("cf")
    platform = await create_platform_schema(database_url, name)
    engine = create_async_engine(asyncpg_url(database_url), pool_size=5)
    async with engine.begin() as conn:
        # No unique key on purpose: applying one event twice leaves two rows.
        await conn.execute(sa.text(f'CREATE TABLE "{name}".applied (event_id uuid NOT NULL, n int NOT NULL)'))
    link = NatsLink(nats_url, name=name)
    link.start()
    assert await link.wait_connected(10)
    stream = unique_name("CFS").upper()
    await ensure_stream(link.js, stream)
    side = Bench(
        name=name, stream=stream, platform=platform, engine=engine, sessions=session_factory(engine), nats=link
    )
    try:
        yield side
    finally:
        await side.close()


def recording(bench: Bench, before: Callable[[Envelope], Any] | None = None) -> Handler:
    async def handle(uow: UnitOfWork, event: Envelope) -> None:
        await uow.session.execute(
            sa.text(f'INSERT INTO "{bench.name}".applied VALUES (:id, :n)'), {"id": event.id, "n": event.data["n"]}
        )
        if before is not None:
            result = before(event)
            if asyncio.iscoroutine(result):
                await result

    return handle


def exactly_once(applied: list[uuid.UUID], published: list[uuid.UUID]) -> None:
    assert sorted(applied) == sorted(published)
    assert len(set(applied)) == len(applied)


@pytest.mark.parametrize("crash", ["before_commit", "after_commit_before_ack"])
async def test_consumer_killed_mid_batch_is_resumed_by_a_new_one_and_each_event_applies_once(
    bench: Bench, crash: str
) -> None:
    published = await bench.publish(20)
    calls = {"n": 0}
    first: EventConsumer

    def kill_on_eighth(_: Envelope) -> None:
        calls["n"] += 1
        if crash == "before_commit" and calls["n"] == 8:
            assert first._task is not None
            first._task.cancel()  # the next await inside the handler raises CancelledError: a crash mid-batch

    async def handler_then_await(event: Envelope) -> None:
        kill_on_eighth(event)
        await asyncio.sleep(0)

    def kill_after_commit() -> None:
        assert first._task is not None
        first._task.cancel()  # committed, but no ack will be sent

    first = bench.consumer(
        recording(bench, handler_then_await),
        batch_size=20,
        ack_wait=2.0,
        on_committed=kill_after_commit if crash == "after_commit_before_ack" else None,
    )
    first.start()
    await eventually(lambda: _done(first), timeout=10, what="the first consumer to die")

    if crash == "before_commit":
        assert calls["n"] == 8
        applied_before = await bench.applied_ids()
        assert len(applied_before) < 8  # the half-done batch rolled back (an earlier, smaller batch may have committed)
        assert sorted(await bench.inbox_ids()) == sorted(applied_before)
    else:
        assert len(await bench.applied_ids()) > 0  # committed, never acked

    second = bench.consumer(recording(bench), batch_size=20, ack_wait=2.0)  # same durable name
    assert second.name == first.name
    second.start()
    await eventually(lambda: _count_is(bench, 20), timeout=12, what="20 events applied")
    await eventually(lambda: bench.idle(second), timeout=8, what="every message acked")
    exactly_once(await bench.applied_ids(), published)
    exactly_once(await bench.inbox_ids(), published)
    assert await bench.dead_letters() == []


async def _done(consumer: EventConsumer) -> bool:
    return consumer._task is not None and consumer._task.done()


async def _count_is(bench: Bench, n: int) -> bool:
    return len(await bench.applied_ids()) >= n


async def test_handler_failing_twice_then_succeeding_applies_once_without_a_dead_letter(bench: Bench) -> None:
    published = await bench.publish(3)
    flaky_id = published[1]
    attempts = {"n": 0}

    async def fail_twice(event: Envelope) -> None:
        if event.id == flaky_id:
            attempts["n"] += 1
            if attempts["n"] <= 2:
                raise ConnectionResetError("downstream blip")

    consumer = bench.consumer(recording(bench, fail_twice), max_deliver=3)
    consumer.start()
    await eventually(lambda: _count_is(bench, 3), timeout=8, what="3 applied")
    await eventually(lambda: bench.idle(consumer), timeout=8, what="drained")
    assert attempts["n"] == 3
    exactly_once(await bench.applied_ids(), published)  # the two failed attempts' inserts were rolled back
    assert await bench.dead_letters() == []


async def test_handler_failing_on_every_delivery_is_dead_lettered_after_max_deliver(bench: Bench) -> None:
    published = await bench.publish(3)
    poison_id = published[0]
    attempts = {"n": 0}

    async def poison(event: Envelope) -> None:
        if event.id == poison_id:
            attempts["n"] += 1
            raise ValueError("cannot apply")

    consumer = bench.consumer(recording(bench, poison), max_deliver=2)
    consumer.start()
    await eventually(lambda: _count_is(bench, 2), timeout=8, what="the healthy events applied")
    await eventually(lambda: _has_dead_letter(bench), timeout=8, what="a dead letter")
    await asyncio.sleep(1.0)  # terminated: the server must not deliver it again
    assert attempts["n"] == 2
    exactly_once(await bench.applied_ids(), published[1:])
    assert [(r[0], r[1]) for r in await bench.dead_letters()] == [(poison_id, 2)]
    assert poison_id not in await bench.inbox_ids()


async def _has_dead_letter(bench: Bench) -> bool:
    return len(await bench.dead_letters()) > 0


async def test_handler_slower_than_ack_wait_still_applies_once(bench: Bench) -> None:
    published = await bench.publish(4)
    slow_id = published[2]
    calls = {"n": 0}

    async def slow_first_time(event: Envelope) -> None:
        if event.id == slow_id:
            calls["n"] += 1
            if calls["n"] == 1:
                await asyncio.sleep(1.6)  # the server redelivers the whole batch meanwhile

    consumer = bench.consumer(recording(bench, slow_first_time), ack_wait=1.0)
    consumer.start()
    await eventually(lambda: _count_is(bench, 4), timeout=8, what="4 applied")
    await asyncio.sleep(1.5)  # give the redelivered copies time to arrive and be skipped
    await eventually(lambda: bench.idle(consumer), timeout=8, what="drained")
    exactly_once(await bench.applied_ids(), published)
    exactly_once(await bench.inbox_ids(), published)


async def test_events_that_arrive_while_the_database_is_unreachable_are_applied_once_it_returns(
    bench: Bench,
) -> None:
    # The consumer's database is unreachable: its engine points at a port nothing listens on.
    down = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_tcp_port()}/gone", pool_pre_ping=True)
    bench.extra_engines.append(down)
    consumer = bench.consumer(recording(bench), sessions=session_factory(down), max_deliver=2, ack_wait=0.5)
    published = await bench.publish(3)
    consumer.start()
    await asyncio.sleep(4.0)  # a four-second outage

    consumer.sessions = bench.sessions  # the database is back
    try:
        await eventually(lambda: _count_is(bench, 3), timeout=3, what="the 3 events applied after the outage")
    finally:
        info = await bench.nats.js.consumer_info(consumer.stream, consumer.name)
        print(  # evidence for the report: where the messages went
            f"applied={len(await bench.applied_ids())} dead_letters={len(await bench.dead_letters())} "
            f"num_pending={info.num_pending} ack_pending={info.num_ack_pending} "
            f"redelivered={info.num_redelivered} delivered={info.delivered}"
        )
    exactly_once(await bench.applied_ids(), published)


async def test_child_parked_while_a_replica_applies_its_parent_is_released(bench: Bench) -> None:
    async with bench.engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE TABLE "{bench.name}".households (id text PRIMARY KEY)'))
        await conn.execute(sa.text(f'CREATE TABLE "{bench.name}".persons (id text PRIMARY KEY, household text)'))
    prefix = bench.stream.lower()
    household_type, person_type = f"{prefix}.household.enrolled.v1", f"{prefix}.person.added.v1"
    in_person_handler = asyncio.Event()
    misses = {"n": 0}

    async def on_household(uow: UnitOfWork, event: Envelope) -> None:
        await uow.session.execute(sa.text(f'INSERT INTO "{bench.name}".households VALUES (:id)'), {"id": event.subject})

    async def on_person(uow: UnitOfWork, event: Envelope) -> None:
        household = event.data["household_id"]
        known = await uow.session.execute(
            sa.text(f'SELECT 1 FROM "{bench.name}".households WHERE id = :id'), {"id": household}
        )
        if known.first() is None:
            misses["n"] += 1
            if misses["n"] == 1:
                raise ParentMissing("household", household)  # the fast path gives up; the careful path retries
            in_person_handler.set()
            # A slow replica: the parent is applied and committed by the other replica meanwhile.
            await eventually(_household_committed(bench, household), timeout=8, what="the parent committed elsewhere")
            raise ParentMissing("household", household)
        await uow.session.execute(
            sa.text(f'INSERT INTO "{bench.name}".persons VALUES (:id, :h)'), {"id": event.subject, "h": household}
        )

    def replica() -> EventConsumer:
        consumer = EventConsumer(
            service=bench.name,
            spec=ConsumerSpec(stream=bench.stream, handlers={household_type: on_household, person_type: on_person}),
            sessions=bench.sessions,
            platform=bench.platform,
            nats=bench.nats,
            batch_size=1,
        )
        consumer.sweep_interval = 0.5  # the parked-event sweeper repairs the race; tested on a short interval
        bench.consumers.append(consumer)
        return consumer

    person = Envelope(type=person_type, source="t", subject="p1", data={"seq": 1, "household_id": "h1"})
    household = Envelope(type=household_type, source="t", subject="h1", data={"seq": 1})
    first, second = replica(), replica()
    assert first.name == second.name  # one durable shared by two replicas
    first.start()
    await bench.nats.js.publish(person.nats_subject, person.to_json_bytes())
    await asyncio.wait_for(in_person_handler.wait(), 10)
    await bench.nats.js.publish(household.nats_subject, household.to_json_bytes())
    second.start()

    async def person_applied() -> bool:
        return await bench.scalar(f'SELECT count(*) FROM "{bench.name}".persons') == 1

    try:
        await eventually(person_applied, timeout=5, what="the person applied once its household is known")
    finally:
        parked = await bench.scalar(f'SELECT count(*) FROM "{bench.name}".parked_events')
        households = await bench.scalar(f'SELECT count(*) FROM "{bench.name}".households')
        print(f"households={households} parked={parked}")


def _household_committed(bench: Bench, household: str) -> Callable[[], Any]:
    async def check() -> bool:
        found = await bench.scalar(f'SELECT count(*) FROM "{bench.name}".households WHERE id = :id', id=household)
        return bool(found)

    return check


async def test_a_poison_child_released_with_its_parent_does_not_block_the_parent(bench: Bench) -> None:
    async with bench.engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE TABLE "{bench.name}".households (id text PRIMARY KEY)'))
    prefix = bench.stream.lower()
    household_type, person_type = f"{prefix}.household.enrolled.v1", f"{prefix}.person.added.v1"

    async def on_household(uow: UnitOfWork, event: Envelope) -> None:
        await uow.session.execute(sa.text(f'INSERT INTO "{bench.name}".households VALUES (:id)'), {"id": event.subject})

    async def on_person(uow: UnitOfWork, event: Envelope) -> None:
        household = event.data["household_id"]
        known = await uow.session.execute(
            sa.text(f'SELECT 1 FROM "{bench.name}".households WHERE id = :id'), {"id": household}
        )
        if known.first() is None:
            raise ParentMissing("household", household)
        raise ValueError("this person's payload breaks the projection")  # a poison child

    consumer = EventConsumer(
        service=bench.name,
        spec=ConsumerSpec(stream=bench.stream, handlers={household_type: on_household, person_type: on_person}),
        sessions=bench.sessions,
        platform=bench.platform,
        nats=bench.nats,
        max_deliver=2,
        backoff=[0.1],
    )
    bench.consumers.append(consumer)
    person = Envelope(type=person_type, source="t", subject="p1", data={"seq": 1, "household_id": "h1"})
    household = Envelope(type=household_type, source="t", subject="h1", data={"seq": 1})
    consumer.start()
    await bench.nats.js.publish(person.nats_subject, person.to_json_bytes())
    await bench.nats.js.publish(household.nats_subject, household.to_json_bytes())
    await eventually(lambda: bench.idle(consumer), timeout=8, what="both events settled")
    await asyncio.sleep(0.5)

    households = await bench.scalar(f'SELECT count(*) FROM "{bench.name}".households')
    dead = [r[0] for r in await bench.dead_letters()]
    print(f"households={households} dead_letters={dead} household_id={household.id} person_id={person.id}")
    assert households == 1  # the healthy parent is projected
    assert household.id not in dead


async def test_events_for_code_ahead_of_its_migration_wait_for_the_migration_instead_of_dead_letters(
    bench: Bench,
) -> None:
    """A service started before its migration ran finds a table missing: its consumer retries (NAK, backoff)
    instead of dead-lettering every event, and applies each once the migration has run."""
    async def needs_new_table(uow: UnitOfWork, event: Envelope) -> None:
        await uow.session.execute(sa.text(f'INSERT INTO "{bench.name}".added_later VALUES (:id)'), {"id": event.id})
        await recording(bench)(uow, event)

    consumer = bench.consumer(needs_new_table, max_deliver=2, ack_wait=1.0)
    published = await bench.publish(3)
    consumer.start()
    await asyncio.sleep(2.5)  # with max_deliver=2 and a 0.1 s backoff, a handler failure would be dead by now
    assert await bench.dead_letters() == []
    assert await bench.applied_ids() == []

    async with bench.engine.begin() as conn:  # the migration runs
        await conn.execute(sa.text(f'CREATE TABLE "{bench.name}".added_later (event_id uuid NOT NULL)'))
    await eventually(lambda: _count_is(bench, 3), timeout=10, what="the 3 events applied after the migration")
    await eventually(lambda: bench.idle(consumer), timeout=8, what="drained")
    exactly_once(await bench.applied_ids(), published)
    assert await bench.dead_letters() == []
