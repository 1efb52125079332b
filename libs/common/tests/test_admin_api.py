"""The admin API every service has: dead letters (list, retry) and outbox replay, for district admins."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import APIRouter

from uplift.common.app import ServiceDefinition, UnitOfWorkDep
from uplift.common.consumer import ConsumerSpec
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


async def test_dead_letters_are_listed_and_retried_and_the_outbox_replayed(database_url: str, nats_url: str) -> None:
    name = unique_name("adm")
    platform = await create_platform_schema(database_url, name)
    event_type = f"{name}.note.written.v1"
    state: dict[str, Any] = {"broken": True, "applied": []}

    async def on_note(uow: UnitOfWork, event: Envelope) -> None:
        if state["broken"]:
            raise RuntimeError("the projection is not ready")
        state["applied"].append(event.id)

    router = APIRouter()

    @router.post("/notes", status_code=201)
    async def write(uow: UnitOfWorkDep) -> dict[str, str]:
        note_id = uuid.uuid4()
        uow.emit(event_type, subject=note_id, data={"ok": True})
        await uow.commit()
        return {"id": str(note_id)}

    # The service consumes its own stream: the simplest way to have a producer and a consumer in one test.
    definition = ServiceDefinition(
        name=name,
        title="t",
        description="t",
        routers=[router],
        consumers=[ConsumerSpec(stream=name.upper(), handlers={event_type: on_note})],
        platform=platform,
    )
    admin = auth("district_admin")
    async with run_service(definition, service_settings(name, database_url, nats_url, consumer_max_deliver=2)) as svc:
        c = svc.client
        assert (await c.post(f"/{name}/v1/notes", headers=admin)).status_code == 201

        async def dead_lettered() -> bool:
            page = (await c.get(f"/{name}/v1/admin/dead-letters", headers=admin)).json()
            return len(page["items"]) == 1

        await eventually(dead_lettered, what="the failing event dead-lettered")
        letter = (await c.get(f"/{name}/v1/admin/dead-letters?status=open", headers=admin)).json()["items"][0]
        assert letter["event_type"] == event_type and letter["attempts"] == 2
        assert "projection is not ready" in letter["error"]

        assert (
            await c.post(f"/{name}/v1/admin/dead-letters/{letter['id']}:retry", headers=auth("analyst"))
        ).status_code == 403
        state["broken"] = False
        retried = await c.post(f"/{name}/v1/admin/dead-letters/{letter['id']}:retry", headers=admin)
        assert retried.status_code == 200 and retried.json()["outcome"] == "applied"
        assert len(state["applied"]) == 1
        again = await c.post(f"/{name}/v1/admin/dead-letters/{letter['id']}:retry", headers=admin)
        assert again.status_code == 409
        missing = await c.post(f"/{name}/v1/admin/dead-letters/{uuid.uuid4()}:retry", headers=admin)
        assert missing.status_code == 404

        bad_range = await c.post(f"/{name}/v1/admin/outbox:replay", json={"from": 5, "to": 2}, headers=admin)
        assert bad_range.status_code == 422
        replay = await c.post(f"/{name}/v1/admin/outbox:replay", json={"from": 1, "to": 10}, headers=admin)
        assert replay.status_code == 200 and replay.json() == {"republished": 1, "from": 1, "to": 10}

        async def stream_has_two() -> bool:
            info = await svc.runtime.nats.js.stream_info(name.upper())
            return info.state.messages == 2

        await eventually(stream_has_two, what="the replayed copy in the stream")
        await eventually(lambda: _inbox_saw_duplicate(svc), what="the replayed copy consumed")
        assert len(state["applied"]) == 1  # the inbox skipped the replayed copy


async def _inbox_saw_duplicate(svc: RunningService) -> bool:
    consumer = svc.runtime.consumers[0]
    info = await consumer.nats.js.consumer_info(consumer.stream, consumer.name)
    async with svc.runtime.sessions() as s:
        inbox = (await s.execute(sa.select(sa.func.count()).select_from(svc.runtime.platform.inbox))).scalar()
    return info.num_pending == 0 and info.num_ack_pending == 0 and inbox == 1
