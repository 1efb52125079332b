"""Employers and their postings (岗位库)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from uplift.common.app import ReadSessionDep, UnitOfWorkDep
from uplift.common.concurrency import IF_MATCH_REQUIRED, require_if_match, set_etag
from uplift.common.contracts import StreetCode
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.matching.api.access import (
    AnyMatchingReader,
    DistrictAdmin,
    EmployerManager,
    EmployerReader,
    OpenPostingsDep,
    cursor_id,
)
from uplift.matching.schemas import (
    EmployerCreate,
    EmployerRead,
    EmployerUpdate,
    PostingCreate,
    PostingRead,
    PostingUpdate,
)
from uplift.matching.service import postings as service

router = APIRouter(tags=["employers and postings"])
PageDep = Annotated[PageParams, Depends(page_params)]


@router.get("/employers", response_model=Page[EmployerRead], summary="List employers")
async def list_employers(
    principal: EmployerReader,
    session: ReadSessionDep,
    page: PageDep,
    updated_since: dt.datetime | None = None,
) -> Page[EmployerRead]:
    rows = await service.list_employers(
        session=session, principal=principal, limit=page.limit, after=cursor_id(page), updated_since=updated_since
    )
    items = [EmployerRead.model_validate(r) for r in rows]
    return make_page(items, page.limit, key=lambda e: [str(e.id)])


@router.post("/employers", status_code=status.HTTP_201_CREATED, response_model=EmployerRead, summary="Add an employer")
async def create_employer(
    body: EmployerCreate, principal: DistrictAdmin, uow: UnitOfWorkDep, response: Response
) -> EmployerRead:
    row = await service.create_employer(session=uow.session, body=body)
    await uow.commit()
    set_etag(response, row["version"])
    return EmployerRead.model_validate(row)


@router.get("/employers/{employer_id}", response_model=EmployerRead, summary="One employer")
async def get_employer(
    employer_id: uuid.UUID, principal: EmployerReader, session: ReadSessionDep, response: Response
) -> EmployerRead:
    row = await service.get_employer(session=session, employer_id=employer_id, principal=principal)
    set_etag(response, row["version"])
    return EmployerRead.model_validate(row)


@router.patch(
    "/employers/{employer_id}",
    response_model=EmployerRead,
    summary="Change an employer (If-Match)",
    dependencies=[IF_MATCH_REQUIRED],
)
async def update_employer(
    employer_id: uuid.UUID,
    body: EmployerUpdate,
    principal: EmployerManager,
    uow: UnitOfWorkDep,
    request: Request,
    response: Response,
) -> EmployerRead:
    current = await service.get_employer(session=uow.session, employer_id=employer_id, principal=principal)
    require_if_match(request, current["version"])
    row = await service.update_employer(
        session=uow.session, employer_id=employer_id, body=body, expected_version=current["version"]
    )
    await uow.commit()
    set_etag(response, row["version"])
    return EmployerRead.model_validate(row)


@router.get("/postings", response_model=Page[PostingRead], summary="List postings")
async def list_postings(
    principal: AnyMatchingReader,
    session: ReadSessionDep,
    page: PageDep,
    employer_id: uuid.UUID | None = None,
    open: Annotated[bool | None, Query(description="only open (true) or closed (false) postings")] = None,
    street_code: StreetCode | None = None,
    public_welfare: bool | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[PostingRead]:
    rows = await service.list_postings(
        session=session,
        principal=principal,
        limit=page.limit,
        after=cursor_id(page),
        employer_id=employer_id,
        open_only=open,
        street_code=street_code,
        public_welfare=public_welfare,
        updated_since=updated_since,
    )
    items = [PostingRead.model_validate(r) for r in rows]
    return make_page(items, page.limit, key=lambda p: [str(p.id)])


@router.post(
    "/postings",
    status_code=status.HTTP_201_CREATED,
    response_model=PostingRead,
    summary="Add a posting",
    responses={404: {"description": "An employer's token names another employer."}},
)
async def create_posting(
    body: PostingCreate, principal: EmployerManager, uow: UnitOfWorkDep, cache: OpenPostingsDep, response: Response
) -> PostingRead:
    row = await service.create_posting(session=uow.session, body=body, principal=principal)
    await uow.commit()
    cache.invalidate()
    set_etag(response, row["version"])
    response.headers["Location"] = f"/matching/v1/postings/{row['id']}"
    return PostingRead.model_validate(row)


@router.get("/postings/{posting_id}", response_model=PostingRead, summary="One posting")
async def get_posting(
    posting_id: uuid.UUID, principal: AnyMatchingReader, session: ReadSessionDep, response: Response
) -> PostingRead:
    row = await service.get_posting(session=session, posting_id=posting_id, principal=principal)
    set_etag(response, row["version"])
    return PostingRead.model_validate(row)


@router.patch(
    "/postings/{posting_id}",
    response_model=PostingRead,
    summary="Change a posting (If-Match)",
    dependencies=[IF_MATCH_REQUIRED],
)
async def update_posting(
    posting_id: uuid.UUID,
    body: PostingUpdate,
    principal: EmployerManager,
    uow: UnitOfWorkDep,
    cache: OpenPostingsDep,
    request: Request,
    response: Response,
) -> PostingRead:
    current = await service.get_posting(session=uow.session, posting_id=posting_id, principal=principal)
    require_if_match(request, current["version"])
    row = await service.update_posting(session=uow.session, current=current, body=body)
    await uow.commit()
    cache.invalidate()
    set_etag(response, row["version"])
    return PostingRead.model_validate(row)
