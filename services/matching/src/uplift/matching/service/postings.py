"""Employers and postings (岗位库): writes, reads, and the open postings every recommendation ranks.

Recommendations rank one seeker against every open posting (20,000 in a large district) within 100 ms, so
the open postings are kept as domain `Posting`s, and as a column index for ranking, in a per-process cache
(`OpenPostingsCache`). Before using it a request asks the database one cheap question — how many postings there
are and the sum of their versions — which changes on every committed insert and update whatever the commit
order, so a write by another worker is seen by the next request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.auth import Principal, Role
from uplift.common.db import new_id
from uplift.common.errors import FieldError, NotFound, PreconditionFailed, Unprocessable
from uplift.matching.domain.job_fair_edges import PostingIndex
from uplift.matching.domain.posting_exclusions import PostingExclusions
from uplift.matching.domain.scoring import Posting
from uplift.matching.domain.skills import DEFAULT_VOCABULARY, SkillVocabulary
from uplift.matching.models import Employer as EmployerModel
from uplift.matching.models import Posting as PostingModel
from uplift.matching.models import table_of
from uplift.matching.schemas import EmployerCreate, EmployerUpdate, PostingCreate, PostingUpdate

employers_table = table_of(EmployerModel)
postings_table = table_of(PostingModel)

EMPLOYER_NOT_FOUND = "No such employer."
POSTING_NOT_FOUND = "No such posting."


# --- skills ------------------------------------------------------------------------------------------------


def check_skill_codes(fields: Mapping[str, Sequence[str]], vocabulary: SkillVocabulary = DEFAULT_VOCABULARY) -> None:
    """422 naming every unknown skill code, each with the vocabulary's suggestions."""
    errors: list[FieldError] = []
    unknown_all: dict[str, list[str]] = {}
    for field, codes in fields.items():
        unknown = vocabulary.unknown_codes(list(codes))
        for index, code in enumerate(codes):
            if code in unknown:
                suggestions = unknown[code]
                hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
                errors.append(FieldError(f"{field}[{index}]", f"unknown skill code {code!r}{hint}"))
        unknown_all.update(unknown)
    if errors:
        raise Unprocessable(
            "Unknown skill codes: " + ", ".join(sorted(unknown_all)) + ". Use codes from GET /skills.",
            errors=errors,
            unknown_skills=unknown_all,
        )


def _dedupe(codes: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(codes))


# --- employers ---------------------------------------------------------------------------------------------


def employer_scope(principal: Principal) -> uuid.UUID | None:
    """The one employer an employer token may touch; None for roles that see every employer."""
    if principal.has_role(Role.EMPLOYER) and not principal.has_role(Role.DISTRICT_ADMIN):
        try:
            return uuid.UUID(principal.employer_id or "")
        except ValueError:
            return uuid.UUID(int=0)  # an employer token without a usable employer_id sees nothing
    return None


async def create_employer(*, session: AsyncSession, body: EmployerCreate) -> dict[str, Any]:
    """Insert an employer and return its row."""
    values = {"id": new_id(), "version": 1, **body.model_dump()}
    row = (await session.execute(sa.insert(employers_table).values(values).returning(*employers_table.c))).one()
    return dict(row._mapping)


async def get_employer(*, session: AsyncSession, employer_id: uuid.UUID, principal: Principal) -> dict[str, Any]:
    """One employer, 404 when absent or not the caller's own."""
    own = employer_scope(principal)
    if own is not None and own != employer_id:
        raise NotFound(EMPLOYER_NOT_FOUND)
    row = (await session.execute(sa.select(employers_table).where(employers_table.c.id == employer_id))).first()
    if row is None:
        raise NotFound(EMPLOYER_NOT_FOUND)
    return dict(row._mapping)


async def list_employers(
    *,
    session: AsyncSession,
    principal: Principal,
    limit: int,
    after: uuid.UUID | None,
    updated_since: dt.datetime | None,
) -> list[dict[str, Any]]:
    """Employers in id order (an employer token sees only its own), `limit + 1` rows for paging."""
    t = employers_table
    stmt = sa.select(t).order_by(t.c.id).limit(limit + 1)
    own = employer_scope(principal)
    if own is not None:
        stmt = stmt.where(t.c.id == own)
    if after is not None:
        stmt = stmt.where(t.c.id > after)
    if updated_since is not None:
        stmt = stmt.where(t.c.updated_at >= updated_since)
    return [dict(r._mapping) for r in (await session.execute(stmt)).all()]


