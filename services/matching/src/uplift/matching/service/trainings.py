"""Trainings (e.g. remote customer service for disabled people): enrolment and completion.

Completing a training adds its skills to the seeker's profile here and emits `matching.training.completed`, from
which the registry adds them to the person.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.contracts import TrainingCompleted
from uplift.common.db import new_id
from uplift.common.errors import Conflict, FieldError, NotFound, Unprocessable
from uplift.common.unit_of_work import UnitOfWork
from uplift.matching.models import Training, TrainingEnrolment, table_of
from uplift.matching.schemas import EnrolmentRead, TrainingCreate, TrainingRead
from uplift.matching.service.postings import check_skill_codes
from uplift.matching.service.seekers import SeekerView, add_trained_skills

trainings_table = table_of(Training)
enrolments_table = table_of(TrainingEnrolment)

TRAINING_NOT_FOUND = "No such training."
ENROLMENT_NOT_FOUND = "The person is not enrolled in this training."


def _training_select() -> sa.Select[Any]:
    t, e = trainings_table, enrolments_table
    enrolled = sa.select(sa.func.count()).where(e.c.training_id == t.c.id).scalar_subquery()
    return sa.select(t, enrolled.label("enrolled"))


def training_read(row: Any) -> TrainingRead:
    return TrainingRead.model_validate(dict(row._mapping))


async def create_training(*, session: AsyncSession, body: TrainingCreate) -> uuid.UUID:
    """Record a training whose skills are vocabulary codes (422 naming unknown ones)."""
    check_skill_codes({"skills": body.skills})
    training_id = new_id()
    values = body.model_dump()
    values["skills"] = list(dict.fromkeys(values["skills"]))
    await session.execute(sa.insert(trainings_table).values(id=training_id, **values))
    return training_id


async def get_training(*, session: AsyncSession, training_id: uuid.UUID) -> Any:
    row = (await session.execute(_training_select().where(trainings_table.c.id == training_id))).first()
    if row is None:
        raise NotFound(TRAINING_NOT_FOUND)
    return row


async def list_trainings(*, session: AsyncSession, limit: int, after: uuid.UUID | None) -> list[Any]:
    stmt = _training_select().order_by(trainings_table.c.id).limit(limit + 1)
    if after is not None:
        stmt = stmt.where(trainings_table.c.id > after)
    return list((await session.execute(stmt)).all())


async def enrol(*, session: AsyncSession, training_id: uuid.UUID, seeker: SeekerView, on: dt.date) -> EnrolmentRead:
    """Enrol a seeker (409 when already enrolled or the training is full)."""
    training = (
        await session.execute(sa.select(trainings_table).where(trainings_table.c.id == training_id).with_for_update())
    ).first()
    if training is None:
        raise NotFound(TRAINING_NOT_FOUND)
    e = enrolments_table
    if training.capacity is not None:
        count = (await session.execute(sa.select(sa.func.count()).where(e.c.training_id == training_id))).scalar_one()
        if count >= training.capacity:
            raise Conflict(f"The training is full ({training.capacity} places).")
    person_id = seeker.seeker.person_id
    inserted = (
        await session.execute(
            pg_insert(e)
            .values(training_id=training_id, person_id=person_id, household_id=seeker.household_id, enrolled_on=on)
            .on_conflict_do_nothing()
            .returning(e.c.person_id)
        )
    ).first()
    if inserted is None:
        raise Conflict("The person is already enrolled in this training.")
    return EnrolmentRead(training_id=training_id, person_id=person_id, enrolled_on=on, completed_on=None)


async def complete(
    *, uow: UnitOfWork, training_id: uuid.UUID, person_id: uuid.UUID, on: dt.date, household_id: uuid.UUID
) -> EnrolmentRead:
    """Mark the enrolment completed, add the training's skills to the seeker and emit the event (409 if done)."""
    session = uow.session
    e, t = enrolments_table, trainings_table
    enrolment = (
        await session.execute(
            sa.select(e, t.c.skills)
            .join(t, t.c.id == e.c.training_id)
            .where(e.c.training_id == training_id, e.c.person_id == person_id)
            .with_for_update(of=e)
        )
    ).first()
    if enrolment is None:
        raise NotFound(ENROLMENT_NOT_FOUND)
    if enrolment.completed_on is not None:
        raise Conflict(f"The training was already completed on {enrolment.completed_on.isoformat()}.")
    if on < enrolment.enrolled_on:
        detail = f"Completion on {on.isoformat()} is before enrolment on {enrolment.enrolled_on.isoformat()}."
        raise Unprocessable(detail, errors=[FieldError("completed_on", "before the enrolment")])
    await session.execute(
        sa.update(e).where(e.c.training_id == training_id, e.c.person_id == person_id).values(completed_on=on)
    )
    skills = list(enrolment.skills)
    added = await add_trained_skills(session=session, person_id=person_id, skills=skills)
    payload = TrainingCompleted(
        person_id=person_id, household_id=household_id, training_id=training_id, skills=skills, completed_on=on
    )
    uow.emit(TrainingCompleted.event_type, subject=payload.aggregate_id, data=payload)
    return EnrolmentRead(
        training_id=training_id,
        person_id=person_id,
        enrolled_on=enrolment.enrolled_on,
        completed_on=on,
        skills_added=added,
    )
