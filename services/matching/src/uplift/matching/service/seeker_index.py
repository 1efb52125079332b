"""The seekers of this process as a ranking index (`SeekerIndex`), kept in step with the projection tables.

Candidates for a posting rank every seeker of the district (50,000 in a large one) within 100 ms, so the
seekers live in a per-process cache like the open postings (`service.postings.OpenPostingsCache`). Before using
it a request asks the database one cheap question: per projection table (persons, households, profiles) the row
count and the sum of `seq` (snapshots: the newest `seq` wins, so it only grows) or `version` (profiles: every write
bumps it). That changes on every committed insert and update whatever the commit order, and equals ours exactly
when we hold every row at its newest state, so a change made by another worker is seen by the next request.

On a difference the rows updated since our watermark (less a margin for transactions that committed late) are
read again, and the seekers they touch (a household's change touches all its members) are re-put into the
index in place; if the stamp still differs after a few rounds, everything is reloaded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.matching.domain.seeker_index import SeekerIndex
from uplift.matching.service.seekers import (
    SeekerView,
    households_table,
    persons_table,
    profiles_table,
    seeker_view,
    seekers_select,
)

_ID_ARRAY = ARRAY(UUID(as_uuid=True))

Stamp = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]  # (count, Σ seq|version) per table


@dataclass(frozen=True)
class _Versions:
    """The newest `seq`/`version` we hold of each row of one table, with their running sum."""

    table: sa.Table
    key: sa.Column[uuid.UUID]
    version: sa.Column[int]


_PERSONS = _Versions(persons_table, persons_table.c.person_id, persons_table.c.seq)
_HOUSEHOLDS = _Versions(households_table, households_table.c.household_id, households_table.c.seq)
_PROFILES = _Versions(profiles_table, profiles_table.c.person_id, profiles_table.c.version)
_TABLES = (_PERSONS, _HOUSEHOLDS, _PROFILES)


class _HeldVersions:
    def __init__(self) -> None:
        self.by_key: dict[uuid.UUID, int] = {}
        self.total = 0

    def set(self, key: uuid.UUID, version: int) -> bool:
        """Record the row's version; True when it is new or changed."""
        old = self.by_key.get(key)
        if old == version:
            return False
        self.by_key[key] = version
        self.total += version - (old or 0)
        return True

    def stamp(self) -> tuple[int, int]:
        return len(self.by_key), self.total


