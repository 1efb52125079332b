"""Assistance plans (一户一策): measures of a household — a policy, a responsible helper, a due date, a status.

A measure is `planned`, then `completed` (or `cancelled`); planning and completing emit
`registry.measure.planned` / `completed`. Proposals are the policies the household is eligible for that no
planned or completed measure covers yet.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.contracts import Helper, MeasureCompleted, MeasurePlanned
from uplift.common.db import new_id
from uplift.common.errors import Conflict, FieldError, NotFound, Unprocessable
from uplift.common.unit_of_work import UnitOfWork
from uplift.registry.domain.pairing import HelperKind
from uplift.registry.models.households import Person
from uplift.registry.models.support import Measure, Policy
from uplift.registry.service.helpers import HelperRecord
from uplift.registry.service.policies import EligibilityReport

MEASURE_STATUSES = ("planned", "completed", "cancelled")


def measure_helper(measure: Measure) -> Helper | None:
    if measure.helper_kind is None or measure.helper_id is None:
        return None
    kind = cast(HelperKind, measure.helper_kind)
    return Helper(kind=kind, id=measure.helper_id, department_code=measure.department_code)


def _payload(measure: Measure) -> dict[str, object]:
    return {
        "measure_id": measure.id,
        "household_id": measure.household_id,
        "policy_code": measure.policy_code,
        "helper": measure_helper(measure),
        "due_on": measure.due_on,
    }


async def plan_measure(
    uow: UnitOfWork,
    *,
    household_id: uuid.UUID,
    policy_code: str,
    helper: HelperRecord | None,
    due_on: dt.date,
    person_ids: Sequence[uuid.UUID],
    note: str | None,
    planned_by: str,
) -> Measure:
    """Add a measure to the household's plan; the policy must be an active policy of the toolbox."""
    policy = await uow.session.get(Policy, policy_code)
    if policy is None or not policy.active:
        raise Unprocessable("Unknown policy.", errors=[FieldError("policy_code", f"no active policy {policy_code!r}")])
    measure = Measure(
        id=new_id(),
        household_id=household_id,
        policy_code=policy_code,
        person_ids=list(dict.fromkeys(person_ids)),
        helper_kind=helper.kind if helper else None,
        helper_id=helper.id if helper else None,
        department_code=helper.department_code if helper else None,
        due_on=due_on,
        status="planned",
        note=note,
        planned_by=planned_by,
        version=1,
    )
    uow.session.add(measure)
    await uow.session.flush()
    uow.emit(MeasurePlanned.event_type, subject=measure.id, data=MeasurePlanned.model_validate(_payload(measure)))
    return measure


async def get_measure(
    session: AsyncSession, household_id: uuid.UUID, measure_id: uuid.UUID, *, for_update: bool = False
) -> Measure:
    stmt = sa.select(Measure).where(Measure.id == measure_id, Measure.household_id == household_id)
    measure = (await session.execute(stmt.with_for_update() if for_update else stmt)).scalar()
    if measure is None:
        raise NotFound("No such measure.")
    return measure


async def complete_measure(uow: UnitOfWork, measure: Measure, *, completed_on: dt.date) -> Measure:
    """planned → completed; 409 from any other status."""
    if measure.status != "planned":
        raise Conflict(
            f"A {measure.status} measure cannot be completed.",
            errors=[FieldError("status", f"is {measure.status}; completing needs planned")],
            allowed=[],
        )
    measure.status = "completed"
    measure.completed_on = completed_on
    measure.version += 1
    await uow.session.flush()
    await uow.session.refresh(measure)  # server-set updated_at
    payload = MeasureCompleted.model_validate({**_payload(measure), "completed_on": completed_on})
    uow.emit(MeasureCompleted.event_type, subject=measure.id, data=payload)
    return measure


async def household_measures(session: AsyncSession, household_id: uuid.UUID) -> list[Measure]:
    rows = await session.execute(
        sa.select(Measure).where(Measure.household_id == household_id).order_by(Measure.due_on, Measure.id)
    )
    return list(rows.scalars().all())


@dataclass(frozen=True)
class Proposal:
    policy_code: str
    area: str
    name_zh: str
    name_en: str
    applies_to: str
    person_ids: tuple[str, ...]


def proposals(report: EligibilityReport, measures: Sequence[Measure]) -> list[Proposal]:
    """Eligible policies not yet covered by a planned or completed measure."""
    covered = {measure.policy_code for measure in measures if measure.status != "cancelled"}
    return [
        Proposal(
            item.policy.code,
            item.policy.area,
            item.policy.name_zh,
            item.policy.name_en,
            item.eligibility.applies_to,
            item.eligibility.person_ids,
        )
        for item in report.eligible
        if item.policy.code not in covered
    ]


async def active_member_ids(session: AsyncSession, household_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.execute(sa.select(Person.id).where(Person.household_id == household_id, Person.active))
    return set(rows.scalars())
