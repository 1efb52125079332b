"""Applications and placements: the pipeline from recommended to retained, and the applicant's contact."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from uplift.common.app import ReadSessionDep, UnitOfWorkDep
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.matching.api.access import (
    ApplicationMover,
    ApplicationReader,
    ApplicationWriter,
    ContactCipherDep,
    TodayDep,
    cursor_id,
)
from uplift.matching.domain.applications import ApplicationStatus
from uplift.matching.schemas import ApplicationCreate, ApplicationRead, ApplicationTransition
from uplift.matching.service import applications as service

router = APIRouter(tags=["applications"])
PageDep = Annotated[PageParams, Depends(page_params)]


@router.get("/applications", response_model=Page[ApplicationRead], summary="List applications")
async def list_applications(
    principal: ApplicationReader,
    session: ReadSessionDep,
    cipher: ContactCipherDep,
    today: TodayDep,
    page: PageDep,
    posting_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    job_fair_id: uuid.UUID | None = None,
    status: ApplicationStatus | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[ApplicationRead]:
    rows = await service.list_applications(
        session=session,
        principal=principal,
        limit=page.limit,
        after=cursor_id(page),
        posting_id=posting_id,
        person_id=person_id,
        job_fair_id=job_fair_id,
        status=status.value if status is not None else None,
        updated_since=updated_since,
    )
    items = [service.application_read(row, principal, cipher, today) for row in rows]
    return make_page(items, page.limit, key=lambda a: [str(a.id)])


@router.post(
    "/applications",
    status_code=status.HTTP_201_CREATED,
    response_model=ApplicationRead,
    summary="Apply to a posting",
    responses={404: {"description": "No such seeker, or it lies outside the caller's org scope."}},
)
async def create_application(
    body: ApplicationCreate,
    principal: ApplicationWriter,
    uow: UnitOfWorkDep,
    cipher: ContactCipherDep,
    today: TodayDep,
    response: Response,
) -> ApplicationRead:
    application_id = await service.apply(session=uow.session, body=body, principal=principal, cipher=cipher, on=today)
    row = await service.get_application(session=uow.session, application_id=application_id, principal=principal)
    await uow.commit()
    response.headers["Location"] = f"/matching/v1/applications/{application_id}"
    return service.application_read(row, principal, cipher, today)


@router.get("/applications/{application_id}", response_model=ApplicationRead, summary="One application")
async def get_application(
    application_id: uuid.UUID,
    principal: ApplicationReader,
    session: ReadSessionDep,
    cipher: ContactCipherDep,
    today: TodayDep,
) -> ApplicationRead:
    row = await service.get_application(session=session, application_id=application_id, principal=principal)
    return service.application_read(row, principal, cipher, today)


@router.post(
    "/applications/{application_id}:transition",
    response_model=ApplicationRead,
    summary="Move an application one step (hired emits matching.placement.hired)",
)
async def transition_application(
    application_id: uuid.UUID,
    body: ApplicationTransition,
    principal: ApplicationMover,
    uow: UnitOfWorkDep,
    cipher: ContactCipherDep,
    today: TodayDep,
) -> ApplicationRead:
    await service.move(uow=uow, application_id=application_id, body=body, principal=principal)
    row = await service.get_application(session=uow.session, application_id=application_id, principal=principal)
    await uow.commit()
    return service.application_read(row, principal, cipher, today)
