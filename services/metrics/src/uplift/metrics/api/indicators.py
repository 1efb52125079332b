"""`/indicators`, `/indicators/{name}`, `/indicators/{name}/series` and `/dashboard`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from uplift.metrics.access import SCOPE_NOT_FOUND, MetricsReader, ensure_scope_readable
from uplift.metrics.api.dependencies import EvaluatorDep, domain_errors, scope_and_period
from uplift.metrics.api.schemas import (
    DashboardItem,
    DashboardRead,
    IndicatorDefinitionList,
    IndicatorDefinitionRead,
    IndicatorRead,
    SeriesPoint,
    SeriesRead,
)
from uplift.metrics.domain.indicators import INDICATORS
from uplift.metrics.domain.scopes import parse_scope

router = APIRouter(tags=["indicators"])

ScopeQuery = Annotated[str, Query(description="org code (district, street, community) or department:{code}")]
PeriodQuery = Annotated[str, Query(description="YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD..YYYY-MM-DD")]
CohortQuery = Annotated[str | None, Query(description="enrolment cohort (household-based indicators only)")]


@router.get("/indicators", summary="Indicator definitions")
async def list_indicators(principal: MetricsReader) -> IndicatorDefinitionList:
    return IndicatorDefinitionList(items=[IndicatorDefinitionRead.of(d) for d in INDICATORS.values()])


@router.get("/indicators/{name}", summary="One indicator for a scope and period")
async def get_indicator(
    name: str,
    principal: MetricsReader,
    evaluator: EvaluatorDep,
    scope: ScopeQuery,
    period: PeriodQuery,
    cohort: CohortQuery = None,
) -> IndicatorRead:
    parsed_scope, parsed_period = scope_and_period(scope, period)
    ensure_scope_readable(principal, parsed_scope)
    with domain_errors():
        value = await evaluator.indicator(name, parsed_scope, parsed_period, cohort)
    return IndicatorRead.of(value, cohort)


@router.get("/indicators/{name}/series", summary="An indicator month by month (or by quarter, year)")
async def get_series(
    name: str,
    principal: MetricsReader,
    evaluator: EvaluatorDep,
    scope: ScopeQuery,
    from_: Annotated[str, Query(alias="from", description="a date or period label: the first point's")],
    to: Annotated[str, Query(description="a date or period label: the last point's")],
    step: Annotated[str, Query(description="month, quarter or year")] = "month",
    cohort: CohortQuery = None,
) -> SeriesRead:
    with domain_errors():
        parsed_scope = parse_scope(scope)
    ensure_scope_readable(principal, parsed_scope)
    with domain_errors():
        values = await evaluator.series(name, parsed_scope, from_, to, step, cohort)
    return SeriesRead(
        name=name,
        scope=str(parsed_scope),
        cohort=cohort,
        step=step,
        points=[SeriesPoint.of(value) for value in values],
    )


@router.get(
    "/dashboard",
    summary="Every indicator of a scope, beside the previous period",
    responses=SCOPE_NOT_FOUND,
)
async def get_dashboard(
    principal: MetricsReader, evaluator: EvaluatorDep, scope: ScopeQuery, period: PeriodQuery
) -> DashboardRead:
    parsed_scope, parsed_period = scope_and_period(scope, period)
    ensure_scope_readable(principal, parsed_scope)
    with domain_errors():
        dashboard = await evaluator.dashboard(parsed_scope, parsed_period)
    return DashboardRead(
        scope=dashboard.scope,
        period=dashboard.period.label,
        previous_period=dashboard.previous_period.label,
        indicators=[
            DashboardItem(
                name=e.name,
                label_zh=e.label_zh,
                current=IndicatorRead.of(e.current),
                previous=IndicatorRead.of(e.previous),
            )
            for e in dashboard.entries
        ],
    )
