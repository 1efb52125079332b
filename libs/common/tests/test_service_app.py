"""A service app built by `create_service_app`: health, errors, auth, idempotency, ETags, pagination."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import jwt
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from uplift.common.app import ServiceDefinition, UnitOfWorkDep
from uplift.common.auth import Principal, ensure_in_scope, require
from uplift.common.concurrency import require_if_match, set_etag
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.common.settings import DEV_AUDIENCE, DEV_ISSUER, DEV_JWT_SECRET
from uplift.common.testkit import (
    RunningService,
    auth,
    create_platform_schema,
    run_service,
    service_settings,
    unique_name,
)

pytestmark = pytest.mark.integration

ITEMS: dict[str, dict[str, Any]] = {
    "a1": {"street": "420102001", "version": 1, "name": "first"},
    "b2": {"street": "420102002", "version": 1, "name": "second"},
}


class ThingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    count: int = Field(ge=0)


class ThingPatch(BaseModel):
    name: str


Operator = Annotated[Principal, Depends(require("street_operator", "district_admin"))]


def build_router(service: str) -> APIRouter:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def read_thing(thing_id: str, principal: Operator, response: Response) -> dict[str, Any]:
        thing = ITEMS.get(thing_id)
        if thing is None:
            from uplift.common.errors import NotFound

            raise NotFound(f"No thing {thing_id}.")
        ensure_in_scope(principal, thing["street"])
        set_etag(response, thing["version"])
        return {"id": thing_id, **thing}

    @router.patch("/things/{thing_id}")
    async def patch_thing(
        thing_id: str, body: ThingPatch, principal: Operator, request: Request, response: Response
    ) -> dict[str, Any]:
        thing = ITEMS[thing_id]
        ensure_in_scope(principal, thing["street"])
        require_if_match(request, thing["version"])
        thing["name"] = body.name
        thing["version"] += 1
        set_etag(response, thing["version"])
        return {"id": thing_id, **thing}

    @router.post("/things", status_code=201)
    async def create_thing(body: ThingCreate, uow: UnitOfWorkDep, _: Operator) -> dict[str, Any]:
        thing_id = uuid.uuid4()
        uow.emit(f"{service}.thing.created.v1", subject=thing_id, data={"count": body.count})
        await uow.commit()
        return {"id": str(thing_id), "name": body.name}

    @router.get("/numbers", response_model=Page[int])
    async def numbers(page: Annotated[PageParams, Depends(page_params)]) -> Any:
        start = page.cursor[0] + 1 if page.cursor else 0
        rows = list(range(start, min(start + page.limit + 1, 7)))
        return make_page(rows, page.limit, lambda n: [n])

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail 42")

    return router


@pytest.fixture
async def service(database_url: str, nats_url: str) -> AsyncIterator[RunningService]:
    name = unique_name("app")
    platform = await create_platform_schema(database_url, name)
    definition = ServiceDefinition(
        name=name, title="test", description="test service", routers=[build_router(name)], platform=platform
    )
    async with run_service(definition, service_settings(name, database_url, nats_url)) as running:
        yield running


async def test_health_ready_metrics_and_docs(service: RunningService) -> None:
    name = service.runtime.definition.name
    c = service.client
    assert (await c.get(f"/{name}/healthz")).json() == {"status": "ok"}
    await service.runtime.nats.wait_connected(10)
    ready = await c.get(f"/{name}/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["database"], body["nats"], body["outbox_backlog"]) == (
        "ready",
        "ok",
        "ok",
        0,
    )
    await c.get(f"/{name}/healthz")
    metrics = await c.get(f"/{name}/metrics")
    assert "uplift_http_requests_total" in metrics.text and f'service="{name}"' in metrics.text
    openapi = (await c.get(f"/{name}/openapi.json")).json()
    assert f"/{name}/v1/things/{{thing_id}}" in openapi["paths"]
    assert f"/{name}/v1/admin/dead-letters" in openapi["paths"]
    assert (await c.get(f"/{name}/docs")).status_code == 200


async def test_ready_is_503_only_when_the_database_is_down(database_url: str, nats_url: str) -> None:
    name = unique_name("down")
    platform = await create_platform_schema(database_url, name)
    definition = ServiceDefinition(name=name, title="t", description="t", platform=platform)
    settings = service_settings(name, "postgresql://nobody@127.0.0.1:1/none", nats_url)
    async with run_service(definition, settings) as running:
        response = await running.client.get(f"/{name}/readyz")
        assert response.status_code == 503
        assert response.json()["database"] == "down"
        assert (await running.client.get(f"/{name}/healthz")).status_code == 200


async def test_request_id_is_echoed_or_generated(service: RunningService) -> None:
    name = service.runtime.definition.name
    given = await service.client.get(f"/{name}/healthz", headers={"X-Request-ID": "req-123"})
    assert given.headers["x-request-id"] == "req-123"
    generated = await service.client.get(f"/{name}/healthz")
    assert len(generated.headers["x-request-id"]) == 32


async def test_request_id_travels_into_events_as_correlationid(service: RunningService) -> None:
    name = service.runtime.definition.name
    response = await service.client.post(
        f"/{name}/v1/things",
        json={"name": "x", "count": 1},
        headers={**auth("district_admin"), "X-Request-ID": "corr-77"},
    )
    assert response.status_code == 201
    async with service.runtime.sessions() as s:
        envelope = (await s.execute(sa.select(service.runtime.platform.outbox.c.envelope))).scalar_one()
    assert envelope["correlationid"] == "corr-77"
    assert envelope["data"] == {"count": 1, "seq": 1}


async def test_errors_are_problem_details(service: RunningService) -> None:
    name = service.runtime.definition.name
    c = service.client
    headers = auth("district_admin")
    invalid = await c.post(f"/{name}/v1/things", json={"name": "", "count": -1, "extra": 1}, headers=headers)
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    problem = invalid.json()
    assert problem["status"] == 422 and problem["instance"] == f"/{name}/v1/things"
    assert {e["field"] for e in problem["errors"]} == {"name", "count", "extra"}

    malformed = await c.post(
        f"/{name}/v1/things", content=b"{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 400 and malformed.json()["title"] == "Bad Request"

    missing = await c.get(f"/{name}/v1/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"

    crash = await c.get(f"/{name}/v1/boom")
    assert crash.status_code == 500
    assert "secret internal detail" not in crash.text
    assert crash.json()["detail"] == "An unexpected error occurred."


async def test_tokens_expired_badly_signed_wrong_role_or_out_of_scope_are_refused(
    service: RunningService,
) -> None:
    name = service.runtime.definition.name
    c = service.client
    url = f"/{name}/v1/things/a1"
    assert (await c.get(url)).status_code == 401
    now = int(time.time())
    base = {
        "sub": "u1",
        "roles": ["street_operator"],
        "org": "420102001",
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
    }
    expired = jwt.encode({**base, "exp": now - 3600, "iat": now - 7200}, DEV_JWT_SECRET, algorithm="HS256")
    forged = jwt.encode(
        {**base, "exp": now + 3600}, "another-secret-of-at-least-32-bytes!!", algorithm="HS256"
    )
    wrong_aud = jwt.encode({**base, "aud": "other", "exp": now + 3600}, DEV_JWT_SECRET, algorithm="HS256")
    for bad in (expired, forged, wrong_aud, "not-a-jwt"):
        response = await c.get(url, headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, bad
        assert response.headers["content-type"] == "application/problem+json"
    assert (await c.get(url, headers=auth("analyst"))).status_code == 403
    assert (await c.get(url, headers=auth("street_operator", "420102002"))).status_code == 404
    ok = await c.get(url, headers=auth("street_operator", "420102001"))
    assert ok.status_code == 200 and ok.json()["name"] == "first"
    admin_only = await c.get(f"/{name}/v1/admin/dead-letters", headers=auth("street_operator", "420102001"))
    assert admin_only.status_code == 403
    listed = await c.get(f"/{name}/v1/admin/dead-letters", headers=auth("district_admin"))
    assert listed.status_code == 200 and listed.json() == {"items": [], "next_cursor": None}


async def test_if_match_guards_updates(service: RunningService) -> None:
    name = service.runtime.definition.name
    c = service.client
    headers = auth("street_operator", "420102002")
    url = f"/{name}/v1/things/b2"
    first = await c.get(url, headers=headers)
    tag = first.headers["etag"]
    assert (await c.patch(url, json={"name": "x"}, headers=headers)).status_code == 428
    updated = await c.patch(url, json={"name": "renamed"}, headers={**headers, "If-Match": tag})
    assert updated.status_code == 200 and updated.headers["etag"] != tag
    stale = await c.patch(url, json={"name": "lost"}, headers={**headers, "If-Match": tag})
    assert stale.status_code == 412
    assert (await c.get(url, headers=headers)).json()["name"] == "renamed"


async def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    service: RunningService,
) -> None:
    name = service.runtime.definition.name
    c = service.client
    headers = {**auth("district_admin"), "Idempotency-Key": "k-1"}
    first = await c.post(f"/{name}/v1/things", json={"name": "once", "count": 3}, headers=headers)
    again = await c.post(f"/{name}/v1/things", json={"name": "once", "count": 3}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await c.post(f"/{name}/v1/things", json={"name": "other", "count": 3}, headers=headers)
    assert other.status_code == 409
    async with service.runtime.sessions() as s:
        events = (
            await s.execute(sa.select(sa.func.count()).select_from(service.runtime.platform.outbox))
        ).scalar()
    assert events == 1  # the action ran once


async def test_cursor_pagination_walks_every_item_once(service: RunningService) -> None:
    name = service.runtime.definition.name
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await service.client.get(f"/{name}/v1/numbers", params=params)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(7))
    bad = await service.client.get(f"/{name}/v1/numbers", params={"cursor": "%%%"})
    assert bad.status_code == 400
    too_big = await service.client.get(f"/{name}/v1/numbers", params={"limit": 10_000})
    assert too_big.status_code == 422


def test_timestamps_are_timezone_aware() -> None:
    from uplift.common.db import new_id, utcnow

    assert utcnow().tzinfo is dt.UTC
    a, b = new_id(), new_id()
    assert a.version == 7 and a < b  # time-ordered
