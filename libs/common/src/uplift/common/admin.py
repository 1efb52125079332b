"""Admin endpoints every service has: dead letters (list, retry) and outbox replay (district_admin only)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from uplift.common.auth import Principal, require
from uplift.common.envelope import Envelope
from uplift.common.errors import Conflict, FieldError, NotFound, ServiceUnavailable, Unprocessable
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.common.runtime import RuntimeDep

AdminDep = Annotated[Principal, Depends(require("district_admin"))]


class DeadLetterRead(BaseModel):
    id: uuid.UUID
    consumer: str
    event_id: uuid.UUID
    event_type: str
    subject: str
    error: str
    attempts: int
    status: str
    created_at: dt.datetime
    retried_at: dt.datetime | None


class RetryResult(BaseModel):
    id: uuid.UUID
    outcome: str
    error: str | None = None


class ReplayRequest(BaseModel):
    """A range of outbox positions (inclusive) to publish again."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: int = Field(alias="from", ge=1)
    to: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ReplayRequest:
        if self.to < self.from_:
            raise ValueError("'to' must not be before 'from'")
        return self


class ReplayResult(BaseModel):
    republished: int
    from_: int = Field(serialization_alias="from")
    to: int


def admin_router() -> APIRouter:
    router = APIRouter()

    @router.get(
        "/dead-letters", response_model=Page[DeadLetterRead], summary="Events that exhausted their retries"
    )
    async def list_dead_letters(
        runtime: RuntimeDep,
        _: AdminDep,
        page: Annotated[PageParams, Depends(page_params)],
        status: Annotated[str | None, Query(pattern="^(open|retried)$")] = None,
    ) -> Any:
        table = runtime.platform.dead_letters
        stmt = sa.select(table).order_by(table.c.created_at, table.c.id).limit(page.limit + 1)
        if status:
            stmt = stmt.where(table.c.status == status)
        if page.cursor:
            created, ident = page.cursor
            stmt = stmt.where(
                sa.tuple_(table.c.created_at, table.c.id)
                > (dt.datetime.fromisoformat(created), uuid.UUID(ident))
            )
        async with runtime.sessions() as session:
            rows = (await session.execute(stmt)).mappings().all()
        items = [DeadLetterRead.model_validate(dict(r)) for r in rows]
        return make_page(items, page.limit, lambda d: [d.created_at.isoformat(), str(d.id)])

    @router.post("/dead-letters/{dead_letter_id}:retry", response_model=RetryResult, summary="Apply it again")
    async def retry_dead_letter(dead_letter_id: uuid.UUID, runtime: RuntimeDep, _: AdminDep) -> RetryResult:
        table = runtime.platform.dead_letters
        async with runtime.sessions() as session:
            row = (await session.execute(sa.select(table).where(table.c.id == dead_letter_id))).first()
        if row is None:
            raise NotFound(f"No dead letter {dead_letter_id}.")
        if row.status == "retried":
            raise Conflict("This dead letter was already retried successfully.")
        consumer = runtime.consumer_named(row.consumer)
        if consumer is None:
            raise Conflict(f"Consumer {row.consumer} is not part of this service any more.")
        outcome = await consumer.retry_dead_letter(Envelope.model_validate(row.envelope))
        runtime.relay.wake()
        return RetryResult(id=dead_letter_id, outcome=outcome.status, error=outcome.error)

    @router.post("/outbox:replay", response_model=ReplayResult, summary="Re-publish a range of the outbox")
    async def replay_outbox(body: ReplayRequest, runtime: RuntimeDep, _: AdminDep) -> ReplayResult:
        if body.to - body.from_ > 10_000_000:
            raise Unprocessable(
                "The range is too large.", errors=[FieldError("to", "at most 10,000,000 events")]
            )
        try:
            count = await runtime.relay.replay(from_position=body.from_, to_position=body.to)
        except ConnectionError as exc:
            raise ServiceUnavailable("NATS is not reachable; try the replay again later.") from exc
        return ReplayResult(republished=count, from_=body.from_, to=body.to)

    return router
