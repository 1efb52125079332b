"""Assistance plans (一户一策): `GET/POST /households/{id}/plan/measures`, `POST …/measures/{mid}:complete`.

`GET …/plan/measures?proposed=true` also answers `proposed`: the policies the household is eligible for that
no planned or completed measure covers yet, with the qualifying members — the measures the API proposes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from uplift.common.app import ReadSessionDep, RuntimeDep, UnitOfWorkDep
from uplift.common.contracts import Helper
from uplift.common.errors import FieldError, Unprocessable
from uplift.common.scheduler import business_today
from uplift.registry.api.support_scope import (
    HouseholdSupportReader,
    HouseholdSupportWriter,
    acts_as_cadre,
    cadre_uuid,
    household_in_scope,
)
from uplift.registry.domain.pairing import HelperKind
from uplift.registry.models.support import Measure
from uplift.registry.service import plans as plan_service
from uplift.registry.service.helpers import HelperRecord, find_helper, require_helper
from uplift.registry.service.pairings import active_helper
from uplift.registry.service.parameters import parameters_in_force
from uplift.registry.service.policies import eligible_policies

router = APIRouter(tags=["plans"])


class MeasureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_code: Annotated[str, Field(min_length=1, max_length=64)]
    helper_kind: HelperKind | None = None  # default: the household's active helper (a cadre: itself)
    helper_id: uuid.UUID | None = None
    due_on: dt.date
    person_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    note: Annotated[str, Field(max_length=1000)] | None = None


class MeasureComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    completed_on: dt.date | None = None  # default: today


class MeasureRead(BaseModel):
    id: uuid.UUID
    household_id: uuid.UUID
    policy_code: str
    person_ids: list[uuid.UUID]
    helper: Helper | None
    due_on: dt.date
    status: str
    completed_on: dt.date | None
    note: str | None
    version: int
    updated_at: dt.datetime


class ProposedMeasure(BaseModel):
    policy_code: str
    area: str
    name_zh: str
    name_en: str
    applies_to: str
    person_ids: list[str]


class PlanRead(BaseModel):
    items: list[MeasureRead]
    next_cursor: str | None = None
    proposed: list[ProposedMeasure] | None = None


def _read(measure: Measure) -> MeasureRead:
    return MeasureRead(
        id=measure.id,
        household_id=measure.household_id,
        policy_code=measure.policy_code,
        person_ids=list(measure.person_ids),
        helper=plan_service.measure_helper(measure),
        due_on=measure.due_on,
        status=measure.status,
        completed_on=measure.completed_on,
        note=measure.note,
        version=measure.version,
        updated_at=measure.updated_at,
    )


@router.get("/households/{household_id}/plan/measures", response_model=PlanRead, summary="The household's plan")
async def read_plan(
    household_id: uuid.UUID,
    principal: HouseholdSupportReader,
    session: ReadSessionDep,
    runtime: RuntimeDep,
    proposed: bool = False,
    status: str | None = None,
) -> PlanRead:
    household = await household_in_scope(session, principal, household_id)
    measures = await plan_service.household_measures(session, household.id)
    shown = [measure for measure in measures if status is None or measure.status == status]
    proposals = None
    if proposed:
        day = business_today(runtime.settings.timezone)
        report = await eligible_policies(session, household.id, day, await parameters_in_force(session, day))
        proposals = [
            ProposedMeasure(
                policy_code=item.policy_code,
                area=item.area,
                name_zh=item.name_zh,
                name_en=item.name_en,
                applies_to=item.applies_to,
                person_ids=list(item.person_ids),
            )
            for item in plan_service.proposals(report, measures)
        ]
    return PlanRead(items=[_read(measure) for measure in shown], proposed=proposals)


@router.post(
    "/households/{household_id}/plan/measures", status_code=201, response_model=MeasureRead, summary="Plan a measure"
)
async def create_measure(
    household_id: uuid.UUID, body: MeasureCreate, principal: HouseholdSupportWriter, uow: UnitOfWorkDep
) -> MeasureRead:
    """Emits `registry.measure.planned`. The responsible helper defaults to the household's active helper."""
    session = uow.session
    household = await household_in_scope(session, principal, household_id)
    if (body.helper_kind is None) != (body.helper_id is None):
        raise Unprocessable(
            "Name the helper by kind and id, or neither.",
            errors=[FieldError("helper_id" if body.helper_id is None else "helper_kind", "give both or neither")],
        )
    helper: HelperRecord | None
    if acts_as_cadre(principal):
        own = cadre_uuid(principal)
        if body.helper_id is not None and (body.helper_kind, body.helper_id) != ("cadre", own):
            raise Unprocessable("A cadre plans measures it answers for.", errors=[FieldError("helper_id", "not you")])
        assert own is not None  # acts_as_cadre with a paired household implies a valid cadre id
        helper = await require_helper(session, "cadre", own)
    elif body.helper_kind is not None and body.helper_id is not None:
        helper = await require_helper(session, body.helper_kind, body.helper_id)
    else:
        current = await active_helper(session, household.id)
        helper = await find_helper(session, current.kind, current.id) if current else None
    if body.person_ids:
        members = await plan_service.active_member_ids(session, household.id)
        strangers = [str(person) for person in body.person_ids if person not in members]
        if strangers:
            raise Unprocessable(
                "Not members of this household.",
                errors=[FieldError("person_ids", f"not active members: {', '.join(strangers)}")],
            )
    measure = await plan_service.plan_measure(
        uow,
        household_id=household.id,
        policy_code=body.policy_code,
        helper=helper,
        due_on=body.due_on,
        person_ids=body.person_ids,
        note=body.note,
        planned_by=principal.sub,
    )
    await uow.commit()
    return _read(measure)


@router.post(
    "/households/{household_id}/plan/measures/{measure_id}:complete",
    response_model=MeasureRead,
    summary="Complete a measure",
)
async def complete_measure(
    household_id: uuid.UUID,
    measure_id: uuid.UUID,
    principal: HouseholdSupportWriter,
    uow: UnitOfWorkDep,
    runtime: RuntimeDep,
    body: MeasureComplete | None = None,
) -> MeasureRead:
    """planned → completed (409 otherwise); emits `registry.measure.completed`."""
    household = await household_in_scope(uow.session, principal, household_id)
    measure = await plan_service.get_measure(uow.session, household.id, measure_id, for_update=True)
    today = business_today(runtime.settings.timezone)
    completed_on = (body.completed_on if body else None) or today
    if completed_on > today:
        raise Unprocessable(
            "A measure cannot be completed in the future.", errors=[FieldError("completed_on", "after today")]
        )
    measure = await plan_service.complete_measure(uow, measure, completed_on=completed_on)
    await uow.commit()
    return _read(measure)
