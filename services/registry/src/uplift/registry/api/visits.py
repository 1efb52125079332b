"""Visits (入户走访): `POST /households/{id}/visits`, `GET /visits`.

Findings may hold personal details: they are returned to callers holding `pii:read` (each such read is
audited) and to the cadre who wrote them; everyone else sees `findings: null, findings_withheld: true`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, cast

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from uplift.common.app import ReadSessionDep, RuntimeDep, UnitOfWorkDep
from uplift.common.auth import Principal
from uplift.common.contracts import Helper
from uplift.common.errors import FieldError, Unprocessable
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.common.pii import FieldCipher
from uplift.common.scheduler import business_today
from uplift.registry.api.support_scope import (
    HouseholdSupportWriter,
    PairingReader,
    acts_as_cadre,
    acts_as_department,
    cadre_uuid,
    cursor_id,
    household_in_scope,
    household_scope,
)
from uplift.registry.domain.pairing import HelperKind
from uplift.registry.models.households import Household
from uplift.registry.models.support import Visit
from uplift.registry.service import audit
from uplift.registry.service.helpers import require_helper
from uplift.registry.service.pairings import active_helper
from uplift.registry.service.parameters import parameters_in_force
from uplift.registry.service.personal_data import vault_for
from uplift.registry.service.visits import NEED_CODES, read_findings, record_visit

router = APIRouter(tags=["visits"])
Pages = Annotated[PageParams, Depends(page_params)]


def _known_need(code: str) -> str:
    if code not in NEED_CODES:
        raise ValueError(f"unknown need; one of {', '.join(NEED_CODES)}")
    return code


NeedCode = Annotated[str, AfterValidator(_known_need), Field(json_schema_extra={"enum": list(NEED_CODES)})]


class VisitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    helper_kind: HelperKind | None = None  # default: the household's active helper (a cadre: itself)
    helper_id: uuid.UUID | None = None
    visited_on: dt.date
    findings: Annotated[str, Field(max_length=4000)] | None = None
    needs: list[NeedCode] = Field(default_factory=list, max_length=20)
    satisfaction: Annotated[int, Field(ge=1, le=5)] | None = None


class VisitRead(BaseModel):
    id: uuid.UUID
    household_id: uuid.UUID
    helper: Helper
    visited_on: dt.date
    findings: str | None
    findings_withheld: bool
    needs: list[str]
    satisfaction: int | None
    recorded_by: str
    created_at: dt.datetime


async def _cipher(runtime: RuntimeDep) -> FieldCipher:
    return vault_for(runtime.settings).cipher


CipherDep = Annotated[FieldCipher, Depends(_cipher)]


def _may_read_findings(principal: Principal, visit: Visit) -> bool:
    if principal.can_read_pii():
        return True
    cadre_id = cadre_uuid(principal)
    return cadre_id is not None and visit.helper_kind == "cadre" and visit.helper_id == cadre_id


def _read(visit: Visit, principal: Principal, cipher: FieldCipher) -> VisitRead:
    shown = _may_read_findings(principal, visit)
    return VisitRead(
        id=visit.id,
        household_id=visit.household_id,
        helper=Helper(
            kind=cast(HelperKind, visit.helper_kind), id=visit.helper_id, department_code=visit.department_code
        ),
        visited_on=visit.visited_on,
        findings=read_findings(visit, cipher) if shown else None,
        findings_withheld=visit.findings_encrypted is not None and not shown,
        needs=list(visit.needs),
        satisfaction=visit.satisfaction,
        recorded_by=visit.recorded_by,
        created_at=visit.created_at,
    )


async def _audit_findings(session: Any, principal: Principal, visits: list[Visit]) -> None:
    """Every unmasked read of findings by a `pii:read` holder is audited."""
    if not principal.can_read_pii():
        return
    await audit.record_many(
        session,
        [
            {"actor": principal.sub, "action": "read_visit_findings", "subject_type": "visit", "subject_id": visit.id}
            for visit in visits
            if visit.findings_encrypted is not None
        ],
    )


@router.post("/households/{household_id}/visits", status_code=201, response_model=VisitRead, summary="Record a visit")
async def create_visit(
    household_id: uuid.UUID,
    body: VisitCreate,
    principal: HouseholdSupportWriter,
    uow: UnitOfWorkDep,
    runtime: RuntimeDep,
) -> VisitRead:
    session = uow.session
    household = await household_in_scope(session, principal, household_id)
    today = business_today(runtime.settings.timezone)
    if body.visited_on > today:
        raise Unprocessable("A visit cannot be in the future.", errors=[FieldError("visited_on", "after today")])
    if (body.helper_kind is None) != (body.helper_id is None):
        raise Unprocessable(
            "Name the helper by kind and id, or neither.",
            errors=[FieldError("helper_id" if body.helper_id is None else "helper_kind", "give both or neither")],
        )
    if acts_as_cadre(principal):
        own = cadre_uuid(principal)
        if body.helper_id is not None and (body.helper_kind, body.helper_id) != ("cadre", own):
            raise Unprocessable("A cadre records its own visits.", errors=[FieldError("helper_id", "not you")])
        kind: HelperKind = "cadre"
        helper_id = own
    elif body.helper_kind is not None and body.helper_id is not None:
        kind, helper_id = body.helper_kind, body.helper_id
    else:
        current = await active_helper(session, household.id)
        if current is None:
            raise Unprocessable(
                "The household has no helper: name the helper who visited.",
                errors=[FieldError("helper_id", "required: the household is not paired")],
            )
        kind, helper_id = current.kind, current.id
    assert helper_id is not None
    helper = await require_helper(session, kind, helper_id)
    params = await parameters_in_force(session, today)
    cipher = vault_for(runtime.settings).cipher
    visit = await record_visit(
        uow,
        household_id=household.id,
        helper=helper,
        visited_on=body.visited_on,
        findings=body.findings,
        needs=body.needs,
        satisfaction=body.satisfaction,
        recorded_by=principal.sub,
        cipher=cipher,
        today=today,
        interval_days=params.visit_interval_days,
    )
    await _audit_findings(session, principal, [visit])
    await uow.commit()
    return _read(visit, principal, cipher)


@router.get("/visits", response_model=Page[VisitRead], summary="List visits")
async def list_visits(
    principal: PairingReader,
    session: ReadSessionDep,
    cipher: CipherDep,
    page: Pages,
    helper_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    department_code: str | None = None,
    from_: Annotated[dt.date | None, Query(alias="from")] = None,
    to: dt.date | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[VisitRead]:
    """Cadres see their own visits, department admins their department's, others the visits of the
    households in their scope. Ordered by `visited_on`, then id."""
    conditions: list[sa.ColumnElement[bool]] = []
    if acts_as_cadre(principal):
        own = cadre_uuid(principal)
        conditions.append(sa.and_(Visit.helper_kind == "cadre", Visit.helper_id == own) if own else sa.false())
    elif acts_as_department(principal):
        conditions.append(Visit.department_code == principal.department_code)
    else:
        conditions.append(sa.exists().where(Household.id == Visit.household_id, household_scope(principal)))
    for column, value in (
        (Visit.helper_id, helper_id),
        (Visit.household_id, household_id),
        (Visit.department_code, department_code),
    ):
        if value is not None:
            conditions.append(column == value)
    if from_ is not None:
        conditions.append(Visit.visited_on >= from_)
    if to is not None:
        conditions.append(Visit.visited_on <= to)
    if updated_since is not None:
        conditions.append(Visit.updated_at >= updated_since)
    if page.cursor:
        try:
            after_day = dt.date.fromisoformat(str(page.cursor[0]))
        except ValueError:
            after_day = dt.date.min
        conditions.append(sa.tuple_(Visit.visited_on, Visit.id) > sa.tuple_(sa.literal(after_day), cursor_id(page, 1)))
    stmt = sa.select(Visit).where(*conditions).order_by(Visit.visited_on, Visit.id).limit(page.limit + 1)
    visits = list((await session.execute(stmt)).scalars().all())
    if principal.can_read_pii():
        await _audit_findings(session, principal, visits[: page.limit])
        await session.commit()
    return make_page(
        [_read(visit, principal, cipher) for visit in visits],
        page.limit,
        key=lambda item: [item.visited_on.isoformat(), str(item.id)],
    )
