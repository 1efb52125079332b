"""The outbox -> relay -> JetStream -> consumer path against real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from uplift.common.consumer import ConsumerSpec, EventConsumer, ParentMissing, upsert_snapshot
from uplift.common.db import PlatformTables, asyncpg_url, session_factory
from uplift.common.envelope import Envelope
from uplift.common.nats_link import NatsLink
from uplift.common.relay import OutboxRelay
from uplift.common.testkit import create_platform_schema, eventually, unique_name
from uplift.common.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration


@dataclass
class Side:
    """One service's platform pieces in a schema of its own."""

    name: str
    platform: PlatformTables
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    nats: NatsLink
    dsn: str
    relays: list[OutboxRelay] = field(default_factory=list)
    consumers: list[EventConsumer] = field(default_factory=list)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, platform=self.platform, source=f"uplift/{self.name}")

    def relay(self, **kw: object) -> OutboxRelay:
        relay = OutboxRelay(
            service=self.name,
            schema=self.name,
            dsn=self.dsn,
            nats=self.nats,
            poll_interval=0.2,
            **kw,  # type: ignore[arg-type]
        )
        self.relays.append(relay)
        return relay

    def consumer(self, stream: str, handlers: dict, **kw: object) -> EventConsumer:  # type: ignore[type-arg]
        consumer = EventConsumer(
            service=self.name,
            spec=ConsumerSpec(stream=stream, handlers=handlers),
            sessions=self.sessions,
            platform=self.platform,
            nats=self.nats,
            backoff=[0.1, 0.1, 0.1],
            **kw,  # type: ignore[arg-type]
        )
        self.consumers.append(consumer)
        return consumer

    async def execute(self, sql: str, **params: object) -> list[sa.Row]:  # type: ignore[type-arg]
        async with self.engine.begin() as conn:
            result = await conn.execute(sa.text(sql), params)
            return list(result.all()) if result.returns_rows else []

    async def close(self) -> None:
        for c in self.consumers:
            await c.stop()
        for r in self.relays:
            await r.stop()
        await self.nats.close()
        await self.engine.dispose()


@pytest.fixture
async def make_side(database_url: str, nats_url: str) -> AsyncIterator:  # type: ignore[type-arg]
    sides: list[Side] = []

    async def make(prefix: str = "svc", nats: str | None = None) -> Side:
        name = unique_name(prefix)
        platform = await create_platform_schema(database_url, name)
        engine = create_async_engine(asyncpg_url(database_url), pool_size=5)
        link = NatsLink(nats or nats_url, name=name)
        link.start()
        side = Side(
            name=name,
            platform=platform,
            engine=engine,
            sessions=session_factory(engine),
            nats=link,
            dsn=asyncpg_url(database_url).replace("postgresql+asyncpg://", "postgresql://"),
        )
        await side.execute(f'CREATE TABLE "{name}".applied (event_id uuid PRIMARY KEY, n int NOT NULL)')
        await side.execute(
            f'CREATE TABLE "{name}".snapshots (id text PRIMARY KEY, seq bigint NOT NULL, status text NOT NULL)'
        )
        sides.append(side)
        return side

    yield make
    for side in sides:
        await side.close()


def counting_handler(side: Side):  # type: ignore[no-untyped-def]
    """A handler that records every application; a second application of one event would raise."""

    async def handle(uow: UnitOfWork, event: Envelope) -> None:
        await uow.session.execute(
            sa.text(f'INSERT INTO "{side.name}".applied (event_id, n) VALUES (:id, :n)'),
            {"id": event.id, "n": int(event.data["n"])},
        )

    return handle


async def emit_events(
    side: Side, count: int, *, subject: str | None = None, event_type: str | None = None
) -> list:  # type: ignore[type-arg]
    ids = []
    async with side.uow() as uow:
        for n in range(count):
            e = uow.emit(
                event_type or f"{side.name}.thing.happened.v1",
                subject=subject or str(uuid.uuid4()),
                data={"n": n},
            )
            ids.append(e.event_id)
        await uow.commit()
    return ids


