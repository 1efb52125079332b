"""The audit log: who read unmasked personal data or changed what, and when (never the data itself)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.db import new_id, utcnow
from uplift.registry.models.households import AuditEntry

audit_log = cast(sa.Table, AuditEntry.__table__)


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID | str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one audit entry in the caller's transaction."""
    await session.execute(
        sa.insert(audit_log).values(
            id=new_id(),
            at=utcnow(),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            detail=detail or {},
        )
    )


async def record_many(session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    """Write many entries (`actor, action, subject_type, subject_id, detail`) in one statement."""
    if not entries:
        return
    now = utcnow()
    rows = [
        {"id": new_id(), "at": now, "detail": {}, **entry, "subject_id": str(entry["subject_id"])} for entry in entries
    ]
    await session.execute(sa.insert(audit_log), rows)


async def search(
    session: AsyncSession,
    *,
    subject_id: str | None,
    actor: str | None,
    from_at: dt.datetime | None,
    to_at: dt.datetime | None,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[sa.Row[Any]]:
    """Entries newest first, filtered; `after` is the (at, id) of the last entry of the previous page."""
    stmt = sa.select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
    if subject_id is not None:
        stmt = stmt.where(audit_log.c.subject_id == subject_id)
    if actor is not None:
        stmt = stmt.where(audit_log.c.actor == actor)
    if from_at is not None:
        stmt = stmt.where(audit_log.c.at >= from_at)
    if to_at is not None:
        stmt = stmt.where(audit_log.c.at <= to_at)
    if after is not None:
        stmt = stmt.where(sa.tuple_(audit_log.c.at, audit_log.c.id) < sa.tuple_(*after))
    return list((await session.execute(stmt)).all())
