"""Households and persons: enrolment, updates, membership, reads, lookup, and what follows every change of
income or membership (derived fields, the income record, the transition rule, the income-drop alert).

Writes go through the ORM with the household row locked (`SELECT … FOR UPDATE`); reads use Core statements.
A person keeps one `person_id` for life: an ID number seen before is the same person, moved if needed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common import contracts
from uplift.common.auth import Principal
from uplift.common.db import new_id
from uplift.common.errors import Conflict, FieldError, NotFound, Unprocessable
from uplift.common.pii import InvalidIdNumber, validate_id_number
from uplift.common.unit_of_work import UnitOfWork
from uplift.registry.domain import alerts as alert_rules
from uplift.registry.domain.households import HouseholdIncome, MemberWork, is_zero_employment
from uplift.registry.domain.lifecycle import HouseholdStatus, enrolment
from uplift.registry.domain.parameters import Sex
from uplift.registry.models.households import Household, IncomeRecordRow, OrgUnit, Person
from uplift.registry.service import access, audit, household_read
from uplift.registry.service.household_schemas import (
    ExitRead,
    HouseholdCreate,
    HouseholdRead,
    HouseholdSummary,
    HouseholdUpdate,
    MemberCreate,
    MemberRead,
    MemberUpdate,
    PersonMatch,
    TransitionRead,
)
from uplift.registry.service.lifecycle import add_history, recheck_transition
from uplift.registry.service.parameters import parameter_history
from uplift.registry.service.personal_data import (
    ADDRESS,
    ID_NUMBER,
    ILLNESS_NOTE,
    NAME,
    PHONE,
    PersonalDataVault,
    shown_address,
    shown_id_number,
    shown_name,
    shown_phone,
)
from uplift.registry.service.snapshots import helper_of, household_snapshot, person_snapshot, snapshot_fields

households = cast(sa.Table, Household.__table__)
persons = cast(sa.Table, Person.__table__)
org_units = cast(sa.Table, OrgUnit.__table__)
BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")


def business_today() -> dt.date:
    return dt.datetime.now(BUSINESS_ZONE).date()


# --- alerts (registry-B's half) ------------------------------------------------------------------------------


async def raise_signals(
    uow: UnitOfWork,
    household: Household,
    triggers: Sequence[alert_rules.AlertTrigger],
    *,
    on: dt.date,
    standing: alert_rules.HouseholdStanding | None = None,
) -> None:
    """Raise the alerts (registry-B's alerts keep one open per kind, and add relapse_risk (返贫风险) for a
    signal on a household under monitoring)."""
    from uplift.registry.service.alerts import raise_alert

    standing = standing or alert_rules.HouseholdStanding(HouseholdStatus(household.status), household.monitoring_until)
    for trigger in triggers:
        await raise_alert(
            uow,
            household.id,
            kind=trigger.kind.value,
            severity=trigger.severity.value,
            facts=trigger.facts,
            on=on,
            standing=standing,
        )


# --- what follows a change ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Before:
    """The household as it was before a change: its snapshot fields, per-capita income and helper."""

    fields: dict[str, Any]
    per_capita: Decimal | None
    monthly_income: Decimal
    size: int
    helper: contracts.Helper | None


async def before_change(session: AsyncSession, household: Household) -> Before:
    helper = await helper_of(session, household.id)
    return Before(
        fields=snapshot_fields(household_snapshot(household, helper)),
        per_capita=HouseholdIncome(household.recorded_income, household.placement_wages).per_capita(household.size),
        monthly_income=household.monthly_income,
        size=household.size,
        helper=helper,
    )


async def active_members(session: AsyncSession, household_id: uuid.UUID) -> list[Person]:
    rows = await session.scalars(
        sa.select(Person)
        .where(Person.household_id == household_id, Person.active)
        .order_by(Person.created_at, Person.id)
    )
    return list(rows)


async def settle(
    uow: UnitOfWork,
    household: Household,
    before: Before,
    *,
    on: dt.date,
    actor: str,
    emit_update: bool = True,
) -> None:
    """Recompute what derives from members and income; publish the update; re-check the transition rule
    and the income-drop alert when income or membership changed."""
    session = uow.session
    await session.flush()
    members = await active_members(session, household.id)
    params = (await parameter_history(session)).in_force(on)
    income = HouseholdIncome(household.recorded_income, household.placement_wages)
    household.size = len(members)
    household.monthly_income = income.monthly
    household.zero_employment = is_zero_employment(
        (MemberWork(m.birth_date, cast(Sex, m.sex), m.work_ability, m.employment_status) for m in members),
        on,
        params,
    )
    per_capita = income.per_capita(household.size)
    income_changed = household.monthly_income != before.monthly_income or household.size != before.size
    if income_changed and per_capita is not None:
        session.add(
            IncomeRecordRow(
                household_id=household.id,
                recorded_on=on,
                monthly_income=household.monthly_income,
                active_members=household.size,
                per_capita_income=per_capita,
            )
        )
    household.version += 1
    if emit_update:
        after = household_snapshot(household, before.helper)
        changes = {key: value for key, value in snapshot_fields(after).items() if before.fields.get(key) != value}
        if changes:
            payload = contracts.HouseholdUpdated(household=after, changes=changes)
            uow.emit(payload.event_type, subject=household.id, data=payload)
    if not income_changed:
        return
    await recheck_transition(uow, household, on=on, actor=actor, helper=before.helper)
    if per_capita is not None:
        drop = alert_rules.income_drop(before.per_capita, per_capita, params)
        if drop is not None:
            await raise_signals(uow, household, [drop], on=on)


# --- validation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedMember:
    body: MemberCreate
    id_number: str
    birth_date: dt.date
    sex: str
    id_hash: str
    name_hash: str


def check_members(
    vault: PersonalDataVault, members: Sequence[MemberCreate], *, field_prefix: str = "members"
) -> list[CheckedMember]:
    """Validate ID numbers (checksum; birth date and sex agree) and that none repeats; 422 naming the field."""
    errors: list[FieldError] = []
    checked: list[CheckedMember] = []
    seen: dict[str, int] = {}
    for index, member in enumerate(members):
        where = f"{field_prefix}[{index}]" if field_prefix == "members" else field_prefix
        try:
            number = validate_id_number(member.id_number, birth_date=member.birth_date, sex=member.sex)
        except InvalidIdNumber as error:
            errors.append(FieldError(f"{where}.id_number", error.reason))
            continue
        except ValueError as error:
            errors.append(FieldError(f"{where}.sex", str(error)))
            continue
        if number.value in seen:
            errors.append(FieldError(f"{where}.id_number", f"the same ID number as members[{seen[number.value]}]"))
            continue
        seen[number.value] = index
        checked.append(
            CheckedMember(
                body=member,
                id_number=number.value,
                birth_date=number.birth_date,
                sex=number.sex,
                id_hash=vault.id_hash(number.value),
                name_hash=vault.name_hash(member.name),
            )
        )
    if errors:
        raise Unprocessable("Some members are invalid; see errors.", errors=errors)
    return checked


async def community_of(session: AsyncSession, principal: Principal, community_code: str) -> str:
    """The street of a community inside the caller's scope; 422 for an unknown (or unseen) community."""
    row = (
        await session.execute(
            sa.select(org_units.c.kind, org_units.c.parent_code).where(org_units.c.code == community_code)
        )
    ).first()
    if row is None or row.kind != "community" or row.parent_code is None or not principal.in_scope(community_code):
        raise Unprocessable(
            "Unknown community.", errors=[FieldError("community_code", f"{community_code} is not a known community")]
        )
    return str(row.parent_code)