async def applied(side: Side) -> list[int]:
    rows = await side.execute(f'SELECT n FROM "{side.name}".applied ORDER BY n')
    return [r[0] for r in rows]


async def test_event_from_one_service_arrives_once_at_another(make_side) -> None:  # type: ignore[no-untyped-def]
    producer = await make_side("prod")
    consumer_side = await make_side("cons")
    producer.relay().start()
    consumer_side.consumer(
        producer.name.upper(), {f"{producer.name}.thing.happened.v1": counting_handler(consumer_side)}
    ).start()

    await emit_events(producer, 25)

    await eventually(lambda: _has(consumer_side, 25), what="25 events applied")
    await asyncio.sleep(0.5)  # nothing more may arrive
    assert await applied(consumer_side) == list(range(25))
    rows = await producer.execute(
        f'SELECT count(*) FROM "{producer.name}".outbox WHERE published_at IS NOT NULL'
    )
    assert rows[0][0] == 25  # published rows are kept (retention default: keep)


async def _has(side: Side, n: int) -> bool:
    return len(await applied(side)) >= n


async def test_unit_of_work_rollback_writes_no_event(make_side) -> None:  # type: ignore[no-untyped-def]
    side = await make_side()
    async with side.uow() as uow:
        uow.emit(f"{side.name}.thing.happened.v1", subject="x", data={"n": 1})
        # leaving without commit
    rows = await side.execute(f'SELECT count(*) FROM "{side.name}".outbox')
    assert rows[0][0] == 0


async def test_seq_counts_events_per_aggregate(make_side) -> None:  # type: ignore[no-untyped-def]
    side = await make_side()
    await emit_events(side, 3, subject="agg-1")
    await emit_events(side, 1, subject="agg-2")
    rows = await side.execute(f'SELECT subject, seq FROM "{side.name}".outbox ORDER BY position')
    assert [(r[0], r[1]) for r in rows] == [("agg-1", 1), ("agg-1", 2), ("agg-1", 3), ("agg-2", 1)]
    envelopes = await side.execute(
        f'''SELECT envelope->'data'->>'seq' FROM "{side.name}".outbox ORDER BY position'''
    )
    assert [r[0] for r in envelopes] == ["1", "2", "3", "1"]


async def test_relay_killed_between_publish_and_mark_republishes_and_consumer_applies_once(make_side) -> None:  # type: ignore[no-untyped-def]
    producer = await make_side("prod")
    consumer_side = await make_side("cons")
    await emit_events(producer, 10)
    await producer.nats.wait_connected(10)

    # The "crashed" relay published every row but died before marking them.
    crashed = producer.relay()
    rows_sql = (
        f'SELECT position, event_id, event_type, envelope::text AS envelope FROM "{producer.name}".outbox '
        "ORDER BY position"
    )
    import asyncpg

    conn = await asyncpg.connect(producer.dsn)
    try:
        rows = await conn.fetch(rows_sql)
        await crashed._ensure_stream()
        await crashed._publish_rows(rows, msg_id=lambda r: str(r["event_id"]))
    finally:
        await conn.close()
    unmarked = await producer.execute(
        f'SELECT count(*) FROM "{producer.name}".outbox WHERE published_at IS NULL'
    )
    assert unmarked[0][0] == 10

    # A fresh relay publishes them all again; JetStream's duplicate window drops the copies.
    producer.relay().start()
    await eventually(lambda: _all_published(producer), what="rows marked published")
    info = await producer.nats.js.stream_info(producer.name.upper())
    assert info.state.messages == 10

    consumer_side.consumer(
        producer.name.upper(), {f"{producer.name}.thing.happened.v1": counting_handler(consumer_side)}
    ).start()
    await eventually(lambda: _has(consumer_side, 10), what="10 applied")
    await asyncio.sleep(0.3)
    assert await applied(consumer_side) == list(range(10))