async def update_employer(
    *, session: AsyncSession, employer_id: uuid.UUID, body: EmployerUpdate, expected_version: int | None
) -> dict[str, Any]:
    """Apply the fields sent; the version is checked by the caller before (If-Match)."""
    t = employers_table
    changes = body.model_dump(exclude_unset=True)
    stmt = (
        sa.update(t)
        .where(t.c.id == employer_id)
        .values(**changes, version=t.c.version + 1, updated_at=sa.func.now())
        .returning(*t.c)
    )
    if expected_version is not None:
        stmt = stmt.where(t.c.version == expected_version)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound(EMPLOYER_NOT_FOUND)
    return dict(row._mapping)


# --- postings ----------------------------------------------------------------------------------------------


def district_of(street_code: str | None) -> str | None:
    """The district a street belongs to: the first six digits of its division code."""
    return street_code[:6] if street_code else None


def _check_posting(values: Mapping[str, Any]) -> None:
    check_skill_codes({"essential_skills": values["essential_skills"], "optional_skills": values["optional_skills"]})
    errors = []
    if not values["remote"] and not values["street_code"]:
        errors.append(FieldError("street_code", "a posting that is not remote needs the street it is in"))
    if values["valid_to"] is not None and values["valid_to"] < values["valid_from"]:
        errors.append(FieldError("valid_to", "valid_to is before valid_from"))
    if errors:
        raise Unprocessable("The posting is invalid; see errors.", errors=errors)


async def create_posting(*, session: AsyncSession, body: PostingCreate, principal: Principal) -> dict[str, Any]:
    """Validate and insert a posting for the caller's employer (or the one named by an admin)."""
    own = employer_scope(principal)
    employer_id = body.employer_id or own
    if employer_id is None:
        raise Unprocessable(
            "employer_id is required.", errors=[FieldError("employer_id", "name the employer of the posting")]
        )
    if own is not None and employer_id != own:
        raise NotFound(EMPLOYER_NOT_FOUND)
    values = body.model_dump()
    values["essential_skills"] = _dedupe(values["essential_skills"])
    values["optional_skills"] = [s for s in _dedupe(values["optional_skills"]) if s not in values["essential_skills"]]
    _check_posting(values)
    exists = (await session.execute(sa.select(employers_table.c.id).where(employers_table.c.id == employer_id))).first()
    if exists is None:
        raise Unprocessable("Unknown employer.", errors=[FieldError("employer_id", "no such employer")])
    values.update(
        id=new_id(),
        employer_id=employer_id,
        district_code=district_of(values["street_code"]),
        version=1,
    )
    row = (await session.execute(sa.insert(postings_table).values(values).returning(*postings_table.c))).one()
    return dict(row._mapping)


async def get_posting(
    *, session: AsyncSession, posting_id: uuid.UUID, principal: Principal | None = None
) -> dict[str, Any]:
    """One posting; 404 when absent or, for an employer token, another employer's."""
    row = (await session.execute(sa.select(postings_table).where(postings_table.c.id == posting_id))).first()
    if row is None:
        raise NotFound(POSTING_NOT_FOUND)
    own = employer_scope(principal) if principal is not None else None
    if own is not None and row.employer_id != own:
        raise NotFound(POSTING_NOT_FOUND)
    return dict(row._mapping)


async def list_postings(
    *,
    session: AsyncSession,
    principal: Principal,
    limit: int,
    after: uuid.UUID | None,
    employer_id: uuid.UUID | None,
    open_only: bool | None,
    street_code: str | None,
    public_welfare: bool | None,
    updated_since: dt.datetime | None,
) -> list[dict[str, Any]]:
    """Postings in id order with the filters given; an employer token sees only its own."""
    t = postings_table
    stmt = sa.select(t).order_by(t.c.id).limit(limit + 1)
    own = employer_scope(principal)
    if own is not None:
        stmt = stmt.where(t.c.employer_id == own)
    if employer_id is not None:
        stmt = stmt.where(t.c.employer_id == employer_id)
    if open_only is not None:
        stmt = stmt.where(t.c.open.is_(open_only))
    if street_code is not None:
        stmt = stmt.where(t.c.street_code == street_code)
    if public_welfare is not None:
        stmt = stmt.where(t.c.public_welfare.is_(public_welfare))
    if after is not None:
        stmt = stmt.where(t.c.id > after)
    if updated_since is not None:
        stmt = stmt.where(t.c.updated_at >= updated_since)
    return [dict(r._mapping) for r in (await session.execute(stmt)).all()]