async def _existing_persons(session: AsyncSession, checked: Sequence[CheckedMember]) -> dict[str, Person]:
    if not checked:
        return {}
    rows = await session.scalars(
        sa.select(Person).where(Person.id_hash.in_([m.id_hash for m in checked])).with_for_update()
    )
    return {person.id_hash: person for person in rows}


async def _refuse_active_elsewhere(
    session: AsyncSession, principal: Principal, checked: Sequence[CheckedMember], existing: dict[str, Person]
) -> None:
    """409 when an ID number is an active member somewhere; name the household only to a caller who may see it."""
    for index, member in enumerate(checked):
        person = existing.get(member.id_hash)
        if person is None or not person.active:
            continue
        community = await session.scalar(
            sa.select(households.c.community_code).where(households.c.id == person.household_id)
        )
        visible = community is not None and await access.may_see(session, principal, person.household_id, community)
        extra: dict[str, Any] = {"household_id": str(person.household_id)} if visible else {}
        raise Conflict(
            "This ID number is an active member of another household."
            if visible
            else "This ID number is an active member of a household you cannot see.",
            errors=[FieldError(f"members[{index}].id_number", "already an active member of a household")],
            **extra,
        )


def _apply_member(vault: PersonalDataVault, person: Person, member: CheckedMember) -> None:
    body = member.body
    person.relation = body.relation
    person.name_enc = vault.seal(body.name, NAME)
    person.id_number_enc = vault.seal(member.id_number, ID_NUMBER)
    person.phone_enc = vault.seal_optional(body.phone, PHONE)
    person.id_hash = member.id_hash
    person.name_hash = member.name_hash
    person.birth_date = member.birth_date
    person.sex = member.sex
    person.education = body.education
    person.work_ability = body.work_ability
    person.employment_status = body.employment_status
    person.disability_level = body.disability_level
    person.chronic_illness = body.chronic_illness
    person.illness_note_enc = vault.seal_optional(body.illness_note, ILLNESS_NOTE)
    person.skills = sorted(set(body.skills))
    person.pension_insured = body.pension_insured
    person.medical_insured = body.medical_insured


