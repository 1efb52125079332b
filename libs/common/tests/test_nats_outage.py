"""While NATS is down the service stays ready and keeps accepting writes; the outbox delivers them after."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from uplift.common.app import ServiceDefinition, UnitOfWorkDep
from uplift.common.embedded import EmbeddedNats, free_tcp_port
from uplift.common.testkit import (
    auth,
    create_platform_schema,
    eventually,
    run_service,
    service_settings,
    unique_name,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats", port=free_tcp_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def writes_router(service: str) -> APIRouter:
    router = APIRouter()

    @router.post("/notes", status_code=201)
    async def write(uow: UnitOfWorkDep) -> dict[str, Any]:
        note_id = uuid.uuid4()
        uow.emit(f"{service}.note.written.v1", subject=note_id, data={"ok": True})
        await uow.commit()
        return {"id": str(note_id)}

    return router


async def test_unpublished_events_survive_a_nats_restart(database_url: str, own_nats: EmbeddedNats) -> None:
    name = unique_name("out")
    platform = await create_platform_schema(database_url, name)
    definition = ServiceDefinition(
        name=name, title="t", description="t", routers=[writes_router(name)], platform=platform
    )
    settings = service_settings(name, database_url, own_nats.url)
    headers = auth("district_admin")
    async with run_service(definition, settings) as svc:
        c = svc.client
        assert await svc.runtime.nats.wait_connected(10)
        for _ in range(3):
            assert (await c.post(f"/{name}/v1/notes", headers=headers)).status_code == 201
        await eventually(lambda: _backlog(svc, 0), what="first events published")

        own_nats.stop()
        await eventually(lambda: _nats_down(svc), what="NATS seen as down")
        for _ in range(5):
            assert (await c.post(f"/{name}/v1/notes", headers=headers)).status_code == 201
        ready = (await c.get(f"/{name}/readyz")).json()
        assert ready["status"] == "ready" and ready["nats"] == "down" and ready["outbox_backlog"] == 5

        own_nats.start()
        await eventually(lambda: _backlog(svc, 0), timeout=30, what="backlog drained after NATS returned")
        info = await svc.runtime.nats.js.stream_info(name.upper())
        assert info.state.messages == 8  # each write once: nothing lost, nothing twice


async def _backlog(svc: Any, expected: int) -> bool:
    body = (await svc.client.get(f"/{svc.runtime.definition.name}/readyz")).json()
    return body["outbox_backlog"] == expected


async def _nats_down(svc: Any) -> bool:
    await asyncio.sleep(0.05)
    return not svc.runtime.nats.connected
