"""Insured persons: the registry's persons and households as the medical service sees them, with history.

The projection answers one question for every claim: *who was this person on the discharge date* — the household
they belonged to then, that household's category if it was `enrolled` or in `transition` then, its street and
community, and whether the person was medically insured (DOMAIN.md §9). Current snapshots keep the newest `seq`
(`upsert_snapshot`); every snapshot is also appended, once, to a history keyed by `(id, seq)` and dated by a
business date (see `uplift.medical.consumers` for how each event is dated).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.consumer import upsert_snapshot
from uplift.common.contracts import HouseholdSnapshot, PersonSnapshot
from uplift.medical.domain import Category
from uplift.medical.models import HouseholdStatusChange, InsuredHousehold, InsuredPerson, Membership, table_of

persons_table = table_of(InsuredPerson)
memberships_table = table_of(Membership)
households_table = table_of(InsuredHousehold)
household_statuses_table = table_of(HouseholdStatusChange)

# Statuses in which a household's category counts for medical relief (在册 or 渐退期).
_STATUSES_WITH_CATEGORY = frozenset({"enrolled", "transition"})


@dataclass(frozen=True)
class Standing:
    """Who a person was on a date, as far as medical relief cares."""

    person_id: uuid.UUID
    household_id: uuid.UUID | None
    category: Category | None
    street_code: str | None
    community_code: str | None
    medically_insured: bool


# --- the projection's writes ---------------------------------------------------------------------------------


async def household_known(session: AsyncSession, household_id: uuid.UUID) -> bool:
    stmt = sa.select(sa.exists().where(households_table.c.household_id == household_id))
    return bool((await session.execute(stmt)).scalar_one())


async def record_household(
    session: AsyncSession, snapshot: HouseholdSnapshot, *, effective_on: dt.date, event_type: str
) -> None:
    """Keep the newest snapshot and append this one to the household's status history (idempotent)."""
    values = {
        "household_id": snapshot.household_id,
        "status": snapshot.status,
        "category": snapshot.category,
        "street_code": snapshot.street_code,
        "community_code": snapshot.community_code,
    }
    await upsert_snapshot(
        session, households_table, {**values, "seq": snapshot.seq, "updated_at": sa.func.now()}, key=("household_id",)
    )
    await session.execute(
        pg_insert(household_statuses_table)
        .values(**values, seq=snapshot.seq, effective_on=effective_on, event_type=event_type)
        .on_conflict_do_nothing()
    )


async def record_person(
    session: AsyncSession, snapshot: PersonSnapshot, *, effective_on: dt.date, event_type: str
) -> None:
    """Keep the newest snapshot and append this one to the person's membership history (idempotent)."""
    await upsert_snapshot(
        session,
        persons_table,
        {
            "person_id": snapshot.person_id,
            "household_id": snapshot.household_id,
            "id_hash": snapshot.id_hash,
            "medical_insured": snapshot.medical_insured,
            "active": snapshot.active,
            "seq": snapshot.seq,
            "updated_at": sa.func.now(),
        },
        key=("person_id",),
    )
    await session.execute(
        pg_insert(memberships_table)
        .values(
            person_id=snapshot.person_id,
            seq=snapshot.seq,
            household_id=snapshot.household_id,
            active=snapshot.active,
            medical_insured=snapshot.medical_insured,
            effective_on=effective_on,
            event_type=event_type,
        )
        .on_conflict_do_nothing()
    )


async def previous_household_of(session: AsyncSession, person_id: uuid.UUID, seq: int) -> uuid.UUID | None:
    """The household of the person's snapshot just before `seq` (None if this is the first we hold)."""
    table = memberships_table
    stmt = (
        sa.select(table.c.household_id)
        .where(table.c.person_id == person_id, table.c.seq < seq)
        .order_by(table.c.seq.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# --- the claim's question ------------------------------------------------------------------------------------


def _standing_statement(by: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """Who a person (found by `by`) was on the date bound to `:on`; built once, reused for every claim."""
    p, m, hs, h = persons_table, memberships_table, household_statuses_table, households_table
    on = sa.bindparam("on", type_=sa.Date)
    membership = (
        sa.select(m.c.household_id, m.c.active, m.c.medical_insured)
        .where(m.c.person_id == p.c.person_id, m.c.effective_on <= on)
        .order_by(m.c.effective_on.desc(), m.c.seq.desc())
        .limit(1)
        .lateral("membership")
    )
    status = (
        sa.select(hs.c.status, hs.c.category, hs.c.street_code, hs.c.community_code)
        .where(hs.c.household_id == membership.c.household_id, hs.c.effective_on <= on)
        .order_by(hs.c.effective_on.desc(), hs.c.seq.desc())
        .limit(1)
        .lateral("status")
    )
    return (
        sa.select(
            p.c.person_id,
            p.c.medical_insured.label("insured_now"),
            membership.c.household_id,
            membership.c.active,
            membership.c.medical_insured,
            status.c.status,
            status.c.category,
            status.c.street_code,
            status.c.community_code,
            h.c.street_code.label("street_now"),
            h.c.community_code.label("community_now"),
        )
        .select_from(p)
        .outerjoin(membership, sa.true())
        .outerjoin(status, sa.true())
        .outerjoin(h, h.c.household_id == membership.c.household_id)
        .where(by)
        .order_by(p.c.seq.desc())
        .limit(1)
    )


_STANDING_BY_PERSON = _standing_statement(persons_table.c.person_id == sa.bindparam("person_id"))
_STANDING_BY_ID_HASH = _standing_statement(persons_table.c.id_hash == sa.bindparam("id_hash"))


async def standing_on(
    session: AsyncSession, on: dt.date, *, person_id: uuid.UUID | None = None, id_hash: str | None = None
) -> Standing | None:
    """The person's standing on date `on` (found by id or by `id_hash`); None when the person is unknown.

    Category rule (DOMAIN.md §9): the category, on that date, of the household the person belonged to on that
    date, if that household was enrolled or in transition then; otherwise none.
    """
    if person_id is not None:
        stmt, params = _STANDING_BY_PERSON, {"on": on, "person_id": person_id}
    elif id_hash is not None:
        stmt, params = _STANDING_BY_ID_HASH, {"on": on, "id_hash": id_hash}
    else:
        raise ValueError("standing_on needs a person_id or an id_hash")
    row = (await session.execute(stmt, params)).first()
    if row is None:
        return None
    if row.household_id is None or not row.active:
        # No membership yet on that date, or the person had left: no household then.
        return Standing(
            row.person_id, None, None, None, None, bool(row.insured_now if row.active is None else row.medical_insured)
        )
    category: Category | None = None
    if row.status is None:  # the household was not yet enrolled on that date
        return Standing(row.person_id, row.household_id, None, row.street_now, row.community_now, row.medical_insured)
    if row.status in _STATUSES_WITH_CATEGORY:
        category = Category(row.category)
    return Standing(row.person_id, row.household_id, category, row.street_code, row.community_code, row.medical_insured)
