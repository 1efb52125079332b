"""Pairing (党员包户): manual pairing, ending a pairing, and auto-pairing a scope."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from uplift.common.app import ReadSessionDep, UnitOfWorkDep
from uplift.common.auth import Principal, Role
from uplift.common.errors import FieldError, NotFound, Unprocessable
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.common.scheduler import business_today
from uplift.registry.api.support_scope import (
    PairingReader,
    PairingWriter,
    acts_as_cadre,
    acts_as_department,
    cadre_uuid,
    cursor_id,
    household_in_scope,
    household_scope,
)
from uplift.registry.domain.pairing import HelperKind
from uplift.registry.models.households import Household
from uplift.registry.models.support import Pairing
from uplift.registry.service import pairings as pairing_service
from uplift.registry.service.helpers import org_unit_kinds

router = APIRouter(tags=["pairing"])
Pages = Annotated[PageParams, Depends(page_params)]


class PairingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household_id: uuid.UUID
    helper_kind: HelperKind
    helper_id: uuid.UUID
    started_on: dt.date | None = None  # default: today (business date)


class AutoPairRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope_code: Annotated[str, Field(pattern=r"^[0-9]{6}([0-9]{3}([0-9]{3})?)?$")] | None = None


class PairingRead(BaseModel):
    id: uuid.UUID
    household_id: uuid.UUID
    helper_kind: str
    helper_id: uuid.UUID
    department_code: str | None
    street_code: str
    started_on: dt.date
    ended_on: dt.date | None
    active: bool
    assigned_by: str
    end_reason: str | None
    updated_at: dt.datetime


class AutoPairResult(BaseModel):
    scope_code: str | None
    assigned: int
    unpaired: list[uuid.UUID]
    by_helper_kind: dict[str, int]
    by_cost: dict[str, int]  # "0" home street, "1" linked street, "3" elsewhere
    kept: int  # households of the scope that already had a helper


def _read(pairing: Pairing) -> PairingRead:
    return PairingRead.model_validate(pairing, from_attributes=True)


def _visible(principal: Principal) -> sa.ColumnElement[bool]:
    """Pairings the caller may read."""
    if acts_as_cadre(principal):
        cadre_id = cadre_uuid(principal)
        if cadre_id is None:
            return sa.false()
        return sa.and_(Pairing.helper_kind == "cadre", Pairing.helper_id == cadre_id)
    if acts_as_department(principal):
        return Pairing.department_code == principal.department_code
    return sa.exists().where(Household.id == Pairing.household_id, household_scope(principal))


@router.get("/pairings", response_model=Page[PairingRead], summary="List pairings")
async def list_pairings(
    principal: PairingReader,
    session: ReadSessionDep,
    page: Pages,
    household_id: uuid.UUID | None = None,
    helper_id: uuid.UUID | None = None,
    helper_kind: HelperKind | None = None,
    department_code: str | None = None,
    street_code: str | None = None,
    active: bool | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[PairingRead]:
    conditions = [_visible(principal)]
    for column, value in (
        (Pairing.household_id, household_id),
        (Pairing.helper_id, helper_id),
        (Pairing.helper_kind, helper_kind),
        (Pairing.department_code, department_code),
        (Pairing.street_code, street_code),
        (Pairing.active, active),
    ):
        if value is not None:
            conditions.append(column == value)
    if updated_since is not None:
        conditions.append(Pairing.updated_at >= updated_since)
    if page.cursor:
        conditions.append(Pairing.id > cursor_id(page))
    rows = (
        (await session.execute(sa.select(Pairing).where(*conditions).order_by(Pairing.id).limit(page.limit + 1)))
        .scalars()
        .all()
    )
    return make_page([_read(row) for row in rows], page.limit, key=lambda item: [str(item.id)])


@router.post(
    "/pairings",
    status_code=201,
    response_model=PairingRead,
    summary="Pair a household with a helper",
    responses={404: {"description": "No such household, or it lies outside the caller's org scope."}},
)
async def create_pairing(body: PairingCreate, principal: PairingWriter, uow: UnitOfWorkDep) -> PairingRead:
    """The household must be enrolled or in transition and unpaired (409), the helper active and under its
    quota (409 naming `helper_id`)."""
    household = await household_in_scope(uow.session, principal, body.household_id)
    pairing = await pairing_service.pair_manually(
        uow,
        household,
        helper_kind=body.helper_kind,
        helper_id=body.helper_id,
        on=body.started_on or business_today(),
        assigned_by=principal.sub,
    )
    await uow.commit()
    return _read(pairing)


@router.get("/pairings/{pairing_id}", response_model=PairingRead, summary="Read a pairing")
async def read_pairing(pairing_id: uuid.UUID, principal: PairingReader, session: ReadSessionDep) -> PairingRead:
    pairing = (await session.execute(sa.select(Pairing).where(Pairing.id == pairing_id, _visible(principal)))).scalar()
    if pairing is None:
        raise NotFound("No such pairing.")
    return _read(pairing)


@router.delete(
    "/pairings/{pairing_id}",
    response_model=PairingRead,
    summary="End a pairing",
    responses={409: {"description": "The pairing has already ended."}},
)
async def end_pairing(pairing_id: uuid.UUID, principal: PairingWriter, uow: UnitOfWorkDep) -> PairingRead:
    """Ends the pairing today (it stays in the history, `active: false`); emits `registry.pairing.released`."""
    pairing = await uow.session.get(Pairing, pairing_id)
    if pairing is None:
        raise NotFound("No such pairing.")
    await household_in_scope(uow.session, principal, pairing.household_id)
    ended = await pairing_service.end_pairing(uow, pairing_id, on=business_today(), reason="ended_by_operator")
    await uow.commit()
    return _read(ended)


@router.post(
    "/pairings:auto",
    response_model=AutoPairResult,
    summary="Auto-pair the unpaired households of a scope",
    responses={404: {"description": "The scope lies outside the caller's org scope."}},
)
async def auto_pair(body: AutoPairRequest, principal: PairingWriter, uow: UnitOfWorkDep) -> AutoPairResult:
    """Min-cost flow over every active helper (cost 0 home street, 1 linked street, 3 elsewhere; quota −
    current load), keeping existing pairings. A street operator or community worker pairs its own scope."""
    scope_code = body.scope_code
    if principal.has_role(Role.STREET_OPERATOR, Role.COMMUNITY_WORKER) and not principal.has_role(Role.DISTRICT_ADMIN):
        scope_code = scope_code or principal.division_code
        if scope_code is None or not principal.in_scope(scope_code):
            raise NotFound("No such scope.")
    if scope_code is not None:
        kinds = await org_unit_kinds(uow.session, [scope_code])
        if scope_code not in kinds:
            raise Unprocessable("Unknown org unit code.", errors=[FieldError("scope_code", "not a known org unit")])
    outcome = await pairing_service.auto_pair_scope(uow, scope_code=scope_code, on=business_today())
    await uow.commit()
    return AutoPairResult(
        scope_code=scope_code,
        assigned=outcome.assigned,
        unpaired=list(outcome.unpaired),
        by_helper_kind=outcome.by_helper_kind,
        by_cost={str(cost): count for cost, count in outcome.by_cost.items()},
        kept=outcome.kept,
    )
