"""Trainings: enrolment and completion (completion adds skills and emits matching.training.completed)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from uplift.common.app import ReadSessionDep, UnitOfWorkDep
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.matching.api.access import DistrictAdmin, SeekerWriter, TodayDep, TrainingReader, cursor_id
from uplift.matching.schemas import EnrolmentComplete, EnrolmentCreate, EnrolmentRead, TrainingCreate, TrainingRead
from uplift.matching.service import trainings as service
from uplift.matching.service.seekers import load_seeker, working_age_on

router = APIRouter(tags=["trainings"])
PageDep = Annotated[PageParams, Depends(page_params)]


@router.get("/trainings", response_model=Page[TrainingRead], summary="List trainings")
async def list_trainings(principal: TrainingReader, session: ReadSessionDep, page: PageDep) -> Page[TrainingRead]:
    rows = await service.list_trainings(session=session, limit=page.limit, after=cursor_id(page))
    items = [service.training_read(row) for row in rows]
    return make_page(items, page.limit, key=lambda t: [str(t.id)])


@router.post("/trainings", status_code=status.HTTP_201_CREATED, response_model=TrainingRead, summary="Add a training")
async def create_training(body: TrainingCreate, principal: DistrictAdmin, uow: UnitOfWorkDep) -> TrainingRead:
    training_id = await service.create_training(session=uow.session, body=body)
    row = await service.get_training(session=uow.session, training_id=training_id)
    await uow.commit()
    return service.training_read(row)


@router.get("/trainings/{training_id}", response_model=TrainingRead, summary="One training")
async def get_training(training_id: uuid.UUID, principal: TrainingReader, session: ReadSessionDep) -> TrainingRead:
    return service.training_read(await service.get_training(session=session, training_id=training_id))


@router.post(
    "/trainings/{training_id}/enrolments",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrolmentRead,
    summary="Enrol a seeker",
)
async def enrol(
    training_id: uuid.UUID, body: EnrolmentCreate, principal: SeekerWriter, uow: UnitOfWorkDep, today: TodayDep
) -> EnrolmentRead:
    on = body.enrolled_on or today
    working_age = await working_age_on(uow.session, on)
    seeker = await load_seeker(
        session=uow.session, person_id=body.person_id, on=on, working_age=working_age, principal=principal
    )
    enrolment = await service.enrol(session=uow.session, training_id=training_id, seeker=seeker, on=on)
    await uow.commit()
    return enrolment


@router.post(
    "/trainings/{training_id}/enrolments/{person_id}:complete",
    response_model=EnrolmentRead,
    summary="Record completion: the training's skills join the seeker's profile",
)
async def complete(
    training_id: uuid.UUID,
    person_id: uuid.UUID,
    principal: SeekerWriter,
    uow: UnitOfWorkDep,
    today: TodayDep,
    body: EnrolmentComplete | None = None,
) -> EnrolmentRead:
    on = (body.completed_on if body else None) or today
    working_age = await working_age_on(uow.session, on)
    seeker = await load_seeker(
        session=uow.session, person_id=person_id, on=on, working_age=working_age, principal=principal
    )
    enrolment = await service.complete(
        uow=uow, training_id=training_id, person_id=person_id, on=on, household_id=seeker.household_id
    )
    await uow.commit()
    return enrolment
