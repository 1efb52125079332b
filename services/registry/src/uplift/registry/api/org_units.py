"""Org units: the district, streets, communities, grids (division codes) and departments."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from uplift.common.app import ReadSessionDep, UnitOfWorkDep
from uplift.common.auth import CurrentPrincipal
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.registry.domain.households import OrgKind
from uplift.registry.service import org_units as service
from uplift.registry.service.access import DistrictAdmin

router = APIRouter(tags=["org units"])

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=18)]


class OrgUnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    kind: OrgKind
    parent_code: Code | None = None
    linked_streets: list[Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$")]] = Field(
        default_factory=list, max_length=100
    )


class OrgUnitRead(BaseModel):
    code: str
    name: str
    kind: OrgKind
    parent_code: str | None
    linked_streets: list[str]
    updated_at: dt.datetime


def _view(row: dict[str, Any]) -> OrgUnitRead:
    return OrgUnitRead(
        code=row["code"],
        name=row["name"],
        kind=row["kind"],
        parent_code=row["parent_code"],
        linked_streets=list(row["linked_streets"]),
        updated_at=row["updated_at"],
    )


@router.post("/org-units", status_code=status.HTTP_201_CREATED, summary="Create an org unit")
async def create_org_unit(body: OrgUnitCreate, principal: DistrictAdmin, uow: UnitOfWorkDep) -> OrgUnitRead:
    row = await service.create(
        uow.session,
        code=body.code,
        name=body.name,
        kind=body.kind,
        parent_code=body.parent_code,
        linked_streets=body.linked_streets,
        actor=principal.sub,
    )
    await uow.commit()
    return _view(row)


@router.get("/org-units", summary="List org units")
async def list_org_units(
    principal: CurrentPrincipal,
    session: ReadSessionDep,
    pages: Annotated[PageParams, Depends(page_params)],
    kind: OrgKind | None = None,
    parent_code: str | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[OrgUnitRead]:
    after = str(pages.cursor[0]) if pages.cursor else None
    rows = await service.search(
        session, kind=kind, parent_code=parent_code, updated_since=updated_since, after=after, limit=pages.limit + 1
    )
    page = make_page(rows, pages.limit, key=lambda row: [row["code"]])
    return Page[OrgUnitRead](items=[_view(row) for row in page.items], next_cursor=page.next_cursor)


@router.get("/org-units/{code}", summary="Read an org unit")
async def get_org_unit(code: str, principal: CurrentPrincipal, session: ReadSessionDep) -> OrgUnitRead:
    return _view(await service.get(session, code))
