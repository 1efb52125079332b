"""Helpers: cadres (党员干部), party branches (党支部) and responsibility contracts (责任状)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, cast

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from uplift.common.app import ReadSessionDep, UnitOfWorkDep
from uplift.common.auth import Principal
from uplift.common.concurrency import IF_MATCH_CHECKED, require_if_match, set_etag
from uplift.common.contracts import DepartmentCode
from uplift.common.errors import NotFound
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.common.scheduler import business_today
from uplift.registry.api.support_scope import AdminOnly, HelperReader, acts_as_department, cursor_id
from uplift.registry.domain.pairing import HelperKind
from uplift.registry.domain.parameters import CadreRank
from uplift.registry.models.support import Cadre, PartyBranch, ResponsibilityContract
from uplift.registry.service import helpers as helper_service
from uplift.registry.service.pairings import helper_load, release_helper_pairings

router = APIRouter(tags=["helpers"])

StreetCode = Annotated[str, Field(pattern=r"^[0-9]{9}$")]
CommunityCode = Annotated[str, Field(pattern=r"^[0-9]{12}$")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Pages = Annotated[PageParams, Depends(page_params)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CadreCreate(_Body):
    name: Name
    rank: CadreRank
    department_code: DepartmentCode
    home_street_code: StreetCode


class CadreUpdate(_Body):
    name: Name | None = None
    rank: CadreRank | None = None
    home_street_code: StreetCode | None = None
    active: bool | None = None


class CadreRead(BaseModel):
    id: uuid.UUID
    name: str
    rank: CadreRank
    department_code: str
    home_street_code: str
    active: bool
    load: int | None = None  # households it holds now (single reads)
    version: int
    updated_at: dt.datetime


class BranchCreate(_Body):
    name: Name
    department_code: DepartmentCode | None = None
    community_code: CommunityCode | None = None


class BranchRead(BaseModel):
    id: uuid.UUID
    name: str
    department_code: str | None
    community_code: str | None
    active: bool
    updated_at: dt.datetime


class Period(_Body):
    from_: dt.date = Field(alias="from")
    to: dt.date

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ContractCreate(_Body):
    helper_kind: HelperKind
    helper_id: uuid.UUID
    signed_on: dt.date
    period: Period

    @model_validator(mode="after")
    def _period_in_order(self) -> ContractCreate:
        if self.period.to < self.period.from_:
            raise ValueError("period.to must be on or after period.from")
        return self


class ContractRead(BaseModel):
    id: uuid.UUID
    helper_kind: str
    helper_id: uuid.UUID
    department_code: str | None
    signed_on: dt.date
    period: dict[str, dt.date]
    created_at: dt.datetime


def _cadre(cadre: Cadre, load: int | None = None) -> CadreRead:
    return CadreRead(
        id=cadre.id,
        name=cadre.name,
        rank=cast(CadreRank, cadre.rank),
        department_code=cadre.department_code,
        home_street_code=cadre.home_street_code,
        active=cadre.active,
        load=load,
        version=cadre.version,
        updated_at=cadre.updated_at,
    )


def _branch(branch: PartyBranch) -> BranchRead:
    return BranchRead.model_validate(branch, from_attributes=True)


def _contract(contract: ResponsibilityContract) -> ContractRead:
    return ContractRead(
        id=contract.id,
        helper_kind=contract.helper_kind,
        helper_id=contract.helper_id,
        department_code=contract.department_code,
        signed_on=contract.signed_on,
        period={"from": contract.period_from, "to": contract.period_to},
        created_at=contract.created_at,
    )


def _department_filter(principal: Principal, column: Any, requested: str | None) -> list[sa.ColumnElement[bool]]:
    """A department admin sees its own department's helpers only."""
    conditions = []
    if acts_as_department(principal):
        conditions.append(column == principal.department_code)
    if requested is not None:
        conditions.append(column == requested)
    return conditions


# --------------------------------------------------------------------------------------------------- cadres