class SeekerIndexCache:
    """The active seekers of this process as views and as a `SeekerIndex` grouped by community code."""

    WATERMARK_MARGIN = dt.timedelta(minutes=2)
    INCREMENTAL_ROUNDS = 3

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._reset()

    def _reset(self) -> None:
        self._held = [_HeldVersions() for _ in _TABLES]
        self._index = SeekerIndex()
        self._views: dict[uuid.UUID, SeekerView] = {}
        self._members: dict[uuid.UUID, set[uuid.UUID]] = {}  # household → its persons in the index
        self._stamp: Stamp | None = None  # the tables' stamp when we last matched them
        self._watermark: dt.datetime | None = None
        self.loaded = False

    def view(self, person_id: uuid.UUID) -> SeekerView | None:
        return self._views.get(person_id)

    async def _table_stamp(self, session: AsyncSession) -> tuple[Stamp, dt.datetime | None]:
        parts = [
            sa.select(
                sa.literal(number).label("part"),
                sa.func.count().label("rows"),
                sa.func.coalesce(sa.func.sum(table.version), 0).label("total"),
                sa.func.max(table.table.c.updated_at).label("newest"),
            )
            for number, table in enumerate(_TABLES)
        ]
        rows = sorted((await session.execute(sa.union_all(*parts))).all(), key=lambda row: row.part)
        stamp = tuple((int(row.rows), int(row.total)) for row in rows)
        newest = max((row.newest for row in rows if row.newest is not None), default=None)
        return stamp, newest  # type: ignore[return-value]

    def _held_stamp(self) -> Stamp:
        persons, households, profiles = (held.stamp() for held in self._held)
        return persons, households, profiles

    def _put(self, view: SeekerView) -> None:
        person_id = view.seeker.person_id
        old = self._views.get(person_id)
        if old is not None and old.household_id != view.household_id:
            self._members.get(old.household_id, set()).discard(person_id)
        self._views[person_id] = view
        self._members.setdefault(view.household_id, set()).add(person_id)
        self._index.put(view.seeker, view.community_code)

    def _drop(self, person_id: uuid.UUID) -> None:
        old = self._views.pop(person_id, None)
        if old is not None:
            self._members.get(old.household_id, set()).discard(person_id)
        self._index.remove(person_id)

    async def _full_load(self, session: AsyncSession) -> None:
        """Read everything into fresh structures and swap them in at the end: requests that do not wait for the
        lock keep ranking with the previous index meanwhile, never a half-built one."""
        # Some 300,000 long-lived objects are built here. Without the collector's repeated passes over them the
        # load takes half the time; frozen afterwards (a process-wide call; they hold no cycles, so reference
        # counting still frees them after a reload) full collections stop walking them on later requests.
        collecting = gc.isenabled()
        gc.disable()
        try:
            fresh = SeekerIndexCache()
            for table, held in zip(_TABLES, fresh._held, strict=True):
                for key, version in (await session.execute(sa.select(table.key, table.version))).all():
                    held.set(key, version)
            rows = (await session.execute(seekers_select())).all()
            fresh._index = SeekerIndex(capacity=len(rows) + 1024)
            for row in rows:
                fresh._put(seeker_view(row))
            self._held, self._index, self._views, self._members = (
                fresh._held,
                fresh._index,
                fresh._views,
                fresh._members,
            )
        finally:
            gc.freeze()
            if collecting:
                gc.enable()

    async def _changes_since(self, session: AsyncSession, since: dt.datetime) -> None:
        """Re-read the rows updated since `since` and re-put every seeker they touch."""
        changed: list[list[uuid.UUID]] = []
        for table, held in zip(_TABLES, self._held, strict=True):
            rows = (
                await session.execute(sa.select(table.key, table.version).where(table.table.c.updated_at >= since))
            ).all()
            changed.append([key for key, version in rows if held.set(key, version)])
        persons, households, profiles = changed
        touched = {*persons, *profiles}
        for household_id in households:
            touched |= self._members.get(household_id, set())
        if not touched and not households:
            return
        p = persons_table
        # One array parameter each, whatever their number (a bulk import touches tens of thousands).
        condition = sa.or_(
            p.c.person_id == sa.any_(sa.bindparam("touched", list(touched), type_=_ID_ARRAY)),
            p.c.household_id == sa.any_(sa.bindparam("households", list(households), type_=_ID_ARRAY)),
        )
        found = set()
        for row in (await session.execute(seekers_select().where(condition))).all():
            view = seeker_view(row)
            found.add(view.seeker.person_id)
            self._put(view)
        for person_id in touched - found:  # no longer active (or gone)
            self._drop(person_id)

    async def refresh(self, session: AsyncSession) -> SeekerIndex:
        """The index, brought up to date with the tables first when they changed."""
        stamp, newest = await self._table_stamp(session)
        if stamp == self._stamp:
            return self._index
        async with self._lock:
            if stamp == self._stamp:
                return self._index
            rounds = 0
            while self.loaded and self._watermark is not None and self._held_stamp() != stamp:
                if rounds == self.INCREMENTAL_ROUNDS:
                    break
                rounds += 1
                await self._changes_since(session, self._watermark - self.WATERMARK_MARGIN)
                stamp, newest = await self._table_stamp(session)
            if not self.loaded or self._held_stamp() != stamp:
                await self._full_load(session)
                stamp, newest = await self._table_stamp(session)
                self.loaded = True
            # A write committed since our last read leaves the stamps apart: the next request looks again.
            self._watermark = newest if self._watermark is None or newest is None else max(newest, self._watermark)
            self._stamp = self._held_stamp()
            return self._index

    def views(self, person_ids: Sequence[uuid.UUID]) -> list[SeekerView]:
        return [self._views[person_id] for person_id in person_ids if person_id in self._views]
