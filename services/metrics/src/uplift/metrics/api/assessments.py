"""双责任考核: `/assessments/streets`, `/assessments/departments` and `/assessments/weights`."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, ValidationError

from uplift.common.auth import Principal
from uplift.common.errors import FieldError, NotFound, Unprocessable
from uplift.common.runtime import ReadSessionDep, UnitOfWorkDep
from uplift.metrics.access import NOT_FOUND_DETAIL, SCOPE_NOT_FOUND, DistrictAdmin, MetricsReader, may_read_scope
from uplift.metrics.api.dependencies import EvaluatorDep, domain_errors
from uplift.metrics.api.schemas import AssessmentRead, WeightsRead
from uplift.metrics.domain.assessment import Assessment, AssessmentKind, AssessmentRow, Weights
from uplift.metrics.domain.periods import parse_period
from uplift.metrics.weights import StoredWeights, current_weights, store_weights

router = APIRouter(prefix="/assessments", tags=["assessments"])

PeriodQuery = Annotated[str, Query(description="YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD..YYYY-MM-DD")]


def _rows_for(principal: Principal, assessment: Assessment) -> list[AssessmentRow]:
    """The rows the caller may read: all for district-wide readers, else its own street or department (a
    street operator has no department table, a department admin no street table: 404)."""
    if not principal.is_district_wide:
        if assessment.kind is AssessmentKind.STREET and principal.division_code is None:
            raise NotFound(NOT_FOUND_DETAIL)
        if assessment.kind is AssessmentKind.DEPARTMENT and principal.department_code is None:
            raise NotFound(NOT_FOUND_DETAIL)
    prefix = "department:" if assessment.kind is AssessmentKind.DEPARTMENT else ""
    return [row for row in assessment.rows if may_read_scope(principal, prefix + row.code)]


@router.get("/streets", summary="Streets ranked by their assessment score", responses=SCOPE_NOT_FOUND)
async def street_assessment(
    principal: MetricsReader, evaluator: EvaluatorDep, session: ReadSessionDep, period: PeriodQuery
) -> AssessmentRead:
    with domain_errors():
        parsed = parse_period(period)
    stored = await current_weights(session)
    with domain_errors():
        assessment = await evaluator.street_assessment(parsed, stored.weights)
    return AssessmentRead.of(assessment, _rows_for(principal, assessment), stored.weights, stored.version)


@router.get("/departments", summary="Departments ranked by their assessment score", responses=SCOPE_NOT_FOUND)
async def department_assessment(
    principal: MetricsReader, evaluator: EvaluatorDep, session: ReadSessionDep, period: PeriodQuery
) -> AssessmentRead:
    with domain_errors():
        parsed = parse_period(period)
    stored = await current_weights(session)
    with domain_errors():
        assessment = await evaluator.department_assessment(parsed, stored.weights)
    return AssessmentRead.of(assessment, _rows_for(principal, assessment), stored.weights, stored.version)


class WeightsWrite(BaseModel):
    """Every component of both tables, non-negative, each table summing to 1."""

    model_config = ConfigDict(extra="forbid")

    street: dict[str, Decimal]
    department: dict[str, Decimal]


def _read(stored: StoredWeights) -> WeightsRead:
    return WeightsRead(
        version=stored.version,
        street={name: str(w) for name, w in stored.weights.street.items()},
        department={name: str(w) for name, w in stored.weights.department.items()},
        set_by=stored.set_by,
        set_at=stored.set_at.isoformat() if stored.set_at else None,
    )


@router.get("/weights", summary="The assessment weights in force")
async def get_weights(principal: MetricsReader, session: ReadSessionDep) -> WeightsRead:
    return _read(await current_weights(session))


@router.put("/weights", summary="Set the assessment weights (a new version)")
async def put_weights(body: WeightsWrite, principal: DistrictAdmin, uow: UnitOfWorkDep) -> WeightsRead:
    try:
        weights = Weights(street=body.street, department=body.department)
    except ValidationError as exc:
        errors = [FieldError(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        raise Unprocessable("The weights are not valid.", errors=errors) from None
    stored = await store_weights(uow.session, weights, set_by=principal.sub)
    await uow.commit()
    return _read(stored)
