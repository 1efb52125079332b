"""Dynamic monitoring (动态监测): `GET /alerts`, `POST /alerts/{id}:acknowledge`, `POST /alerts/{id}:resolve`.

Lifecycle open → acknowledged → resolved (open → resolved too); any other step is 409 naming the allowed ones.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from uplift.common.app import ReadSessionDep, RuntimeDep, UnitOfWorkDep
from uplift.common.auth import Principal
from uplift.common.contracts import AlertKind
from uplift.common.errors import NotFound
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.common.scheduler import business_today
from uplift.registry.api.support_scope import (
    AlertWriter,
    HouseholdSupportReader,
    cursor_id,
    household_in_scope,
    household_scope,
)
from uplift.registry.models.households import Household
from uplift.registry.models.support import Alert
from uplift.registry.service import alerts as alert_service

router = APIRouter(tags=["alerts"])
Pages = Annotated[PageParams, Depends(page_params)]


class AlertRead(BaseModel):
    id: uuid.UUID
    household_id: uuid.UUID
    street_code: str
    community_code: str
    kind: str
    severity: str
    status: str
    facts: dict[str, Any]
    raised_on: dt.date
    last_triggered_on: dt.date
    triggers: int
    acknowledged_at: dt.datetime | None
    resolved_on: dt.date | None
    resolution_note: str | None
    updated_at: dt.datetime


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(max_length=1000)] | None = None


def _read(alert: Alert, street_code: str, community_code: str) -> AlertRead:
    return AlertRead(
        id=alert.id,
        household_id=alert.household_id,
        street_code=street_code,
        community_code=community_code,
        kind=alert.kind,
        severity=alert.severity,
        status=alert.status,
        facts=alert.facts,
        raised_on=alert.raised_on,
        last_triggered_on=alert.last_triggered_on,
        triggers=alert.triggers,
        acknowledged_at=alert.acknowledged_at,
        resolved_on=alert.resolved_on,
        resolution_note=alert.resolution_note,
        updated_at=alert.updated_at,
    )


@router.get("/alerts", response_model=Page[AlertRead], summary="List alerts")
async def list_alerts(
    principal: HouseholdSupportReader,
    session: ReadSessionDep,
    page: Pages,
    kind: AlertKind | None = None,
    status: Annotated[str | None, Query(pattern="^(open|acknowledged|resolved)$")] = None,
    street_code: str | None = None,
    community_code: str | None = None,
    household_id: uuid.UUID | None = None,
    severity: str | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[AlertRead]:
    """Newest first (by id, which is time-ordered). Cadres see the alerts of their paired households."""
    conditions: list[sa.ColumnElement[bool]] = [household_scope(principal)]
    for column, value in (
        (Alert.kind, kind),
        (Alert.status, status),
        (Alert.household_id, household_id),
        (Alert.severity, severity),
        (Household.street_code, street_code),
        (Household.community_code, community_code),
    ):
        if value is not None:
            conditions.append(column == value)
    if updated_since is not None:
        conditions.append(Alert.updated_at >= updated_since)
    if page.cursor:
        conditions.append(Alert.id < cursor_id(page))
    stmt = (
        sa.select(Alert, Household.street_code, Household.community_code)
        .join(Household, Household.id == Alert.household_id)
        .where(*conditions)
        .order_by(Alert.id.desc())
        .limit(page.limit + 1)
    )
    rows = (await session.execute(stmt)).all()
    return make_page([_read(*row) for row in rows], page.limit, key=lambda item: [str(item.id)])


async def _alert_in_scope(session: Any, principal: Principal, alert_id: uuid.UUID) -> tuple[Alert, str, str]:
    alert = await alert_service.get_alert(session, alert_id, for_update=True)
    try:
        household = await household_in_scope(session, principal, alert.household_id)
    except NotFound:
        raise NotFound("No such alert.") from None
    return alert, household.street_code, household.community_code


@router.get("/alerts/{alert_id}", response_model=AlertRead, summary="Read an alert")
async def read_alert(alert_id: uuid.UUID, principal: HouseholdSupportReader, session: ReadSessionDep) -> AlertRead:
    alert = await alert_service.get_alert(session, alert_id)
    try:
        household = await household_in_scope(session, principal, alert.household_id)
    except NotFound:
        raise NotFound("No such alert.") from None
    return _read(alert, household.street_code, household.community_code)


@router.post("/alerts/{alert_id}:acknowledge", response_model=AlertRead, summary="Acknowledge an alert")
async def acknowledge_alert(alert_id: uuid.UUID, principal: AlertWriter, uow: UnitOfWorkDep) -> AlertRead:
    alert, street, community = await _alert_in_scope(uow.session, principal, alert_id)
    alert = await alert_service.acknowledge_alert(uow, alert, by=principal.sub)
    await uow.commit()
    return _read(alert, street, community)


@router.post("/alerts/{alert_id}:resolve", response_model=AlertRead, summary="Resolve an alert")
async def resolve_alert(
    alert_id: uuid.UUID,
    principal: AlertWriter,
    uow: UnitOfWorkDep,
    runtime: RuntimeDep,
    body: ResolveBody | None = None,
) -> AlertRead:
    """Emits `registry.alert.resolved`."""
    alert, street, community = await _alert_in_scope(uow.session, principal, alert_id)
    alert = await alert_service.resolve_alert(
        uow,
        alert,
        by=principal.sub,
        on=business_today(runtime.settings.timezone),
        note=body.note if body else None,
    )
    await uow.commit()
    return _read(alert, street, community)
