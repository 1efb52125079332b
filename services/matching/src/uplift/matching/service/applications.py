"""Applications and placements (DOMAIN.md §8): the pipeline, its events, and the applicant's contact details.

The contact name and phone are given with the seeker's consent for the employer: they are stored encrypted
(`FieldCipher`, the column name as associated data) and shown in full only to the employer of the posting;
everyone else sees them masked. `hired` creates a placement and emits `matching.placement.hired`; the retention
steps emit `matching.placement.retained`; `left` ends the placement and emits `matching.placement.ended` with
the wage the household's income loses.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.auth import Principal, Role
from uplift.common.contracts import PlacementEnded, PlacementHired, PlacementRetained
from uplift.common.db import new_id
from uplift.common.errors import Conflict, FieldError, NotFound, Unprocessable
from uplift.common.pii import FieldCipher, mask_name, mask_phone
from uplift.common.unit_of_work import UnitOfWork
from uplift.matching.domain.applications import (
    RETENTION_MONTHS,
    TERMINAL_STATUSES,
    ApplicationStatus,
    IllegalTransition,
    RetentionNotDue,
    allowed_transitions,
    transition,
)
from uplift.matching.models import Application, Placement, table_of
from uplift.matching.schemas import ApplicationCreate, ApplicationRead, ApplicationTransition, PlacementRead
from uplift.matching.service.postings import employer_scope, postings_table
from uplift.matching.service.seekers import households_table, load_seeker, persons_table, working_age_on

applications_table = table_of(Application)
placements_table = table_of(Placement)

APPLICATION_NOT_FOUND = "No such application."
CONTACT_NAME = "applications.contact_name"
CONTACT_PHONE = "applications.contact_phone"


# --- reading -----------------------------------------------------------------------------------------------


def _application_select() -> sa.Select[Any]:
    a, p, pl, h = applications_table, postings_table, placements_table, households_table
    return (
        sa.select(
            a,
            p.c.employer_id,
            h.c.community_code,
            pl.c.monthly_wage.label("placement_wage"),
            pl.c.public_welfare.label("placement_public_welfare"),
            pl.c.remote.label("placement_remote"),
            pl.c.started_on.label("placement_started_on"),
            pl.c.ended_on.label("placement_ended_on"),
            pl.c.household_id.label("placement_household_id"),
        )
        .select_from(a)
        .join(p, p.c.id == a.c.posting_id)
        .outerjoin(h, h.c.household_id == a.c.household_id)
        .outerjoin(pl, pl.c.id == a.c.placement_id)
    )


def may_see_contact(principal: Principal, employer_id: uuid.UUID) -> bool:
    """Only the posting's own employer sees the contact details the applicant gave it."""
    return principal.has_role(Role.EMPLOYER) and principal.employer_id == str(employer_id)


def _ensure_visible(principal: Principal, row: Any) -> None:
    """404 for an application the caller may not see: another employer's, or a seeker outside its org."""
    own = employer_scope(principal)
    if own is not None:
        if row.employer_id != own:
            raise NotFound(APPLICATION_NOT_FOUND)
        return
    if principal.has_role(Role.DISTRICT_ADMIN) or principal.is_integrator:
        return
    if not principal.in_scope(row.community_code):
        raise NotFound(APPLICATION_NOT_FOUND)