async def _all_published(side: Side) -> bool:
    rows = await side.execute(f'SELECT count(*) FROM "{side.name}".outbox WHERE published_at IS NULL')
    return rows[0][0] == 0


async def test_duplicate_delivery_is_applied_once(make_side) -> None:  # type: ignore[no-untyped-def]
    producer = await make_side("prod")
    consumer_side = await make_side("cons")
    await producer.nats.wait_connected(10)
    relay = producer.relay()
    await relay._ensure_stream()
    envelope = Envelope(
        type=f"{producer.name}.thing.happened.v1", source="test", subject="s1", data={"n": 7, "seq": 1}
    )
    # The same event published twice under different message ids gets past JetStream's dedupe.
    for msg_id in ("a", "b", "c"):
        await producer.nats.js.publish(
            envelope.nats_subject, envelope.to_json_bytes(), headers={"Nats-Msg-Id": msg_id}
        )
    consumer = consumer_side.consumer(producer.name.upper(), {envelope.type: counting_handler(consumer_side)})
    consumer.start()
    await eventually(lambda: _has(consumer_side, 1), what="applied")
    await eventually(lambda: _consumer_idle(consumer), what="consumer drained")
    assert await applied(consumer_side) == [7]
    inbox = await consumer_side.execute(f'SELECT count(*) FROM "{consumer_side.name}".inbox')
    assert inbox[0][0] == 1


async def _consumer_idle(consumer: EventConsumer) -> bool:
    from nats.js.errors import NotFoundError

    try:
        info = await consumer.nats.js.consumer_info(consumer.stream, consumer.name)
    except NotFoundError:
        return False  # not subscribed yet
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_failing_handler_ends_in_dead_letters_while_later_events_flow(make_side) -> None:  # type: ignore[no-untyped-def]
    producer = await make_side("prod")
    consumer_side = await make_side("cons")
    good_type = f"{producer.name}.thing.happened.v1"
    bad_type = f"{producer.name}.thing.broke.v1"
    attempts = {"n": 0}

    async def always_fails(uow: UnitOfWork, event: Envelope) -> None:
        attempts["n"] += 1
        await uow.session.execute(
            sa.text(f'INSERT INTO "{consumer_side.name}".applied VALUES (:id, -1)'), {"id": event.id}
        )
        raise ValueError("cannot handle this")

    producer.relay().start()
    consumer_side.consumer(
        producer.name.upper(),
        {good_type: counting_handler(consumer_side), bad_type: always_fails},
        max_deliver=3,
    ).start()
    await emit_events(producer, 1, event_type=bad_type)
    await emit_events(producer, 5)

    await eventually(lambda: _has(consumer_side, 5), what="later events applied")
    await eventually(lambda: _dead_letters(consumer_side, 1), what="dead letter written")
    await asyncio.sleep(0.5)
    assert attempts["n"] == 3
    assert await applied(consumer_side) == [0, 1, 2, 3, 4]  # the failed handler's insert was rolled back
    rows = await consumer_side.execute(
        f'SELECT event_type, attempts, status, error FROM "{consumer_side.name}".dead_letters'
    )
    assert rows[0][0] == bad_type and rows[0][1] == 3 and rows[0][2] == "open"
    assert "cannot handle this" in rows[0][3]


async def _dead_letters(side: Side, n: int) -> bool:
    rows = await side.execute(f'SELECT count(*) FROM "{side.name}".dead_letters')
    return rows[0][0] >= n


