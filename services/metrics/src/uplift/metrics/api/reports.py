"""`/reports/{period}.xlsx` and `/reports/{period}.csv`: the district's indicators and assessments."""

from __future__ import annotations

from fastapi import APIRouter, Response

from uplift.common.runtime import ReadSessionDep
from uplift.metrics.access import MetricsReader, ensure_district_wide
from uplift.metrics.api.dependencies import EvaluatorDep, domain_errors
from uplift.metrics.domain.periods import parse_period
from uplift.metrics.evaluation import Report
from uplift.metrics.reports import report_csv, report_xlsx
from uplift.metrics.weights import current_weights

router = APIRouter(prefix="/reports", tags=["reports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _report(principal: MetricsReader, evaluator: EvaluatorDep, session: ReadSessionDep, period: str) -> Report:
    ensure_district_wide(principal)
    with domain_errors():
        parsed = parse_period(period)
    stored = await current_weights(session)
    return await evaluator.report(parsed, stored.weights)


def _attachment(period: str, extension: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="metrics-{period}.{extension}"'}


@router.get("/{period}.xlsx", summary="XLSX report: one sheet per scope level", response_class=Response)
async def xlsx_report(
    period: str, principal: MetricsReader, evaluator: EvaluatorDep, session: ReadSessionDep
) -> Response:
    report = await _report(principal, evaluator, session, period)
    return Response(report_xlsx(report), media_type=XLSX, headers=_attachment(period, "xlsx"))


@router.get("/{period}.csv", summary="CSV report: every scope level, one row per scope", response_class=Response)
async def csv_report(
    period: str, principal: MetricsReader, evaluator: EvaluatorDep, session: ReadSessionDep
) -> Response:
    report = await _report(principal, evaluator, session, period)
    return Response(report_csv(report), media_type="text/csv; charset=utf-8", headers=_attachment(period, "csv"))