@router.get("/cadres", response_model=Page[CadreRead], summary="List cadres")
async def list_cadres(
    principal: HelperReader,
    session: ReadSessionDep,
    page: Pages,
    department_code: str | None = None,
    home_street_code: str | None = None,
    rank: CadreRank | None = None,
    active: bool | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[CadreRead]:
    conditions = _department_filter(principal, Cadre.department_code, department_code)
    if home_street_code is not None:
        conditions.append(Cadre.home_street_code == home_street_code)
    if rank is not None:
        conditions.append(Cadre.rank == rank)
    if active is not None:
        conditions.append(Cadre.active == active)
    if updated_since is not None:
        conditions.append(Cadre.updated_at >= updated_since)
    if page.cursor:
        conditions.append(Cadre.id > cursor_id(page))
    rows = (
        (await session.execute(sa.select(Cadre).where(*conditions).order_by(Cadre.id).limit(page.limit + 1)))
        .scalars()
        .all()
    )
    return make_page([_cadre(row) for row in rows], page.limit, key=lambda item: [str(item.id)])


@router.post("/cadres", status_code=201, response_model=CadreRead, summary="Register a cadre")
async def create_cadre(body: CadreCreate, principal: AdminOnly, uow: UnitOfWorkDep, response: Response) -> CadreRead:
    cadre = await helper_service.create_cadre(
        uow.session,
        name=body.name,
        rank=body.rank,
        department_code=body.department_code,
        home_street_code=body.home_street_code,
    )
    await uow.commit()
    set_etag(response, cadre.version)
    return _cadre(cadre, 0)


@router.get("/cadres/{cadre_id}", response_model=CadreRead, summary="Read a cadre")
async def read_cadre(
    cadre_id: uuid.UUID, principal: HelperReader, session: ReadSessionDep, response: Response
) -> CadreRead:
    cadre = await helper_service.get_cadre(session, cadre_id)
    if acts_as_department(principal) and cadre.department_code != principal.department_code:
        raise NotFound("No such cadre.")
    set_etag(response, cadre.version)
    return _cadre(cadre, await helper_load(session, "cadre", cadre.id))


@router.patch(
    "/cadres/{cadre_id}",
    response_model=CadreRead,
    summary="Update or deactivate a cadre",
    dependencies=[IF_MATCH_CHECKED],
)
async def update_cadre(
    cadre_id: uuid.UUID,
    body: CadreUpdate,
    principal: AdminOnly,
    uow: UnitOfWorkDep,
    request: Request,
    response: Response,
) -> CadreRead:
    """`active: false` releases the cadre's pairings (`registry.pairing.released` for each). `If-Match` is
    checked when sent."""
    session = uow.session
    cadre = await helper_service.get_cadre(session, cadre_id, for_update=True)
    if request.headers.get("if-match") is not None:
        require_if_match(request, cadre.version)
    if body.home_street_code is not None:
        await helper_service.require_org_units(session, [("home_street_code", body.home_street_code, "street")])
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    for field, value in changes.items():
        setattr(cadre, field, value)
    if changes:
        cadre.version += 1
    if body.active is False:
        await release_helper_pairings(uow, "cadre", cadre.id, on=business_today(), reason="helper_deactivated")
    await session.flush()
    load = await helper_load(session, "cadre", cadre.id)
    await uow.commit()
    await session.refresh(cadre)
    set_etag(response, cadre.version)
    return _cadre(cadre, load)


# ------------------------------------------------------------------------------------------------- branches


@router.get("/party-branches", response_model=Page[BranchRead], summary="List party branches")
async def list_branches(
    principal: HelperReader,
    session: ReadSessionDep,
    page: Pages,
    department_code: str | None = None,
    community_code: str | None = None,
    active: bool | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[BranchRead]:
    conditions = _department_filter(principal, PartyBranch.department_code, department_code)
    if community_code is not None:
        conditions.append(PartyBranch.community_code == community_code)
    if active is not None:
        conditions.append(PartyBranch.active == active)
    if updated_since is not None:
        conditions.append(PartyBranch.updated_at >= updated_since)
    if page.cursor:
        conditions.append(PartyBranch.id > cursor_id(page))
    rows = (
        (
            await session.execute(
                sa.select(PartyBranch).where(*conditions).order_by(PartyBranch.id).limit(page.limit + 1)
            )
        )
        .scalars()
        .all()
    )
    return make_page([_branch(row) for row in rows], page.limit, key=lambda item: [str(item.id)])


@router.post("/party-branches", status_code=201, response_model=BranchRead, summary="Register a party branch")
async def create_branch(body: BranchCreate, principal: AdminOnly, uow: UnitOfWorkDep) -> BranchRead:
    branch = await helper_service.create_branch(
        uow.session, name=body.name, department_code=body.department_code, community_code=body.community_code
    )
    await uow.commit()
    return _branch(branch)


# ------------------------------------------------------------------------------------------------ contracts


@router.get("/contracts", response_model=Page[ContractRead], summary="List responsibility contracts")
async def list_contracts(
    principal: HelperReader,
    session: ReadSessionDep,
    page: Pages,
    helper_id: Annotated[uuid.UUID | None, Query()] = None,
    department_code: str | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[ContractRead]:
    conditions = _department_filter(principal, ResponsibilityContract.department_code, department_code)
    if helper_id is not None:
        conditions.append(ResponsibilityContract.helper_id == helper_id)
    if updated_since is not None:
        conditions.append(ResponsibilityContract.updated_at >= updated_since)
    if page.cursor:
        conditions.append(ResponsibilityContract.id > cursor_id(page))
    rows = (
        (
            await session.execute(
                sa.select(ResponsibilityContract)
                .where(*conditions)
                .order_by(ResponsibilityContract.id)
                .limit(page.limit + 1)
            )
        )
        .scalars()
        .all()
    )
    return make_page([_contract(row) for row in rows], page.limit, key=lambda item: [str(item.id)])


@router.post("/contracts", status_code=201, response_model=ContractRead, summary="Record a responsibility contract")
async def create_contract(body: ContractCreate, principal: AdminOnly, uow: UnitOfWorkDep) -> ContractRead:
    contract = await helper_service.create_contract(
        uow.session,
        helper_kind=body.helper_kind,
        helper_id=body.helper_id,
        signed_on=body.signed_on,
        period_from=body.period.from_,
        period_to=body.period.to,
    )
    await uow.commit()
    return _contract(contract)