async def update_posting(*, session: AsyncSession, current: Mapping[str, Any], body: PostingUpdate) -> dict[str, Any]:
    """Apply the fields sent to `current` (already read, scoped and version-checked), validated as a whole."""
    changes = body.model_dump(exclude_unset=True)
    for field in (
        "occupation",
        "monthly_wage",
        "weekly_hours",
        "remote",
        "physical_demand",
        "accessible",
        "openings",
        "valid_from",
        "open",
        "public_welfare",
        "essential_skills",
        "optional_skills",
    ):
        if field in changes and changes[field] is None:
            raise Unprocessable(f"{field} cannot be null.", errors=[FieldError(field, "cannot be null")])
    merged = {**current, **changes}
    merged["essential_skills"] = _dedupe(merged["essential_skills"])
    merged["optional_skills"] = [s for s in _dedupe(merged["optional_skills"]) if s not in merged["essential_skills"]]
    _check_posting(merged)
    t = postings_table
    values = {key: merged[key] for key in (*changes, "essential_skills", "optional_skills")}
    values["district_code"] = district_of(merged["street_code"])
    row = (
        await session.execute(
            sa.update(t)
            .where(t.c.id == current["id"], t.c.version == current["version"])
            .values(**values, version=t.c.version + 1, updated_at=sa.func.now())
            .returning(*t.c)
        )
    ).first()
    if row is None:  # changed between our read and this update
        raise PreconditionFailed("The posting changed since you read it; read it again and retry.")
    return dict(row._mapping)


# --- postings as the domain sees them ----------------------------------------------------------------------

_ID_ARRAY = ARRAY(UUID(as_uuid=True))

# Arrays come back from asyncpg as lists already: skip SQLAlchemy's per-row ARRAY processing (the costliest part
# of loading 20,000 postings).
_RAW_LIST = sa.types.NullType()

_POSTING_COLUMNS = (
    postings_table.c.id,
    postings_table.c.version,
    postings_table.c.employer_id,
    postings_table.c.occupation,
    sa.type_coerce(postings_table.c.essential_skills, _RAW_LIST).label("essential_skills"),
    sa.type_coerce(postings_table.c.optional_skills, _RAW_LIST).label("optional_skills"),
    postings_table.c.monthly_wage,
    postings_table.c.weekly_hours,
    postings_table.c.street_code,
    postings_table.c.district_code,
    postings_table.c.remote,
    postings_table.c.physical_demand,
    postings_table.c.accessible,
    postings_table.c.min_education,
    postings_table.c.openings,
    postings_table.c.valid_from,
    postings_table.c.valid_to,
    postings_table.c.open,
    postings_table.c.public_welfare,
)


def domain_posting(row: Any) -> Posting:
    """A posting row (Core row or mapping) as the domain's `Posting`."""
    m = row._mapping if hasattr(row, "_mapping") else row
    return Posting(
        posting_id=m["id"],
        employer_id=m["employer_id"],
        occupation=m["occupation"],
        essential_skills=frozenset(m["essential_skills"]),
        optional_skills=frozenset(m["optional_skills"]),
        monthly_wage=m["monthly_wage"],
        weekly_hours=m["weekly_hours"],
        street_code=m["street_code"],
        district_code=m["district_code"],
        remote=m["remote"],
        physical_demand=m["physical_demand"],
        accessible=m["accessible"],
        min_education=m["min_education"],
        openings=m["openings"],
        valid_from=m["valid_from"],
        valid_to=m["valid_to"],
        open=m["open"],
        public_welfare=m["public_welfare"],
    )


async def load_domain_postings(*, session: AsyncSession, posting_ids: Sequence[uuid.UUID]) -> list[Posting]:
    """The named postings (open or not) as domain `Posting`s, in the order given; unknown ids are left out."""
    rows = (await session.execute(sa.select(*_POSTING_COLUMNS).where(postings_table.c.id.in_(posting_ids)))).all()
    by_id = {row.id: domain_posting(row) for row in rows}
    return [by_id[i] for i in dict.fromkeys(posting_ids) if i in by_id]


def recommendable(posting: Posting) -> bool:
    """Open with an opening left (validity on a date is the domain's filter, explained when asked)."""
    return posting.open and posting.openings > 0


@dataclass(frozen=True)
class OpenPostings:
    """One version of the recommendable postings; `generation` changes whenever they do."""

    generation: int
    postings: tuple[Posting, ...]
    by_id: Mapping[uuid.UUID, Posting]


