"""The assessment weights in force: every `PUT` stores a new version; the newest one is used."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.metrics import models as m
from uplift.metrics.domain.assessment import DEFAULT_WEIGHTS, Weights


@dataclass(frozen=True)
class StoredWeights:
    version: int  # 0 for the built-in defaults
    weights: Weights
    set_by: str | None = None
    set_at: dt.datetime | None = None


async def current_weights(session: AsyncSession) -> StoredWeights:
    w = m.assessment_weights
    row = (
        await session.execute(
            sa.select(w.c.version, w.c.weights, w.c.set_by, w.c.set_at).order_by(w.c.version.desc()).limit(1)
        )
    ).first()
    if row is None:
        return StoredWeights(0, DEFAULT_WEIGHTS)
    return StoredWeights(row.version, Weights.model_validate(row.weights), row.set_by, row.set_at)


async def store_weights(session: AsyncSession, weights: Weights, *, set_by: str) -> StoredWeights:
    """Save `weights` as the next version (the table lock makes concurrent writers take turns)."""
    w = m.assessment_weights
    await session.execute(sa.text(f'LOCK TABLE "{w.schema}"."{w.name}" IN SHARE ROW EXCLUSIVE MODE'))
    latest = (await session.execute(sa.select(sa.func.coalesce(sa.func.max(w.c.version), 0)))).scalar_one()
    row = (
        await session.execute(
            sa.insert(w)
            .values(version=latest + 1, weights=weights.model_dump(mode="json"), set_by=set_by)
            .returning(w.c.version, w.c.set_at)
        )
    ).one()
    return StoredWeights(row.version, weights, set_by, row.set_at)