def _place_member(
    vault: PersonalDataVault,
    household_id: uuid.UUID,
    member: CheckedMember,
    existing: Person | None,
    member_since: dt.date,
    session: AsyncSession,
) -> Person:
    """A new person, or the person this ID number always was (moved into this household)."""
    if existing is None:
        person = Person(id=new_id(), version=1)
        session.add(person)
    else:
        person = existing
        person.version += 1
    person.household_id = household_id
    person.active = True
    person.member_since = member_since
    _apply_member(vault, person, member)
    return person


async def _flush_or_conflict(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as error:
        if "uq_persons_id_hash" in str(error.orig):
            raise Conflict("An ID number was enrolled at the same time by another request.") from None
        raise


def _emit_person(uow: UnitOfWork, event: type[contracts.PersonEvent], person: Person) -> None:
    payload = event(person=person_snapshot(person))
    uow.emit(payload.event_type, subject=person.id, data=payload)


# --- use cases ----------------------------------------------------------------------------------------------


async def enrol(
    uow: UnitOfWork, vault: PersonalDataVault, body: HouseholdCreate, *, principal: Principal
) -> tuple[Household, list[Person]]:
    """Enrol a household with its members in one transaction."""
    session = uow.session
    street_code = await community_of(session, principal, body.community_code)
    checked = check_members(vault, body.members)
    existing = await _existing_persons(session, checked)
    await _refuse_active_elsewhere(session, principal, checked, existing)
    household = Household(
        id=new_id(),
        street_code=street_code,
        community_code=body.community_code,
        address_enc=vault.seal(body.address, ADDRESS),
        status=HouseholdStatus.ENROLLED.value,
        category=body.category,
        cohort=body.cohort,
        enrolled_on=body.enrolled_on,
        recorded_income=body.monthly_income,
        placement_wages=Decimal("0.00"),
        monthly_income=body.monthly_income,
        dibao_monthly=body.dibao_monthly,
        causes=sorted(set(body.causes)),
        size=0,
        zero_employment=False,
        relapsed=False,
        exit_employed_person_ids=[],
        version=0,
    )
    session.add(household)
    await session.flush()
    members = [
        _place_member(
            vault,
            household.id,
            member,
            existing.get(member.id_hash),
            member.body.member_since or body.enrolled_on,
            session,
        )
        for member in checked
    ]
    await _flush_or_conflict(session)
    household.head_person_id = next(person.id for person in members if person.relation == "head")
    add_history(session, household.id, enrolment(body.enrolled_on), actor=principal.sub)
    before = Before(fields={}, per_capita=None, monthly_income=Decimal("-1"), size=0, helper=None)
    await settle(uow, household, before, on=body.enrolled_on, actor=principal.sub, emit_update=False)
    enrolled = contracts.HouseholdEnrolled(household=household_snapshot(household, None))
    uow.emit(enrolled.event_type, subject=household.id, data=enrolled)
    for person in members:
        _emit_person(uow, contracts.PersonAdded, person)
    await audit.record_many(
        session,
        [
            {
                "actor": principal.sub,
                "action": "household.enrolled",
                "subject_type": "household",
                "subject_id": household.id,
            },
            *(
                {
                    "actor": principal.sub,
                    "action": "person.added",
                    "subject_type": "person",
                    "subject_id": person.id,
                    "detail": {"household_id": str(household.id)},
                }
                for person in members
            ),
        ],
    )
    return household, members


async def load_visible_for_update(session: AsyncSession, principal: Principal, household_id: uuid.UUID) -> Household:
    """The household locked for a write; 404 when absent or outside the caller's scope."""
    household = await session.get(Household, household_id, with_for_update=True)
    if household is None or not await access.may_see(session, principal, household.id, household.community_code):
        raise NotFound(f"household {household_id} not found")
    return household


async def update_household(
    uow: UnitOfWork, vault: PersonalDataVault, household: Household, body: HouseholdUpdate, *, principal: Principal
) -> None:
    session = uow.session
    before = await before_change(session, household)
    sent = body.model_fields_set
    changed: list[str] = []
    if "community_code" in sent and body.community_code is not None and body.community_code != household.community_code:
        household.street_code = await community_of(session, principal, body.community_code)
        household.community_code = body.community_code
        changed.append("community_code")
    if "address" in sent and body.address is not None:
        household.address_enc = vault.seal(body.address, ADDRESS)
        changed.append("address")
    for name in ("category", "recorded_income", "dibao_monthly", "cohort"):
        value = getattr(body, name)
        if name in sent and value is not None and getattr(household, name) != value:
            setattr(household, name, value)
            changed.append(name)
    if "causes" in sent and body.causes is not None:
        household.causes = sorted(set(body.causes))
        changed.append("causes")
    await settle(uow, household, before, on=business_today(), actor=principal.sub)
    await audit.record(
        session,
        actor=principal.sub,
        action="household.updated",
        subject_type="household",
        subject_id=household.id,
        detail={"fields": changed},
    )


async def add_member(
    uow: UnitOfWork, vault: PersonalDataVault, household: Household, body: MemberCreate, *, principal: Principal
) -> Person:
    session = uow.session
    if household.status == HouseholdStatus.EXITED.value:
        raise Conflict("An exited household takes no new members.", allowed=["undo_exit", "relapse"])
    if body.relation == "head":
        raise Unprocessable(
            "The household has a head already.",
            errors=[FieldError("relation", "add the member with another relation, then make them head")],
        )
    checked = check_members(vault, [body], field_prefix="id_number")
    existing = await _existing_persons(session, checked)
    await _refuse_active_elsewhere(session, principal, checked, existing)
    before = await before_change(session, household)
    person = _place_member(
        vault,
        household.id,
        checked[0],
        existing.get(checked[0].id_hash),
        body.member_since or business_today(),
        session,
    )
    await _flush_or_conflict(session)
    _emit_person(uow, contracts.PersonAdded, person)
    await settle(uow, household, before, on=business_today(), actor=principal.sub)
    await audit.record(
        session,
        actor=principal.sub,
        action="person.added",
        subject_type="person",
        subject_id=person.id,
        detail={"household_id": str(household.id)},
    )
    return person


async def member_for_update(session: AsyncSession, household: Household, person_id: uuid.UUID) -> Person:
    person = await session.get(Person, person_id, with_for_update=True)
    if person is None or person.household_id != household.id or not person.active:
        raise NotFound(f"member {person_id} not found in household {household.id}")
    return person


async def update_member(
    uow: UnitOfWork,
    vault: PersonalDataVault,
    household: Household,
    person: Person,
    body: MemberUpdate,
    *,
    principal: Principal,
) -> None:
    session = uow.session
    before = await before_change(session, household)
    sent = body.model_fields_set
    changed: list[str] = []
    for name in sent:
        value = getattr(body, name)
        if value is None and name not in ("phone", "illness_note"):
            continue
        changed.append(name)
        if name == "name":
            person.name_enc = vault.seal(value, NAME)
            person.name_hash = vault.name_hash(value)
        elif name == "phone":
            person.phone_enc = vault.seal_optional(value, PHONE)
        elif name == "illness_note":
            person.illness_note_enc = vault.seal_optional(value, ILLNESS_NOTE)
        elif name == "skills":
            person.skills = sorted(set(value))
        elif name == "relation" and value == "head" and household.head_person_id != person.id:
            # One head per household: the former head keeps membership as `other` until corrected.
            if household.head_person_id is not None:
                former = await session.get(Person, household.head_person_id, with_for_update=True)
                if former is not None and former.active:
                    former.relation = "other"
                    former.version += 1
                    _emit_person(uow, contracts.PersonUpdated, former)
            household.head_person_id = person.id
            person.relation = "head"
        elif name == "relation" and value != "head" and household.head_person_id == person.id:
            raise Unprocessable(
                "The head stays head until another member is made head.",
                errors=[FieldError("relation", "make another member head first")],
            )
        else:
            setattr(person, name, value)
    person.version += 1
    _emit_person(uow, contracts.PersonUpdated, person)
    await settle(uow, household, before, on=business_today(), actor=principal.sub)
    await audit.record(
        session,
        actor=principal.sub,
        action="person.updated",
        subject_type="person",
        subject_id=person.id,
        detail={"household_id": str(household.id), "fields": sorted(changed)},
    )


async def remove_member(uow: UnitOfWork, household: Household, person: Person, *, principal: Principal) -> None:
    session = uow.session
    if household.head_person_id == person.id:
        raise Conflict("The head cannot be removed; make another member head first.")
    before = await before_change(session, household)
    person.active = False
    person.version += 1
    _emit_person(uow, contracts.PersonRemoved, person)
    await settle(uow, household, before, on=business_today(), actor=principal.sub)
    await audit.record(
        session,
        actor=principal.sub,
        action="person.removed",
        subject_type="person",
        subject_id=person.id,
        detail={"household_id": str(household.id)},
    )


# --- reads --------------------------------------------------------------------------------------------------

_HOUSEHOLD_BY_ID = sa.select(households).where(households.c.id == sa.bindparam("household_id"))


async def household_row(session: AsyncSession, household_id: uuid.UUID) -> sa.Row[Any] | None:
    return (await session.execute(_HOUSEHOLD_BY_ID, {"household_id": household_id})).first()


def _transition(row: Any) -> TransitionRead | None:
    if row.transition_starts_on is None or row.transition_ends_on is None:
        return None
    return TransitionRead(starts_on=row.transition_starts_on, ends_on=row.transition_ends_on)


def _exit(row: Any) -> ExitRead | None:
    if row.exit_reason is None or row.exited_on is None:
        return None
    return ExitRead(
        reason=row.exit_reason,
        exited_on=row.exited_on,
        monitoring_until=row.monitoring_until,
        employed_person_ids=list(row.exit_employed_person_ids),
    )


def member_view(vault: PersonalDataVault, row: Any, unmasked: bool) -> MemberRead:
    return MemberRead(
        person_id=row.id,
        version=row.version,
        active=row.active,
        member_since=row.member_since,
        relation=row.relation,
        name=shown_name(vault.open(row.name_enc, NAME), unmasked),
        id_number=shown_id_number(vault.open(row.id_number_enc, ID_NUMBER), unmasked),
        phone=shown_phone(vault.open_optional(row.phone_enc, PHONE), unmasked),
        birth_year=row.birth_date.year,
        birth_date=row.birth_date if unmasked else None,
        sex=row.sex,
        education=row.education,
        work_ability=row.work_ability,
        employment_status=row.employment_status,
        disability_level=row.disability_level,
        chronic_illness=row.chronic_illness,
        illness_note=vault.open_optional(row.illness_note_enc, ILLNESS_NOTE) if unmasked else None,
        skills=list(row.skills),
        pension_insured=row.pension_insured,
        medical_insured=row.medical_insured,
    )


@dataclass(frozen=True)
class HouseholdWithMembers:
    household: Any  # the households row
    members: list[Any]  # rows with the persons columns
    helper: contracts.Helper | None


@dataclass(frozen=True)
class _MemberRow:
    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


async def load_for_read(session: AsyncSession, household_id: uuid.UUID) -> HouseholdWithMembers | None:
    """The household as `read_household` takes it (the API's hot read is `household_read`: the same statement on
    the read pool, written to JSON without the models)."""
    rows = (await session.execute(household_read.read_statement(), {"household_id": household_id})).all()
    if not rows:
        return None
    return _household_with_members([_MemberRow(dict(row._mapping)) for row in rows])


def _household_with_members(rows: list[_MemberRow]) -> HouseholdWithMembers:
    first = rows[0]
    helper = (
        contracts.Helper(kind=first.h_kind, id=first.h_id, department_code=first.h_department_code)
        if first.h_id is not None
        else None
    )
    members = [
        _MemberRow({key[2:]: value for key, value in row.values.items() if key.startswith("m_")})
        for row in rows
        if row.m_id is not None
    ]
    return HouseholdWithMembers(first, members, helper)


def read_household(vault: PersonalDataVault, loaded: HouseholdWithMembers, *, unmasked: bool) -> HouseholdRead:
    """The household with its active members, personal data masked unless `unmasked`, built from the models.

    The API answers through `household_read` (the same statement, written straight to JSON); this is the reference
    that answer is tested against byte for byte (no request path calls it)."""
    row = loaded.household
    member_rows = loaded.members
    per_capita = HouseholdIncome(row.recorded_income, row.placement_wages).per_capita(row.size)
    return HouseholdRead(
        id=row.id,
        version=row.version,
        status=row.status,
        category=row.category,
        street_code=row.street_code,
        community_code=row.community_code,
        address=shown_address(vault.open_optional(row.address_enc, ADDRESS), unmasked),
        cohort=row.cohort,
        enrolled_on=row.enrolled_on,
        recorded_income=row.recorded_income,
        placement_wages=row.placement_wages,
        monthly_income=row.monthly_income,
        per_capita_income=per_capita,
        dibao_monthly=row.dibao_monthly,
        causes=list(row.causes),
        size=row.size,
        zero_employment=row.zero_employment,
        relapsed=row.relapsed,
        head_person_id=row.head_person_id,
        transition=_transition(row),
        exit=_exit(row),
        helper=loaded.helper,
        pii_masked=not unmasked,
        members=[member_view(vault, member, unmasked) for member in member_rows],
        updated_at=row.updated_at,
    )


def summary_view(row: Any) -> HouseholdSummary:
    return HouseholdSummary(
        id=row.id,
        version=row.version,
        status=row.status,
        category=row.category,
        street_code=row.street_code,
        community_code=row.community_code,
        cohort=row.cohort,
        enrolled_on=row.enrolled_on,
        monthly_income=row.monthly_income,
        dibao_monthly=row.dibao_monthly,
        causes=list(row.causes),
        size=row.size,
        zero_employment=row.zero_employment,
        relapsed=row.relapsed,
        transition=_transition(row),
        exit=_exit(row),
        updated_at=row.updated_at,
    )


@dataclass(frozen=True)
class HouseholdFilters:
    street_code: str | None = None
    community_code: str | None = None
    status: str | None = None
    category: str | None = None
    causes: str | None = None
    cohort: str | None = None
    helper_id: uuid.UUID | None = None
    updated_since: dt.datetime | None = None


async def search(
    session: AsyncSession, principal: Principal, filters: HouseholdFilters, *, after: list[Any] | None, limit: int
) -> list[sa.Row[Any]]:
    """Households in the caller's scope, by (updated_at, id), so `updated_since` syncs incrementally."""
    stmt = sa.select(households).order_by(households.c.updated_at, households.c.id).limit(limit)
    scope = await access.list_scope(session, principal, households)
    if scope is not None:
        stmt = stmt.where(scope)
    for name in ("street_code", "community_code", "status", "category", "cohort"):
        value = getattr(filters, name)
        if value is not None:
            stmt = stmt.where(households.c[name] == value)
    if filters.causes is not None:
        stmt = stmt.where(households.c.causes.contains([filters.causes]))
    if filters.helper_id is not None:
        stmt = stmt.where(await access.helper_condition(session, households, filters.helper_id))
    if filters.updated_since is not None:
        stmt = stmt.where(households.c.updated_at >= filters.updated_since)
    if after is not None:
        try:
            at, last_id = dt.datetime.fromisoformat(str(after[0])), uuid.UUID(str(after[1]))
        except (ValueError, IndexError):
            raise Unprocessable(
                "The cursor is not valid.", errors=[FieldError("cursor", "not a cursor we issued")]
            ) from None
        stmt = stmt.where(
            sa.tuple_(households.c.updated_at, households.c.id) > sa.tuple_(sa.literal(at), sa.literal(last_id))
        )
    return list((await session.execute(stmt)).all())


async def lookup(
    session: AsyncSession,
    vault: PersonalDataVault,
    principal: Principal,
    *,
    id_number: str | None,
    name: str | None,
) -> list[PersonMatch]:
    """Exact matches by keyed hash, limited to households the caller may see."""
    if id_number is not None:
        condition = persons.c.id_hash == vault.id_hash(id_number)
    else:
        assert name is not None
        condition = persons.c.name_hash == vault.name_hash(name)
    stmt = (
        sa.select(persons, households.c.community_code)
        .join(households, households.c.id == persons.c.household_id)
        .where(condition)
        .order_by(persons.c.active.desc(), persons.c.id)
        .limit(100)
    )
    unmasked = principal.can_read_pii()
    matches = []
    for row in (await session.execute(stmt)).all():
        if not await access.may_see(session, principal, row.household_id, row.community_code):
            continue
        matches.append(
            PersonMatch(
                person_id=row.id,
                household_id=row.household_id,
                active=row.active,
                relation=row.relation,
                name=shown_name(vault.open(row.name_enc, NAME), unmasked),
                id_number=shown_id_number(vault.open(row.id_number_enc, ID_NUMBER), unmasked),
                birth_year=row.birth_date.year,
                sex=row.sex,
            )
        )
    return matches