class OpenPostingsCache:
    """The recommendable postings of this process, kept in step with the table at the cost of one small query.

    Every posting write bumps `version` (updates) or the row count (inserts), so `(count, Σ version)` of the
    table changes on every committed write whatever the commit order, and equals ours exactly when we hold every
    row at its newest version (we never hold a version newer than the table's). On a difference the rows
    updated since our watermark (less a margin for transactions that started earlier and committed later) are
    read again; if the stamp still differs, everything is reloaded. The ranking index is rebuilt lazily, once
    per generation and day; the exclusion columns (`explain_excluded`) once per generation.
    """

    WATERMARK_MARGIN = dt.timedelta(minutes=10)

    def __init__(self) -> None:
        self._versions: dict[uuid.UUID, int] = {}
        self._postings: dict[uuid.UUID, Posting] = {}
        self._stamp: tuple[int, int] | None = None  # the table's stamp when we last checked
        self._stamp_of_snapshot: tuple[int, int] | None = None  # the rows the snapshot was built from
        self._watermark: dt.datetime | None = None
        self._generation = 0
        self._snapshot = OpenPostings(0, (), {})
        self._index: tuple[int, dt.date, PostingIndex] | None = None
        self._exclusions: tuple[int, PostingExclusions] | None = None
        self._lock = asyncio.Lock()
        self._index_lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget the stamp, so the next request looks for changes (this process just wrote a posting)."""
        self._stamp = None

    async def _table_stamp(self, session: AsyncSession) -> tuple[tuple[int, int], dt.datetime | None]:
        t = postings_table
        row = (
            await session.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(t.c.version), 0), sa.func.max(t.c.updated_at))
            )
        ).one()
        return (int(row[0]), int(row[1])), row[2]

    def _held_stamp(self) -> tuple[int, int]:
        return len(self._versions), sum(self._versions.values())

    def _apply(self, rows: Sequence[Any]) -> None:
        for row in rows:
            self._versions[row.id] = row.version
            posting = domain_posting(row)
            if recommendable(posting):
                self._postings[row.id] = posting
            else:
                self._postings.pop(row.id, None)

    async def open_postings(self, session: AsyncSession) -> OpenPostings:
        stamp, newest = await self._table_stamp(session)
        if stamp == self._stamp:
            return self._snapshot
        async with self._lock:
            if stamp == self._stamp:
                return self._snapshot
            t = postings_table
            if self._watermark is not None and self._versions:
                # The versions of the rows updated around the watermark first, then only the rows that changed
                # (after a bulk load every row is recent: reading them whole would cost a second).
                since = self._watermark - self.WATERMARK_MARGIN
                recent = (await session.execute(sa.select(t.c.id, t.c.version).where(t.c.updated_at >= since))).all()
                changed = [row.id for row in recent if self._versions.get(row.id) != row.version]
                if changed:
                    ids = sa.bindparam("changed", changed, type_=_ID_ARRAY)
                    self._apply(
                        (await session.execute(sa.select(*_POSTING_COLUMNS).where(t.c.id == sa.any_(ids)))).all()
                    )
                stamp, newest = await self._table_stamp(session)
            if self._held_stamp() != stamp:
                self._versions.clear()
                self._postings.clear()
                self._apply((await session.execute(sa.select(*_POSTING_COLUMNS))).all())
            self._watermark = newest
            held = self._held_stamp()
            if held != self._stamp_of_snapshot:  # the rows we hold changed: a new generation
                self._generation += 1
                self._snapshot = OpenPostings(self._generation, tuple(self._postings.values()), dict(self._postings))
                self._stamp_of_snapshot = held
            self._stamp = held
            return self._snapshot

    async def index(self, session: AsyncSession, today: dt.date) -> tuple[OpenPostings, PostingIndex]:
        """The postings and their ranking index for `today` (rebuilt when either changed)."""
        snapshot = await self.open_postings(session)
        async with self._index_lock:
            held = self._index
            if held is not None and held[0] == snapshot.generation and held[1] == today:
                return snapshot, held[2]
            index = PostingIndex(snapshot.postings, today)
            self._index = (snapshot.generation, today, index)
            return snapshot, index

    def exclusions(self, snapshot: OpenPostings) -> PostingExclusions:
        """The filter columns of `snapshot`'s postings, for explaining exclusions (built once per generation)."""
        held = self._exclusions
        if held is not None and held[0] == snapshot.generation:
            return held[1]
        exclusions = PostingExclusions(snapshot.postings)
        self._exclusions = (snapshot.generation, exclusions)
        return exclusions
