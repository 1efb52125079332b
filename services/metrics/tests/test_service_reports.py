"""Assessment tables and the XLSX/CSV reports of a period."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from openpyxl import load_workbook

from uplift.common import contracts as c
from uplift.common.testkit import RunningService, auth, eventually
from uplift.metrics.sample_events import Org, Publisher, cadre, hired, new_household, visit, wait_for_indicator

pytestmark = pytest.mark.integration


async def _two_streets(publisher: Publisher, metrics: RunningService) -> tuple[Org, Org]:
    """Street A: 4 households, 2 exited, 1 hired in Q1, a satisfied visit. Street B: 2 households, none exited,
    visits without satisfaction (that component is null, so the weights are re-scaled)."""
    a, b = Org.fresh(), Org.fresh()
    helper_a, helper_b = cadre(a.department), cadre(b.department)
    street_a = [new_household(a, enrolled_on=dt.date(2025, 12, 1)) for _ in range(4)]
    street_b = [new_household(b, enrolled_on=dt.date(2025, 12, 1)) for _ in range(2)]
    events: list[c.EventPayload] = [h.enrolled() for h in street_a + street_b]
    events += [h.paired(helper_a, dt.date(2025, 12, 5)) for h in street_a]
    events += [h.paired(helper_b, dt.date(2025, 12, 5)) for h in street_b]
    events += [
        street_a[0].exited(dt.date(2026, 2, 1)),
        street_a[1].exited(dt.date(2026, 3, 1), "policy_support"),
        hired(street_a[2], dt.date(2026, 1, 15)),
        visit(street_a[2], helper_a, dt.date(2026, 3, 20), 5),
        visit(street_b[0], helper_b, dt.date(2026, 3, 20), None),
    ]
    await publisher.publish(events)
    await wait_for_indicator(metrics.client, "exit_rate", a.street, "2026-Q1", denominator=4)
    await wait_for_indicator(metrics.client, "exit_rate", b.street, "2026-Q1", denominator=2)

    async def value_of(indicator: str) -> str | None:
        response = await metrics.client.get(
            f"/metrics/v1/indicators/{indicator}",
            params={"scope": a.street, "period": "2026-Q1"},
            headers=auth("analyst"),
        )
        value: str | None = response.json()["value"]
        return value

    async def all_in() -> bool:
        # The hire comes on another stream (matching) than the households and visits (registry): wait for both.
        return await value_of("satisfaction_rate") == "1.0000" and await value_of("employment_gain_rate") == "0.2500"

    await eventually(all_in, what="the visits and the hire projected")
    return a, b


def _row(body: dict[str, Any], code: str) -> dict[str, Any]:
    return next(row for row in body["rows"] if row["code"] == code)


async def test_street_assessment_ranks_with_every_component_and_rescaled_weights(
    metrics: RunningService, publisher: Publisher
) -> None:
    a, b = await _two_streets(publisher, metrics)
    response = await metrics.client.get(
        "/metrics/v1/assessments/streets", params={"period": "2026-Q1"}, headers=auth("analyst")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["weights"] == {
        "exit_rate": "0.4",
        "employment_gain_rate": "0.3",
        "satisfaction_rate": "0.2",
        "non_relapse_rate": "0.1",
    }
    row_a, row_b = _row(body, a.street), _row(body, b.street)
    components_a = {comp["name"]: comp for comp in row_a["components"]}
    assert components_a["exit_rate"]["value"] == "0.5000"
    assert components_a["employment_gain_rate"]["value"] == "0.2500"
    assert components_a["satisfaction_rate"]["value"] == "1.0000"
    assert components_a["non_relapse_rate"]["value"] is None  # nobody under monitoring at the start of Q1
    # 0.4·0.5 + 0.3·0.25 + 0.2·1 over 0.9 of weight = 0.475 / 0.9
    assert row_a["score"] == "0.5278"
    assert components_a["exit_rate"]["effective_weight"] == "0.4444"
    assert components_a["non_relapse_rate"]["effective_weight"] is None
    # Street B: only exit_rate (0) and employment_gain_rate (0) have values.
    assert row_b["score"] == "0.0000"
    ranks = [row["code"] for row in body["rows"] if row["score"] is not None]
    assert ranks.index(a.street) < ranks.index(b.street)
    assert [row["rank"] for row in body["rows"] if row["rank"] is not None] == sorted(
        row["rank"] for row in body["rows"] if row["rank"] is not None
    )

    departments = await metrics.client.get(
        "/metrics/v1/assessments/departments", params={"period": "2026-Q1"}, headers=auth("analyst")
    )
    department_a = _row(departments.json(), a.department)
    components = {comp["name"]: comp["value"] for comp in department_a["components"]}
    # 4 paired at the end of Q1 (exits release no pairing here), 1 visited in the 30 days before 2026-03-31
    assert components["visit_compliance"] == "0.2500"
    assert components["measure_completion_rate"] is None
    assert components["exit_rate"] == "0.5000"


async def test_reports_download_as_xlsx_with_a_sheet_per_level_and_as_csv(
    metrics: RunningService, publisher: Publisher
) -> None:
    a, _ = await _two_streets(publisher, metrics)
    xlsx = await metrics.client.get("/metrics/v1/reports/2026-Q1.xlsx", headers=auth("district_admin"))
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    workbook = load_workbook(io.BytesIO(xlsx.content))
    assert workbook.sheetnames == ["区", "街道", "社区", "部门"]
    streets = workbook["街道"]
    header = [cell.value for cell in streets[1]]
    assert header[:4] == ["代码", "脱贫率", "脱贫率(分子)", "脱贫率(分母)"]
    rows = {row[0]: row for row in streets.iter_rows(min_row=2, values_only=True)}
    assert rows[a.street][1:4] == ("0.5000", "2", "4")
    assert rows[a.street][header.index("考核得分")] == "0.5278"
    assert a.communities[0] in {row[0] for row in workbook["社区"].iter_rows(min_row=2, values_only=True)}
    assert a.department in {row[0] for row in workbook["部门"].iter_rows(min_row=2, values_only=True)}

    csv_response = await metrics.client.get("/metrics/v1/reports/2026-Q1.csv", headers=auth("analyst"))
    assert csv_response.status_code == 200
    lines = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["层级", "代码", "脱贫率"]
    street_line = next(line for line in lines if line[1] == a.street)
    assert street_line[0] == "街道" and street_line[2] == "0.5000"
