"""Exports of a period's indicators and assessment scores: XLSX (one sheet per scope level) and CSV.

Headers are Chinese, as the streets and departments read them; every indicator has its value, numerator and
denominator columns; streets and departments also have their assessment score and rank.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from openpyxl import Workbook

from uplift.metrics.domain.indicators import FOUR_PLACES, INDICATORS, IndicatorValue
from uplift.metrics.evaluation import Report, ReportRow

SHEETS = (("district", "区"), ("street", "街道"), ("community", "社区"), ("department", "部门"))
LEVEL_ZH = dict(SHEETS)


def _indicator_headers() -> list[str]:
    headers = []
    for definition in INDICATORS.values():
        headers += [definition.label_zh, f"{definition.label_zh}(分子)", f"{definition.label_zh}(分母)"]
    return headers


HEADERS = ["代码", *_indicator_headers(), "考核得分", "排名", "说明"]


def _plain(value: int | Decimal | None) -> str:
    if value is None:
        return ""
    return str(value)


def _cells(row: ReportRow) -> list[Any]:
    cells: list[Any] = [row.code]
    reasons = []
    for name in INDICATORS:
        value: IndicatorValue | None = row.values.get(name)
        if value is None:
            cells += ["", "", ""]  # not defined for this scope (supplementary_fund_used: district, years)
            continue
        cells += [
            "" if value.value is None else str(value.value.quantize(FOUR_PLACES)),
            _plain(value.numerator),
            _plain(value.denominator),
        ]
        if value.reason:
            reasons.append(f"{INDICATORS[name].label_zh}: {value.reason}")
    cells += ["" if row.score is None else str(row.score), "" if row.rank is None else row.rank, "; ".join(reasons)]
    return cells


def _rows_of(report: Report, level: str) -> Iterable[ReportRow]:
    return (row for row in report.rows if row.level == level)


def report_xlsx(report: Report) -> bytes:
    workbook = Workbook()
    first = True
    for level, title in SHEETS:
        sheet = workbook.active if first else workbook.create_sheet()
        assert sheet is not None
        first = False
        sheet.title = title
        sheet.append(HEADERS)
        for row in _rows_of(report, level):
            sheet.append(_cells(row))
        sheet.freeze_panes = "B2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def report_csv(report: Report) -> bytes:
    """UTF-8 with a BOM, so that spreadsheet programs read the Chinese headers right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["层级", *HEADERS])
    for level, title in SHEETS:
        for row in _rows_of(report, level):
            writer.writerow([title, *_cells(row)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
