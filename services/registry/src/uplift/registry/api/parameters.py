"""Parameters versioned by effective date, and the audit log (district admins)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, status
from pydantic import BaseModel

from uplift.common.app import ReadSessionDep, UnitOfWorkDep
from uplift.common.auth import CurrentPrincipal
from uplift.common.errors import FieldError, Unprocessable
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.registry.domain.parameters import Parameters
from uplift.registry.service import audit
from uplift.registry.service import parameters as service
from uplift.registry.service.access import DistrictAdmin
from uplift.registry.service.households import business_today

router = APIRouter(tags=["parameters"])

EXAMPLE_VERSION = {"effective_from": "2026-07-01", "dibao_line": "950.00", "quotas": {"section": 3}}


@router.get("/parameters", summary="The parameters in force on a date (default: today)")
async def get_parameters(principal: CurrentPrincipal, session: ReadSessionDep, on: dt.date | None = None) -> Parameters:
    return await service.parameters_in_force(session, on or business_today())


@router.post(
    "/parameters",
    status_code=status.HTTP_201_CREATED,
    summary="Store a version from effective_from (partial: only the values it changes)",
)
async def set_parameters(
    principal: DistrictAdmin,
    uow: UnitOfWorkDep,
    body: Annotated[dict[str, Any], Body(examples=[EXAMPLE_VERSION])],
) -> Parameters:
    values = dict(body)
    raw_date = values.pop("effective_from", None)
    try:
        effective_from = dt.date.fromisoformat(str(raw_date))
    except ValueError:
        raise Unprocessable(
            "effective_from is required.", errors=[FieldError("effective_from", "an ISO date is required")]
        ) from None
    in_force = await service.store_version(uow, effective_from=effective_from, values=values, actor=principal.sub)
    await uow.commit()
    return in_force


class AuditEntryRead(BaseModel):
    id: uuid.UUID
    at: dt.datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    detail: dict[str, Any]


@router.get("/audit-log", tags=["audit"], summary="Who read unmasked data or changed what (district admins)")
async def read_audit_log(
    principal: DistrictAdmin,
    session: ReadSessionDep,
    pages: Annotated[PageParams, Depends(page_params)],
    subject_id: str | None = None,
    actor: str | None = None,
    from_: Annotated[dt.datetime | None, Query(alias="from")] = None,
    to: dt.datetime | None = None,
) -> Page[AuditEntryRead]:
    after = None
    if pages.cursor:
        try:
            after = (dt.datetime.fromisoformat(str(pages.cursor[0])), uuid.UUID(str(pages.cursor[1])))
        except (ValueError, IndexError):
            raise Unprocessable("The cursor is not valid.", errors=[FieldError("cursor", "not ours")]) from None
    rows = await audit.search(
        session, subject_id=subject_id, actor=actor, from_at=from_, to_at=to, after=after, limit=pages.limit + 1
    )
    page = make_page(rows, pages.limit, key=lambda row: [row.at.isoformat(), str(row.id)])
    return Page[AuditEntryRead](
        items=[
            AuditEntryRead(
                id=row.id,
                at=row.at,
                actor=row.actor,
                action=row.action,
                subject_type=row.subject_type,
                subject_id=row.subject_id,
                detail=row.detail,
            )
            for row in page.items
        ],
        next_cursor=page.next_cursor,
    )
