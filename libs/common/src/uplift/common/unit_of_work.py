"""The unit of work: one transaction whose events ride to the outbox in the same commit.

    async with UnitOfWork(sessions, outbox=tables, source="uplift/registry") as uow:
        household = await households.enrol(uow.session, ...)
        uow.emit("registry.household.enrolled.v1", subject=household.id, aggregate="household", data={...})
        await uow.commit()

Use cases never commit; the caller that opened the unit does. Leaving the block without `commit()` rolls back
and drops the collected events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from uplift.common.context import causation_id_var, idempotency_claim_var, request_id_var
from uplift.common.contracts import aggregate_of
from uplift.common.db import PlatformTables, new_id, utcnow
from uplift.common.envelope import Envelope
from uplift.common.errors import IdempotencyKeyTaken


@dataclass
class PendingEvent:
    event_type: str
    subject: str
    aggregate_type: str
    data: dict[str, Any]
    event_id: uuid.UUID = field(default_factory=new_id)
    seq: int | None = None


class UnitOfWork:
    """A session in a transaction plus the events it will publish."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        platform: PlatformTables,
        source: str,
    ) -> None:
        self._sessions = sessions
        self._platform = platform
        self._source = source
        self._session: AsyncSession | None = None
        self._events: list[PendingEvent] = []
        self.committed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        await self._session.begin()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        try:
            if not self.committed:
                await self._session.rollback()
        finally:
            await self._session.close()
            self._session = None
            self._events.clear()

    def emit(
        self,
        event_type: str,
        *,
        subject: uuid.UUID | str,
        data: BaseModel | dict[str, Any],
        aggregate: str | None = None,
        seq: int | None = None,
    ) -> PendingEvent:
        """Collect an event about aggregate `subject`; its `seq` is assigned at commit unless given.

        `data` must hold no personal data (EVENTS.md): ids, codes, amounts and flags only.
        """
        payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
        event = PendingEvent(
            event_type=event_type,
            subject=str(subject),
            aggregate_type=aggregate or aggregate_of(event_type),
            data=payload,
            seq=seq,
        )
        self._events.append(event)
        return event

    @property
    def pending_events(self) -> list[PendingEvent]:
        return list(self._events)

    def discard_events(self) -> None:
        """Forget collected events (their work was rolled back to a savepoint)."""
        self._events.clear()

    async def next_seq(self, aggregate_type: str, aggregate_id: uuid.UUID | str) -> int:
        """Bump and return one aggregate's version (row-locked until commit, so seqs follow commit order)."""
        table = self._platform.aggregate_versions
        stmt = (
            pg_insert(table)
            .values(aggregate_type=aggregate_type, aggregate_id=str(aggregate_id), seq=1)
            .on_conflict_do_update(
                index_elements=[table.c.aggregate_type, table.c.aggregate_id],
                set_={"seq": table.c.seq + 1},
            )
            .returning(table.c.seq)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def _assign_seqs(self) -> None:
        """Give every collected event without a `seq` its aggregate's next versions, in one statement.

        Each aggregate's counter moves by the number of its events in this unit; rows are locked in key order so
        two units touching the same aggregates cannot deadlock.
        """
        counts: dict[tuple[str, str], int] = {}
        for event in self._events:
            if event.seq is None:
                key = (event.aggregate_type, event.subject)
                counts[key] = counts.get(key, 0) + 1
        if not counts:
            return
        keys = sorted(counts)
        table = self._platform.aggregate_versions
        result = await self.session.execute(
            sa.text(
                f'INSERT INTO "{table.schema}".aggregate_versions AS v (aggregate_type, aggregate_id, seq) '  # noqa: S608
                "SELECT t, i, n FROM unnest(CAST(:types AS text[]), CAST(:ids AS text[]), CAST(:ns AS bigint[])) "
                "AS u(t, i, n) ORDER BY t, i "
                "ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET seq = v.seq + excluded.seq "
                "RETURNING aggregate_type, aggregate_id, seq"
            ),
            {"types": [k[0] for k in keys], "ids": [k[1] for k in keys], "ns": [counts[k] for k in keys]},
        )
        next_seq = {(row[0], row[1]): int(row[2]) - counts[(row[0], row[1])] + 1 for row in result}
        for event in self._events:
            if event.seq is None:
                key = (event.aggregate_type, event.subject)
                event.seq = next_seq[key]
                next_seq[key] += 1

    async def flush_events(self) -> list[Envelope]:
        """Write the collected events to the outbox (inside the transaction) and return their envelopes."""
        if not self._events:
            return []
        await self._assign_seqs()
        correlation = request_id_var.get()
        causation = causation_id_var.get() or correlation
        recorded_at = utcnow()
        time_text = recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        rows = []
        envelopes = []
        for event in self._events:
            assert event.seq is not None
            # The payload and the aggregate snapshot it carries (e.g. `household`) both say this version.
            data = to_jsonable_python(
                {
                    key: ({**value, "seq": event.seq} if isinstance(value, dict) and "seq" in value else value)
                    for key, value in event.data.items()
                }
            )
            data["seq"] = event.seq
            document = {
                "specversion": "1.0",
                "id": str(event.event_id),
                "type": event.event_type,
                "source": self._source,
                "subject": event.subject,
                "time": time_text,
                "datacontenttype": "application/json",
                "correlationid": correlation,
                "causationid": causation,
                "data": data,
            }
            envelopes.append(
                Envelope.model_construct(
                    id=event.event_id,
                    type=event.event_type,
                    source=self._source,
                    subject=event.subject,
                    time=recorded_at,
                    correlationid=correlation,
                    causationid=causation,
                    data=data,
                )
            )
            rows.append(
                {
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "subject": event.subject,
                    "aggregate_type": event.aggregate_type,
                    "aggregate_id": event.subject,
                    "seq": event.seq,
                    "envelope": document,
                }
            )
        await self.session.execute(sa.insert(self._platform.outbox), rows)
        self._events.clear()
        return envelopes

    async def commit(self) -> list[Envelope]:
        """Write the outbox rows and commit everything in one transaction."""
        envelopes = await self.flush_events()
        claim = idempotency_claim_var.get()
        if claim is not None and not claim.marked:
            # The request's Idempotency-Key is marked done in the same commit as its effects, so a retry after a
            # lost answer is refused instead of acting twice. Only the claim's current holder may mark it: when a
            # slow request's expired claim was taken over by a retry, whichever commits second rolls back.
            keys = self._platform.idempotency_keys
            marked = await self.session.execute(
                sa.update(keys)
                .where(
                    keys.c.principal == claim.principal,
                    keys.c.key == claim.key,
                    keys.c.created_at == claim.claimed_at,
                    keys.c.completed_at.is_(None),
                )
                .values(completed_at=sa.func.now())
            )
            if marked.rowcount != 1:  # type: ignore[attr-defined]
                await self.session.rollback()
                raise IdempotencyKeyTaken()
        await self.session.commit()
        if claim is not None:
            claim.marked = True
        self.committed = True
        return envelopes
