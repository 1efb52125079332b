"""Seekers (对象库 as matching sees it): the registry's persons and households, projected from its events, with
the profile kept here and the skills trainings here added.

The projection keeps each person's and household's newest snapshot (`upsert_snapshot`, newest `seq` wins) and
the retirement ages of every parameters version. A seeker is then assembled per request: age from the birth
year, working age from the retirement ages in force on the day, household status and street from the
household, and whether the household is a zero-employment household (零就业家庭), computed over its active
members: at least one of working age with work ability, and none employed (in the registry's view, or in an
active placement here that the registry has not reported back yet).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.auth import Principal, Role
from uplift.common.consumer import upsert_snapshot
from uplift.common.contracts import HouseholdSnapshot, ParametersSet, PersonSnapshot
from uplift.common.errors import NotFound
from uplift.matching.domain.scoring import (
    DEFAULT_WORKING_AGE,
    Seeker,
    SeekerProfile,
    WorkingAge,
)
from uplift.matching.models import Placement, SeekerHousehold, SeekerPerson, WorkingAgeParameters, table_of
from uplift.matching.models import SeekerProfile as SeekerProfileModel
from uplift.matching.schemas import SeekerProfileUpdate

households_table = table_of(SeekerHousehold)
persons_table = table_of(SeekerPerson)
profiles_table = table_of(SeekerProfileModel)
parameters_table = table_of(WorkingAgeParameters)
placements_table = table_of(Placement)

SEEKER_NOT_FOUND = "No such seeker."


# --- the projection's writes -------------------------------------------------------------------------------


async def household_known(session: AsyncSession, household_id: uuid.UUID) -> bool:
    stmt = sa.select(sa.exists().where(households_table.c.household_id == household_id))
    return bool((await session.execute(stmt)).scalar_one())


async def record_household(session: AsyncSession, snapshot: HouseholdSnapshot) -> bool:
    """Keep the household's newest snapshot."""
    return await upsert_snapshot(
        session,
        households_table,
        {
            "household_id": snapshot.household_id,
            "seq": snapshot.seq,
            "status": snapshot.status,
            "category": snapshot.category,
            "street_code": snapshot.street_code,
            "community_code": snapshot.community_code,
            "updated_at": sa.func.now(),
        },
        key=("household_id",),
    )


async def record_person(session: AsyncSession, snapshot: PersonSnapshot) -> bool:
    """Keep the person's newest snapshot."""
    return await upsert_snapshot(
        session,
        persons_table,
        {
            "person_id": snapshot.person_id,
            "seq": snapshot.seq,
            "household_id": snapshot.household_id,
            "birth_year": snapshot.birth_year,
            "sex": snapshot.sex,
            "work_ability": snapshot.work_ability,
            "employment_status": snapshot.employment_status,
            "disability_level": snapshot.disability_level,
            "chronic_illness": snapshot.chronic_illness,
            "education": snapshot.education,
            "skills": list(dict.fromkeys(snapshot.skills)),
            "active": snapshot.active,
            "updated_at": sa.func.now(),
        },
        key=("person_id",),
    )


async def record_parameters(session: AsyncSession, payload: ParametersSet) -> bool:
    """Keep the retirement ages of a parameters version (the newest `seq` of that version wins)."""
    return await upsert_snapshot(
        session,
        parameters_table,
        {
            "effective_from": payload.effective_from,
            "seq": payload.aggregate_seq,
            "retirement_age_male": payload.retirement_age.male,
            "retirement_age_female": payload.retirement_age.female,
        },
        key=("effective_from",),
    )


# --- parameters --------------------------------------------------------------------------------------------