async def test_dead_letter_retry_applies_once_the_handler_is_fixed(make_side) -> None:  # type: ignore[no-untyped-def]
    producer = await make_side("prod")
    consumer_side = await make_side("cons")
    event_type = f"{producer.name}.thing.happened.v1"
    broken = {"on": True}
    count = counting_handler(consumer_side)

    async def flaky(uow: UnitOfWork, event: Envelope) -> None:
        if broken["on"]:
            raise RuntimeError("downstream not ready")
        await count(uow, event)

    producer.relay().start()
    consumer = consumer_side.consumer(producer.name.upper(), {event_type: flaky}, max_deliver=2)
    consumer.start()
    await emit_events(producer, 1)
    await eventually(lambda: _dead_letters(consumer_side, 1), what="dead letter")
    broken["on"] = False
    rows = await consumer_side.execute(f'SELECT envelope FROM "{consumer_side.name}".dead_letters')
    outcome = await consumer.retry_dead_letter(Envelope.model_validate(rows[0][0]))
    assert outcome.status == "applied"
    again = await consumer.retry_dead_letter(Envelope.model_validate(rows[0][0]))
    assert again.status == "duplicate"
    assert await applied(consumer_side) == [0]
    status = await consumer_side.execute(f'SELECT status FROM "{consumer_side.name}".dead_letters')
    assert status[0][0] == "retried"


async def test_unknown_event_types_are_acked_and_ignored(make_side) -> None:  # type: ignore[no-untyped-def]
    producer = await make_side("prod")
    consumer_side = await make_side("cons")
    producer.relay().start()
    consumer = consumer_side.consumer(
        producer.name.upper(), {f"{producer.name}.thing.happened.v1": counting_handler(consumer_side)}
    )
    consumer.start()
    await emit_events(producer, 2, event_type=f"{producer.name}.other.appeared.v9")
    await emit_events(producer, 1)
    await eventually(lambda: _has(consumer_side, 1), what="known event applied")
    await eventually(lambda: _consumer_idle(consumer), what="drained")
    assert await applied(consumer_side) == [0]


async def test_reversed_snapshots_leave_the_newer_state(make_side) -> None:  # type: ignore[no-untyped-def]
    producer = await make_side("prod")
    consumer_side = await make_side("cons")
    await producer.nats.wait_connected(10)
    relay = producer.relay()
    await relay._ensure_stream()
    event_type = f"{producer.name}.household.updated.v1"
    snapshots = consumer_side.platform.outbox.metadata.tables  # noqa: F841 - schema exists
    table = sa.Table(
        "snapshots",
        sa.MetaData(schema=consumer_side.name),
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger),
        sa.Column("status", sa.Text),
    )

    async def project(uow: UnitOfWork, event: Envelope) -> None:
        await upsert_snapshot(
            uow.session,
            table,
            {"id": event.subject, "seq": event.data["seq"], "status": event.data["status"]},
            key=("id",),
        )

    newer = Envelope(type=event_type, source="t", subject="h1", data={"seq": 2, "status": "transition"})
    older = Envelope(type=event_type, source="t", subject="h1", data={"seq": 1, "status": "enrolled"})
    for e in (newer, older):  # redelivery reordered them
        await producer.nats.js.publish(e.nats_subject, e.to_json_bytes(), headers={"Nats-Msg-Id": str(e.id)})
    consumer = consumer_side.consumer(producer.name.upper(), {event_type: project})
    consumer.start()
    await eventually(lambda: _consumer_idle(consumer), what="drained")
    rows = await consumer_side.execute(f'SELECT seq, status FROM "{consumer_side.name}".snapshots')
    assert [(r[0], r[1]) for r in rows] == [(2, "transition")]


