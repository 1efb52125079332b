"""Org units: the district, its streets, communities and grids (division codes) and its departments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.errors import Conflict, FieldError, NotFound, Unprocessable
from uplift.registry.domain.households import OrgKind, org_code_problem, parent_problem
from uplift.registry.models.households import OrgUnit
from uplift.registry.service import audit

org_units = cast(sa.Table, OrgUnit.__table__)


async def kinds_of(session: AsyncSession, codes: Sequence[str]) -> dict[str, str]:
    """code -> kind for the codes that exist."""
    if not codes:
        return {}
    rows = await session.execute(sa.select(org_units.c.code, org_units.c.kind).where(org_units.c.code.in_(codes)))
    return {row.code: row.kind for row in rows}


async def create(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    kind: OrgKind,
    parent_code: str | None,
    linked_streets: Sequence[str],
    actor: str,
) -> dict[str, Any]:
    """Create an org unit whose code and parent fit its kind; 409 when the code exists."""
    errors = []
    code_problem = org_code_problem(kind, code)
    if code_problem:
        errors.append(FieldError("code", code_problem))
    if linked_streets and kind != "department":
        errors.append(FieldError("linked_streets", "only a department has linked streets"))
    known = await kinds_of(session, [c for c in (parent_code, *linked_streets) if c is not None])
    problem = parent_problem(kind, code, parent_code, known.get(parent_code) if parent_code else None)
    if problem:
        errors.append(FieldError("parent_code", problem))
    for index, street in enumerate(linked_streets):
        if known.get(street) != "street":
            errors.append(FieldError(f"linked_streets[{index}]", f"{street} is not a known street"))
    if errors:
        raise Unprocessable("The org unit is invalid; see errors.", errors=errors)
    inserted = await session.execute(
        pg_insert(org_units)
        .values(
            code=code,
            name=name,
            kind=kind,
            parent_code=parent_code,
            linked_streets=list(dict.fromkeys(linked_streets)),
        )
        .on_conflict_do_nothing(index_elements=[org_units.c.code])
        .returning(*org_units.c)
    )
    row = inserted.first()
    if row is None:
        raise Conflict(f"org unit {code} exists already")
    await audit.record(session, actor=actor, action="org_unit.created", subject_type="org_unit", subject_id=code)
    return dict(row._mapping)


async def get(session: AsyncSession, code: str) -> dict[str, Any]:
    row = (await session.execute(sa.select(org_units).where(org_units.c.code == code))).first()
    if row is None:
        raise NotFound(f"org unit {code} not found")
    return dict(row._mapping)


async def search(
    session: AsyncSession,
    *,
    kind: str | None,
    parent_code: str | None,
    updated_since: dt.datetime | None,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    stmt = sa.select(org_units).order_by(org_units.c.code).limit(limit)
    if kind is not None:
        stmt = stmt.where(org_units.c.kind == kind)
    if parent_code is not None:
        stmt = stmt.where(org_units.c.parent_code == parent_code)
    if updated_since is not None:
        stmt = stmt.where(org_units.c.updated_at >= updated_since)
    if after is not None:
        stmt = stmt.where(org_units.c.code > after)
    return [dict(row._mapping) for row in await session.execute(stmt)]