async def working_age_on(session: AsyncSession, on: dt.date) -> WorkingAge:
    """Working age by the parameters version in force on `on` (the built-in defaults before the first)."""
    t = parameters_table
    row = (
        await session.execute(
            sa.select(t.c.retirement_age_male, t.c.retirement_age_female)
            .where(t.c.effective_from <= on)
            .order_by(t.c.effective_from.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return DEFAULT_WORKING_AGE
    return WorkingAge(retirement_age_male=row.retirement_age_male, retirement_age_female=row.retirement_age_female)


# --- assembling seekers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeekerView:
    """A seeker with the registry facts the API shows beside the domain's `Seeker`."""

    seeker: Seeker
    household_id: uuid.UUID
    community_code: str
    household_category: str
    employment_status: str
    registry_skills: tuple[str, ...]
    trained_skills: tuple[str, ...]  # what trainings here added


# Arrays come back from asyncpg as lists already: skip SQLAlchemy's per-row ARRAY processing.
_RAW_LIST = sa.types.NullType()

_SEEKER_COLUMNS = (
    persons_table.c.person_id,
    persons_table.c.household_id,
    persons_table.c.birth_year,
    persons_table.c.sex,
    persons_table.c.work_ability,
    persons_table.c.employment_status,
    persons_table.c.disability_level,
    persons_table.c.chronic_illness,
    persons_table.c.education,
    sa.type_coerce(persons_table.c.skills, _RAW_LIST).label("skills"),
    households_table.c.status,
    households_table.c.category,
    households_table.c.street_code,
    households_table.c.community_code,
    sa.type_coerce(profiles_table.c.desired_occupations, _RAW_LIST).label("desired_occupations"),
    profiles_table.c.desired_hours,
    profiles_table.c.max_hours,
    profiles_table.c.min_wage,
    profiles_table.c.location_pref,
    profiles_table.c.prefers_remote,
    profiles_table.c.no_heavy_work,
    sa.type_coerce(profiles_table.c.trained_skills, _RAW_LIST).label("trained_skills"),
)


def _zero_employment(
    on: dt.date, working_age: WorkingAge, household_id: sa.ColumnElement[Any] = persons_table.c.household_id
) -> sa.ScalarSelect[Any]:
    """零就业家庭, per household: among its active members, at least one of working age with work ability, and
    none employed (in the registry's view, or placed here and not yet reported back)."""
    member, placement = persons_table.alias("member"), placements_table
    age = on.year - member.c.birth_year
    retirement = sa.case(
        (member.c.sex == "male", working_age.retirement_age_male), else_=working_age.retirement_age_female
    )
    able = sa.and_(member.c.work_ability != "none", age >= working_age.minimum_age, age < retirement)
    employed = sa.or_(
        member.c.employment_status == "employed",
        sa.exists().where(placement.c.person_id == member.c.person_id, placement.c.ended_on.is_(None)),
    )
    return (
        sa.select(
            sa.and_(
                sa.func.coalesce(sa.func.bool_or(able), False),
                sa.not_(sa.func.coalesce(sa.func.bool_or(employed), False)),
            )
        )
        .where(member.c.household_id == household_id, member.c.active.is_(True))
        .scalar_subquery()
    )


def _seeker_select(on: dt.date, working_age: WorkingAge, *, zero_employment: bool = True) -> sa.Select[Any]:
    zero = _zero_employment(on, working_age) if zero_employment else sa.false()
    return (
        sa.select(*_SEEKER_COLUMNS, zero.label("zero_employment"))
        .select_from(persons_table)
        .join(households_table, households_table.c.household_id == persons_table.c.household_id)
        .outerjoin(profiles_table, profiles_table.c.person_id == persons_table.c.person_id)
        .where(persons_table.c.active.is_(True))
    )


def seekers_select() -> sa.Select[Any]:
    """The active seekers' columns, every seeker reading as not in a zero-employment household (as with
    `load_seekers(zero_employment=False)`)."""
    return _seeker_select(dt.date.min, DEFAULT_WORKING_AGE, zero_employment=False)


_NO_PROFILE = SeekerProfile()


def _profile_of(row: Any) -> SeekerProfile:
    if row.location_pref is None:  # no profile yet
        return _NO_PROFILE
    return SeekerProfile(
        desired_occupations=frozenset(row.desired_occupations or ()),
        desired_hours=row.desired_hours,
        max_hours=row.max_hours,
        min_wage=row.min_wage,
        location_pref=row.location_pref,
        prefers_remote=row.prefers_remote,
        no_heavy_work=row.no_heavy_work,
    )


def seeker_view(row: Any) -> SeekerView:
    """A row of the seekers' select as a `SeekerView`."""
    trained = tuple(row.trained_skills or ())
    seeker = Seeker(
        person_id=row.person_id,
        birth_year=row.birth_year,
        sex=row.sex,
        work_ability=row.work_ability,
        disability_level=row.disability_level,
        chronic_illness=row.chronic_illness,
        household_status=row.status,
        zero_employment_household=bool(row.zero_employment),
        street_code=row.street_code,
        district_code=row.street_code[:6],
        skills=frozenset((*row.skills, *trained)),
        education=row.education,
        profile=_profile_of(row),
    )
    return SeekerView(
        seeker=seeker,
        household_id=row.household_id,
        community_code=row.community_code,
        household_category=row.category,
        employment_status=row.employment_status,
        registry_skills=tuple(row.skills),
        trained_skills=trained,
    )


def ensure_seeker_in_scope(principal: Principal, community_code: str) -> None:
    """A street or community worker sees the seekers of its org only (404 otherwise, like absence)."""
    if principal.has_role(Role.DISTRICT_ADMIN) or principal.is_integrator:
        return
    if not principal.in_scope(community_code):
        raise NotFound(SEEKER_NOT_FOUND)


async def load_seeker(
    *, session: AsyncSession, person_id: uuid.UUID, on: dt.date, working_age: WorkingAge, principal: Principal | None
) -> SeekerView:
    """One active seeker as of `on`; 404 when unknown, inactive or outside the caller's org."""
    stmt = _seeker_select(on, working_age).where(persons_table.c.person_id == person_id)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound(SEEKER_NOT_FOUND)
    if principal is not None:
        ensure_seeker_in_scope(principal, row.community_code)
    return seeker_view(row)


async def load_seekers(
    *,
    session: AsyncSession,
    on: dt.date,
    working_age: WorkingAge,
    person_ids: Sequence[uuid.UUID] | None = None,
    where: Sequence[sa.ColumnElement[bool]] = (),
    zero_employment: bool = True,
) -> list[SeekerView]:
    """Active seekers (all, those named, or those matching `where`) as of `on`, in person-id order.

    With `zero_employment=False` every seeker reads as not in a zero-employment household (it only decides
    the priority tier, never a filter or the score): `zero_employment_households` tells it for the few ranked.
    """
    stmt = _seeker_select(on, working_age, zero_employment=zero_employment).where(*where)
    stmt = stmt.order_by(persons_table.c.person_id)
    if person_ids is not None:
        stmt = stmt.where(persons_table.c.person_id.in_(person_ids))
    return [seeker_view(row) for row in (await session.execute(stmt)).all()]


async def zero_employment_households(
    *, session: AsyncSession, household_ids: Sequence[uuid.UUID], on: dt.date, working_age: WorkingAge
) -> set[uuid.UUID]:
    """The households among `household_ids` that are zero-employment households as of `on`."""
    if not household_ids:
        return set()
    h = households_table
    zero = _zero_employment(on, working_age, household_id=h.c.household_id)
    stmt = sa.select(h.c.household_id).where(h.c.household_id.in_(list(household_ids)), zero)
    return set((await session.execute(stmt)).scalars())


# --- profile -----------------------------------------------------------------------------------------------


async def save_profile(*, session: AsyncSession, person_id: uuid.UUID, body: SeekerProfileUpdate) -> None:
    """Replace the seeker's profile (the skills trainings added stay)."""
    values = {
        "desired_occupations": list(dict.fromkeys(body.desired_occupations)),
        "desired_hours": body.desired_weekly_hours,
        "max_hours": body.constraints.max_weekly_hours,
        "min_wage": body.min_monthly_wage,
        "location_pref": body.location_preference,
        "prefers_remote": body.prefers_remote,
        "no_heavy_work": body.constraints.no_heavy_work,
        "updated_at": sa.func.now(),
    }
    stmt = pg_insert(profiles_table).values(person_id=person_id, trained_skills=[], version=1, **values)
    bumped = {**values, "version": profiles_table.c.version + 1}
    await session.execute(stmt.on_conflict_do_update(index_elements=[profiles_table.c.person_id], set_=bumped))


async def add_trained_skills(*, session: AsyncSession, person_id: uuid.UUID, skills: Sequence[str]) -> list[str]:
    """Add skills a training gave to the seeker's profile (a default profile when there is none); returns the
    skills that were new."""
    t = profiles_table
    await session.execute(
        pg_insert(t)
        .values(
            person_id=person_id,
            desired_occupations=[],
            location_pref="same_district",
            prefers_remote=False,
            no_heavy_work=False,
            trained_skills=[],
            version=1,
        )
        .on_conflict_do_nothing()
    )
    current = (
        await session.execute(sa.select(t.c.trained_skills).where(t.c.person_id == person_id).with_for_update())
    ).scalar_one()
    added = [skill for skill in dict.fromkeys(skills) if skill not in current]
    if added:
        await session.execute(
            sa.update(t)
            .where(t.c.person_id == person_id)
            .values(trained_skills=[*current, *added], version=t.c.version + 1, updated_at=sa.func.now())
        )
    return added