def application_read(row: Any, principal: Principal, cipher: FieldCipher, today: dt.date) -> ApplicationRead:
    visible = may_see_contact(principal, row.employer_id)
    name = cipher.decrypt(row.contact_name, associated_data=CONTACT_NAME) if row.contact_name is not None else None
    phone = cipher.decrypt(row.contact_phone, associated_data=CONTACT_PHONE) if row.contact_phone is not None else None
    placement = None
    if row.placement_id is not None:
        placement = PlacementRead(
            placement_id=row.placement_id,
            monthly_wage=row.placement_wage,
            public_welfare=row.placement_public_welfare,
            remote=row.placement_remote,
            started_on=row.placement_started_on,
            ended_on=row.placement_ended_on,
        )
    status = ApplicationStatus(row.status)
    return ApplicationRead(
        id=row.id,
        person_id=row.person_id,
        household_id=row.household_id,
        posting_id=row.posting_id,
        job_fair_id=row.job_fair_id,
        status=status,
        status_on=row.status_on,
        score=f"{row.score:.4f}" if row.score is not None else None,
        contact_name=name if visible else mask_name(name),
        contact_phone=phone if visible else mask_phone(phone),
        contact_masked=not visible and (name is not None or phone is not None),
        allowed_transitions=list(allowed_transitions(status, today, row.placement_started_on)),
        placement=placement,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def get_application(*, session: AsyncSession, application_id: uuid.UUID, principal: Principal) -> Any:
    row = (await session.execute(_application_select().where(applications_table.c.id == application_id))).first()
    if row is None:
        raise NotFound(APPLICATION_NOT_FOUND)
    _ensure_visible(principal, row)
    return row


async def list_applications(
    *,
    session: AsyncSession,
    principal: Principal,
    limit: int,
    after: uuid.UUID | None,
    posting_id: uuid.UUID | None,
    person_id: uuid.UUID | None,
    job_fair_id: uuid.UUID | None,
    status: str | None,
    updated_since: dt.datetime | None,
) -> Sequence[Any]:
    """Applications in id order with the filters given, limited to what the caller may see."""
    a = applications_table
    stmt = _application_select().order_by(a.c.id).limit(limit + 1)
    own = employer_scope(principal)
    if own is not None:
        stmt = stmt.where(postings_table.c.employer_id == own)
    elif not (principal.has_role(Role.DISTRICT_ADMIN) or principal.is_integrator):
        division = principal.division_code
        if division is None:
            return []
        stmt = stmt.where(households_table.c.community_code.startswith(division))
    for column, value in (
        (a.c.posting_id, posting_id),
        (a.c.person_id, person_id),
        (a.c.job_fair_id, job_fair_id),
        (a.c.status, status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if after is not None:
        stmt = stmt.where(a.c.id > after)
    if updated_since is not None:
        stmt = stmt.where(a.c.updated_at >= updated_since)
    return (await session.execute(stmt)).all()


# --- applying ----------------------------------------------------------------------------------------------


async def apply(
    *, session: AsyncSession, body: ApplicationCreate, principal: Principal, cipher: FieldCipher, on: dt.date
) -> uuid.UUID:
    """Record an application in state `applied`; 422 for an unknown posting, 409 for a closed one."""
    posting = (
        await session.execute(
            sa.select(postings_table).where(postings_table.c.id == body.posting_id).with_for_update(read=True)
        )
    ).first()
    if posting is None:
        raise Unprocessable("Unknown posting.", errors=[FieldError("posting_id", "no such posting")])
    working_age = await working_age_on(session, on)
    seeker = await load_seeker(
        session=session, person_id=body.person_id, on=on, working_age=working_age, principal=principal
    )
    if not posting.open:
        raise Conflict("The posting is closed: it takes no applications.", posting_status="closed")
    if posting.valid_from > on or (posting.valid_to is not None and posting.valid_to < on):
        until = posting.valid_to.isoformat() if posting.valid_to else "open-ended"
        raise Conflict(
            f"The posting is valid from {posting.valid_from.isoformat()} to {until}, not on {on.isoformat()}.",
            posting_status="not_valid",
        )
    if posting.public_welfare and not seeker.seeker.public_welfare_eligible:
        raise Conflict(
            "Public-welfare postings (公益性岗位) are for households enrolled or in transition; this seeker's "
            f"household is {seeker.seeker.household_status}."
        )
    a = applications_table
    existing = (
        await session.execute(
            sa.select(a.c.id, a.c.status).where(
                a.c.person_id == body.person_id,
                a.c.posting_id == body.posting_id,
                a.c.status.not_in([str(s) for s in TERMINAL_STATUSES]),
            )
        )
    ).first()
    if existing is not None:
        raise Conflict(
            f"The seeker already has an open application to this posting ({existing.status}).",
            application_id=str(existing.id),
        )
    application_id = new_id()
    await session.execute(
        sa.insert(a).values(
            id=application_id,
            person_id=body.person_id,
            household_id=seeker.household_id,
            posting_id=body.posting_id,
            status=ApplicationStatus.APPLIED.value,
            status_on=on,
            contact_name=(
                cipher.encrypt(body.contact_name, associated_data=CONTACT_NAME) if body.contact_name else None
            ),
            contact_phone=(
                cipher.encrypt(body.contact_phone, associated_data=CONTACT_PHONE) if body.contact_phone else None
            ),
            version=1,
        )
    )
    return application_id


async def insert_recommended(
    *, session: AsyncSession, job_fair_id: uuid.UUID, on: dt.date, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Bulk-insert a job fair's assignments as applications in state `recommended` (one executemany)."""
    if not rows:
        return
    await session.execute(
        sa.insert(applications_table),
        [
            {
                "id": row["id"],
                "person_id": row["person_id"],
                "household_id": row["household_id"],
                "posting_id": row["posting_id"],
                "job_fair_id": job_fair_id,
                "status": ApplicationStatus.RECOMMENDED.value,
                "status_on": on,
                "score": row["score"],
                "version": 1,
            }
            for row in rows
        ],
    )


# --- the pipeline ------------------------------------------------------------------------------------------


async def move(
    *, uow: UnitOfWork, application_id: uuid.UUID, body: ApplicationTransition, principal: Principal
) -> None:
    """Move an application one step (409 naming the allowed steps otherwise) and emit the placement's events."""
    session = uow.session
    a = applications_table
    locked = (await session.execute(sa.select(a.c.id).where(a.c.id == application_id).with_for_update())).first()
    if locked is None:
        raise NotFound(APPLICATION_NOT_FOUND)
    row = await get_application(session=session, application_id=application_id, principal=principal)
    current = ApplicationStatus(row.status)
    try:
        new_status = transition(current, body.to, body.on, row.placement_started_on)
    except RetentionNotDue as not_due:
        raise Conflict(
            str(not_due),
            current=str(current),
            allowed=[str(s) for s in not_due.allowed],
            due_on=not_due.due_on.isoformat(),
        ) from None
    except IllegalTransition as illegal:
        raise Conflict(str(illegal), current=str(current), allowed=[str(s) for s in illegal.allowed]) from None
    except ValueError as invalid:
        raise Unprocessable(str(invalid), errors=[FieldError("on", str(invalid))]) from None

    placement_id = row.placement_id
    if new_status == ApplicationStatus.HIRED:
        placement_id = await _hire(uow, row, body)
    elif new_status in RETENTION_MONTHS:
        months = RETENTION_MONTHS[new_status]
        uow.emit(
            PlacementRetained.event_type,
            subject=row.placement_id,
            data=PlacementRetained(
                placement_id=row.placement_id,
                person_id=row.person_id,
                household_id=row.placement_household_id,
                months=3 if months == 3 else 6,
                on=body.on,
            ),
        )
    elif new_status == ApplicationStatus.LEFT:
        await session.execute(
            sa.update(placements_table).where(placements_table.c.id == row.placement_id).values(ended_on=body.on)
        )
        uow.emit(
            PlacementEnded.event_type,
            subject=row.placement_id,
            data=PlacementEnded(
                placement_id=row.placement_id,
                person_id=row.person_id,
                household_id=row.placement_household_id,
                monthly_wage=row.placement_wage,
                reason=body.reason or "left",
                ended_on=body.on,
            ),
        )
    await session.execute(
        sa.update(a)
        .where(a.c.id == application_id)
        .values(
            status=new_status.value,
            status_on=body.on,
            placement_id=placement_id,
            version=a.c.version + 1,
            updated_at=sa.func.now(),
        )
    )


async def _hire(uow: UnitOfWork, row: Any, body: ApplicationTransition) -> uuid.UUID:
    posting = (
        await uow.session.execute(
            sa.select(postings_table.c.monthly_wage, postings_table.c.public_welfare, postings_table.c.remote).where(
                postings_table.c.id == row.posting_id
            )
        )
    ).one()
    wage = body.monthly_wage if body.monthly_wage is not None else posting.monthly_wage
    # The household the person belongs to now (they may have moved since applying): its income gains the wage.
    current_household = await uow.session.scalar(
        sa.select(persons_table.c.household_id).where(persons_table.c.person_id == row.person_id)
    )
    household_id = current_household or row.household_id
    placement_id = new_id()
    await uow.session.execute(
        sa.insert(placements_table).values(
            id=placement_id,
            application_id=row.id,
            person_id=row.person_id,
            household_id=household_id,
            posting_id=row.posting_id,
            monthly_wage=wage,
            public_welfare=posting.public_welfare,
            remote=posting.remote,
            started_on=body.on,
        )
    )
    uow.emit(
        PlacementHired.event_type,
        subject=placement_id,
        data=PlacementHired(
            placement_id=placement_id,
            person_id=row.person_id,
            household_id=household_id,
            posting_id=row.posting_id,
            monthly_wage=wage,
            public_welfare=posting.public_welfare,
            remote=posting.remote,
            started_on=body.on,
        ),
    )
    return placement_id
