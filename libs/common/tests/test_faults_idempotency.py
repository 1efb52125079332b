"""Idempotency-Key under concurrency: twenty identical POSTs at once execute the write once; a retry that takes over
an expired claim while the first request still runs leaves exactly one execution, and the retry's answer stands."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel

from uplift.common.app import ServiceDefinition, UnitOfWorkDep
from uplift.common.testkit import (
    RunningService,
    auth,
    create_platform_schema,
    run_service,
    service_settings,
    unique_name,
)

pytestmark = pytest.mark.integration


class OrderCreate(BaseModel):
    item: str


def orders_router(service: str, fail_after_commit: dict[str, bool], delays: list[float] | None = None) -> APIRouter:
    router = APIRouter()

    @router.post("/orders", status_code=201)
    async def create(body: OrderCreate, uow: UnitOfWorkDep) -> dict[str, Any]:
        order_id = uuid.uuid4()
        # A slow write: the other requests arrive while it is in flight (`delays` gives each request its own).
        await asyncio.sleep(delays.pop(0) if delays else 0.3)
        uow.emit(f"{service}.order.placed.v1", subject=order_id, data={"item": body.item})
        await uow.commit()
        if fail_after_commit["on"]:
            raise RuntimeError("the answer was lost after the commit (serialisation, a proxy, a dropped socket)")
        return {"id": str(order_id)}

    return router


@pytest.fixture
async def orders(database_url: str, nats_url: str) -> AsyncIterator[tuple[RunningService, dict[str, bool]]]:
    name = unique_name("idf")
    platform = await create_platform_schema(database_url, name)
    switch = {"on": False}
    definition = ServiceDefinition(
        name=name, title="t", description="t", routers=[orders_router(name, switch)], platform=platform
    )
    settings = service_settings(name, database_url, nats_url, relay_enabled=False, db_pool_size=10)
    async with run_service(definition, settings) as svc:
        yield svc, switch


async def outbox_count(svc: RunningService) -> int:
    outbox = svc.runtime.platform.outbox
    async with svc.runtime.engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar_one())


async def test_twenty_concurrent_posts_with_one_key_execute_once(
    orders: tuple[RunningService, dict[str, bool]],
) -> None:
    svc, _ = orders
    path = f"/{svc.runtime.definition.name}/v1/orders"
    headers = {**auth("district_admin"), "Idempotency-Key": "order-42"}

    responses = await asyncio.gather(
        *(svc.client.post(path, json={"item": "rice"}, headers=headers) for _ in range(20))
    )

    kinds = Counter(
        "replayed" if r.headers.get("idempotent-replayed") == "true" else f"{r.status_code}" for r in responses
    )
    print(f"20 concurrent posts with one key: {dict(kinds)}")
    assert await outbox_count(svc) == 1  # exactly one execution
    originals = [r for r in responses if r.status_code == 201 and r.headers.get("idempotent-replayed") != "true"]
    assert len(originals) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.headers["content-type"] == "application/problem+json"
            assert "in progress" in r.json()["detail"] and r.json()["idempotency"] == "in_progress"
        else:
            assert r.status_code == 201 and r.json() == originals[0].json()
    assert set(kinds) <= {"201", "409", "replayed"}

    # Once the first answer is stored, a retry replays it byte for byte and still executes nothing.
    again = await svc.client.post(path, json={"item": "rice"}, headers=headers)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == originals[0].json()
    other_body = await svc.client.post(path, json={"item": "flour"}, headers=headers)
    assert other_body.status_code == 409 and "different request body" in other_body.json()["detail"]
    assert other_body.json()["idempotency"] == "body_mismatch"
    assert await outbox_count(svc) == 1


async def test_a_retry_after_a_committed_write_answered_500_does_not_execute_again(
    orders: tuple[RunningService, dict[str, bool]],
) -> None:
    svc, switch = orders
    path = f"/{svc.runtime.definition.name}/v1/orders"
    headers = {**auth("district_admin"), "Idempotency-Key": "order-43"}
    switch["on"] = True
    first = await svc.client.post(path, json={"item": "oil"}, headers=headers)
    assert first.status_code == 500
    assert await outbox_count(svc) == 1  # the write committed
    switch["on"] = False

    await svc.client.post(path, json={"item": "oil"}, headers=headers)  # the client retries, as it was told

    assert await outbox_count(svc) == 1


async def test_a_retry_taking_over_an_expired_claim_while_the_first_request_runs_executes_once(
    database_url: str, nats_url: str
) -> None:
    """The first request is slower than the claim's expiry; the retry takes the claim over and runs too. The first
    to commit finds the key no longer its own and rolls back (409 `taken_over`); the retry's 201 is the answer."""
    name = unique_name("idt")
    platform = await create_platform_schema(database_url, name)
    delays = [1.2, 0.6]  # the first request commits at ~1.2 s, the retry (sent at ~0.4 s) at ~1.0 s
    definition = ServiceDefinition(
        name=name, title="t", description="t", routers=[orders_router(name, {"on": False}, delays)], platform=platform
    )
    settings = service_settings(name, database_url, nats_url, relay_enabled=False, idempotency_claim_expiry_seconds=0.2)
    async with run_service(definition, settings) as svc:
        path = f"/{name}/v1/orders"
        headers = {**auth("district_admin"), "Idempotency-Key": "order-slow"}

        async def retry_later() -> Any:
            await asyncio.sleep(0.4)
            return await svc.client.post(path, json={"item": "salt"}, headers=headers)

        first, retry = await asyncio.gather(
            svc.client.post(path, json={"item": "salt"}, headers=headers), retry_later()
        )

        assert retry.status_code == 201, retry.text
        assert first.status_code == 409 and first.json()["idempotency"] == "taken_over", first.text
        assert await outbox_count(svc) == 1
        again = await svc.client.post(path, json={"item": "salt"}, headers=headers)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == retry.json()
        assert await outbox_count(svc) == 1