async def test_event_whose_parent_is_unknown_waits_for_it(make_side) -> None:  # type: ignore[no-untyped-def]
    producer = await make_side("prod")
    consumer_side = await make_side("cons")
    await producer.nats.wait_connected(10)
    relay = producer.relay()
    await relay._ensure_stream()
    await consumer_side.execute(f'CREATE TABLE "{consumer_side.name}".households (id text PRIMARY KEY)')
    await consumer_side.execute(
        f'CREATE TABLE "{consumer_side.name}".persons (id text PRIMARY KEY, household_id text NOT NULL '
        f'REFERENCES "{consumer_side.name}".households(id))'
    )
    household_type = f"{producer.name}.household.enrolled.v1"
    person_type = f"{producer.name}.person.added.v1"

    async def on_household(uow: UnitOfWork, event: Envelope) -> None:
        await uow.session.execute(
            sa.text(f'INSERT INTO "{consumer_side.name}".households VALUES (:id)'), {"id": event.subject}
        )

    async def on_person(uow: UnitOfWork, event: Envelope) -> None:
        hid = event.data["household_id"]
        known = await uow.session.execute(
            sa.text(f'SELECT 1 FROM "{consumer_side.name}".households WHERE id = :id'), {"id": hid}
        )
        if known.first() is None:
            raise ParentMissing("household", hid)
        await uow.session.execute(
            sa.text(f'INSERT INTO "{consumer_side.name}".persons VALUES (:id, :h)'),
            {"id": event.subject, "h": hid},
        )

    person = Envelope(type=person_type, source="t", subject="p1", data={"seq": 1, "household_id": "h1"})
    household = Envelope(type=household_type, source="t", subject="h1", data={"seq": 1})
    consumer = consumer_side.consumer(
        producer.name.upper(), {household_type: on_household, person_type: on_person}
    )
    consumer.start()
    await producer.nats.js.publish(person.nats_subject, person.to_json_bytes())
    await eventually(lambda: _consumer_idle(consumer), what="person handled")
    parked = await consumer_side.execute(f'SELECT parent_key FROM "{consumer_side.name}".parked_events')
    assert [r[0] for r in parked] == ["household:h1"]
    await producer.nats.js.publish(household.nats_subject, household.to_json_bytes())
    await eventually(lambda: _consumer_idle(consumer), what="household handled")
    persons = await consumer_side.execute(f'SELECT id, household_id FROM "{consumer_side.name}".persons')
    assert [(r[0], r[1]) for r in persons] == [("p1", "h1")]
    assert (await consumer_side.execute(f'SELECT count(*) FROM "{consumer_side.name}".parked_events'))[0][
        0
    ] == 0
    inbox = await consumer_side.execute(f'SELECT count(*) FROM "{consumer_side.name}".inbox')
    assert inbox[0][0] == 2


async def test_replay_redelivers_a_range_and_consumers_skip_what_they_applied(make_side) -> None:  # type: ignore[no-untyped-def]
    producer = await make_side("prod")
    consumer_side = await make_side("cons")
    relay = producer.relay()
    relay.start()
    consumer = consumer_side.consumer(
        producer.name.upper(), {f"{producer.name}.thing.happened.v1": counting_handler(consumer_side)}
    )
    consumer.start()
    await emit_events(producer, 8)
    await eventually(lambda: _has(consumer_side, 8), what="8 applied")

    republished = await relay.replay(from_position=3, to_position=6)

    assert republished == 4
    info = await producer.nats.js.stream_info(producer.name.upper())
    assert info.state.messages == 12  # the replayed copies are in the stream
    await eventually(lambda: _consumer_idle(consumer), what="replay consumed")
    assert await applied(consumer_side) == list(range(8))  # and were skipped by the inbox


async def test_two_relays_started_at_once_publish_each_event_once(make_side) -> None:  # type: ignore[no-untyped-def]
    producer = await make_side("prod")
    await emit_events(producer, 300)
    first, second = producer.relay(), producer.relay()
    first.start()
    second.start()
    await eventually(lambda: _all_published(producer), what="all published")
    await asyncio.sleep(0.5)
    assert first.published_count + second.published_count == 300
    assert sorted([first.active, second.active]) == [False, True]
    info = await producer.nats.js.stream_info(producer.name.upper())
    assert info.state.messages == 300
