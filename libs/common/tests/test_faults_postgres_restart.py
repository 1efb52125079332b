"""PostgreSQL restarted under load: the service answers 503 on readyz meanwhile, its writes fail cleanly, and the
relay and the consumer recover by themselves; every committed write's event is consumed exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import APIRouter
from sqlalchemy.ext.asyncio import create_async_engine

from uplift.common.app import ServiceDefinition, UnitOfWorkDep
from uplift.common.consumer import ConsumerSpec
from uplift.common.embedded import EmbeddedNats, EmbeddedPostgres, free_tcp_port
from uplift.common.envelope import Envelope
from uplift.common.testkit import (
    RunningService,
    auth,
    create_platform_schema,
    eventually,
    run_service,
    service_settings,
    unique_name,
)
from uplift.common.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[tuple[EmbeddedPostgres, EmbeddedNats]]:
    postgres = EmbeddedPostgres(tmp_path / "pg", port=free_tcp_port(), durable=False)
    nats = EmbeddedNats(tmp_path / "nats", port=free_tcp_port())
    try:
        postgres.start()
        nats.start()
        yield postgres, nats
    finally:
        nats.destroy()
        postgres.destroy()


def notes_router(service: str) -> APIRouter:
    router = APIRouter()

    @router.post("/notes", status_code=201)
    async def write(uow: UnitOfWorkDep) -> dict[str, Any]:
        note_id = uuid.uuid4()
        uow.emit(f"{service}.note.written.v1", subject=note_id, data={"ok": True})
        await uow.commit()
        return {"id": str(note_id)}

    return router


async def test_postgres_restart_under_load_loses_no_committed_event_and_applies_each_once(
    own_servers: tuple[EmbeddedPostgres, EmbeddedNats],
) -> None:
    postgres, nats = own_servers
    postgres.create_database("uplift_pgr")
    database_url = postgres.database_url("uplift_pgr", driver="asyncpg")
    name = unique_name("pgr")
    platform = await create_platform_schema(database_url, name)
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE TABLE "{name}".applied (event_id uuid NOT NULL, subject text NOT NULL)'))
    await engine.dispose()

    async def consume(uow: UnitOfWork, event: Envelope) -> None:
        await uow.session.execute(
            sa.text(f'INSERT INTO "{name}".applied VALUES (:id, :subject)'), {"id": event.id, "subject": event.subject}
        )

    definition = ServiceDefinition(
        name=name,
        title="t",
        description="t",
        routers=[notes_router(name)],
        consumers=[ConsumerSpec(stream=name.upper(), handlers={f"{name}.note.written.v1": consume})],
        platform=platform,
    )
    # ack_wait 3 s (default 30 s) so a batch caught by the outage is redelivered within the test's time. Enough
    # deliveries to outlast the outage: an event in flight when PostgreSQL stops has its deliveries counted as
    # handler failures (see test_faults_consumer's database-unreachable test); with the test defaults
    # (max_deliver 3, backoff 0.1-0.3 s) such an event can be lost, which made this test flaky.
    settings = service_settings(
        name,
        database_url,
        nats.url,
        consumer_ack_wait_seconds=3.0,
        consumer_max_deliver=10,
        consumer_backoff_seconds=[1.0],
    )
    headers = auth("district_admin")
    outcomes: list[tuple[str, int, str | None]] = []  # (phase, status, note id)
    phase = {"now": "before"}
    stop_writing = asyncio.Event()

    async with run_service(definition, settings) as svc:
        assert await svc.runtime.nats.wait_connected(10)

        async def writer() -> None:
            while not stop_writing.is_set():
                response = await svc.client.post(f"/{name}/v1/notes", headers=headers)
                note = response.json().get("id") if response.status_code == 201 else None
                outcomes.append((phase["now"], response.status_code, note))
                await asyncio.sleep(0.02)

        writing = asyncio.create_task(writer())
        await asyncio.sleep(1.5)

        phase["now"] = "down"
        await asyncio.to_thread(postgres.stop)
        stopped_at = time.monotonic()
        await asyncio.sleep(0.5)
        ready = await svc.client.get(f"/{name}/readyz")
        await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - stopped_at)))  # down for three seconds
        phase["now"] = "restarting"
        await asyncio.to_thread(postgres.start)
        phase["now"] = "after"
        await eventually(lambda: _ready(svc), timeout=10, what="readyz 200 again")
        await asyncio.sleep(1.5)
        stop_writing.set()
        await writing

        await eventually(lambda: _backlog_is_zero(svc), timeout=15, what="outbox drained after the restart")
        engine = create_async_engine(database_url)
        try:

            async def all_applied() -> bool:
                async with engine.connect() as conn:
                    outbox = (await conn.execute(sa.text(f'SELECT count(*) FROM "{name}".outbox'))).scalar()
                    applied = (await conn.execute(sa.text(f'SELECT count(*) FROM "{name}".applied'))).scalar()
                return bool(outbox) and outbox == applied

            await eventually(all_applied, timeout=15, what="every outbox event consumed")
            await asyncio.sleep(0.5)  # a duplicate would land now
            async with engine.connect() as conn:
                outbox_rows = (await conn.execute(sa.text(f'SELECT event_id, subject FROM "{name}".outbox'))).all()
                applied_rows = (await conn.execute(sa.text(f'SELECT event_id FROM "{name}".applied'))).all()
        finally:
            await engine.dispose()
        info = await svc.runtime.nats.js.stream_info(name.upper())

    statuses = Counter((p, s) for p, s, _ in outcomes)
    print(f"write outcomes by phase: {dict(statuses)}; readyz while down: {ready.status_code} {ready.json()}")
    assert ready.status_code == 503
    assert ready.json()["database"] == "down" and ready.json()["status"] == "not_ready"
    failed = {s for _, s, _ in outcomes if s != 201}
    assert failed, "some writes were attempted while PostgreSQL was down"
    assert failed <= {503}  # 'database unavailable, retry': never a hang, a 500, or a 2xx that was not committed
    assert statuses[("after", 201)] > 0  # the app recovered without a restart

    committed_notes = [note for _, s, note in outcomes if s == 201]
    outbox_subjects = Counter(subject for _, subject in outbox_rows)
    assert all(outbox_subjects[note] == 1 for note in committed_notes)  # every 201 has exactly one event
    assert len(outbox_rows) - len(committed_notes) <= len([s for _, s, _ in outcomes if s != 201])
    applied_ids = Counter(event_id for (event_id,) in applied_rows)
    assert set(applied_ids) == {event_id for event_id, _ in outbox_rows}
    assert max(applied_ids.values()) == 1
    assert info.state.messages == len(outbox_rows)


async def _ready(svc: RunningService) -> bool:
    return (await svc.client.get(f"/{svc.runtime.definition.name}/readyz")).status_code == 200


async def _backlog_is_zero(svc: RunningService) -> bool:
    body = (await svc.client.get(f"/{svc.runtime.definition.name}/readyz")).json()
    return body["outbox_backlog"] == 0
