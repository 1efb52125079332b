"""Who may read which metrics: analysts and admins their district, a street operator its street, a department
admin its department; a scope outside the caller's org is 404, a role with no access to metrics 403."""

from __future__ import annotations

import datetime as dt

import pytest

from uplift.common.testkit import RunningService, auth
from uplift.metrics.sample_events import Org, Publisher, cadre, new_household, wait_for_indicator

pytestmark = pytest.mark.integration


async def _status(metrics: RunningService, scope: str, headers: dict[str, str]) -> int:
    response = await metrics.client.get(
        "/metrics/v1/indicators/exit_rate", params={"scope": scope, "period": "2026"}, headers=headers
    )
    return response.status_code


async def test_each_role_reads_the_metrics_of_its_own_org_only(metrics: RunningService, publisher: Publisher) -> None:
    org = Org.fresh()
    household = new_household(org)
    await publisher.publish([household.enrolled(), household.paired(cadre(org.department), dt.date(2026, 1, 20))])
    await wait_for_indicator(metrics.client, "exit_rate", org.street, "2026", denominator=1)
    other_street = org.district + ("001" if not org.street.endswith("001") else "002")
    department = f"department:{org.department}"

    cases = [
        (auth("analyst"), org.district, 200),
        (auth("analyst", org.district), org.street, 200),
        (auth("analyst", org.district), "420199", 404),  # another district
        (auth("district_admin", org.district), department, 200),
        (auth("street_operator", org.street), org.street, 200),
        (auth("street_operator", org.street), org.communities[0], 200),
        (auth("street_operator", org.street), other_street, 404),
        (auth("street_operator", org.street), org.district, 404),
        (auth("street_operator", org.street), department, 404),
        (auth("department_admin", org.department), department, 200),
        (auth("department_admin", org.department), "department:OTHER", 404),
        (auth("department_admin", org.department), org.street, 404),
        (auth("integrator", perms=("metrics:read",)), org.street, 200),
        (auth("integrator", perms=("claims:read",)), org.street, 403),
        (auth("cadre"), org.street, 403),
        (auth("employer"), org.street, 403),
        (auth("medical_operator"), org.street, 403),
        ({}, org.street, 401),
    ]
    answers = [
        (headers.get("Authorization", "")[-8:], scope, await _status(metrics, scope, headers))
        for headers, scope, _ in cases
    ]
    assert [status for _, _, status in answers] == [expected for _, _, expected in cases]


async def test_assessment_tables_show_a_street_operator_its_street_and_a_department_admin_its_department(
    metrics: RunningService, publisher: Publisher
) -> None:
    org = Org.fresh()
    household = new_household(org)
    await publisher.publish([household.enrolled(), household.paired(cadre(org.department), dt.date(2026, 1, 20))])
    await wait_for_indicator(metrics.client, "exit_rate", org.street, "2026", denominator=1)

    streets = await metrics.client.get(
        "/metrics/v1/assessments/streets", params={"period": "2026"}, headers=auth("street_operator", org.street)
    )
    assert streets.status_code == 200
    assert [row["code"] for row in streets.json()["rows"]] == [org.street]
    departments = await metrics.client.get(
        "/metrics/v1/assessments/departments", params={"period": "2026"}, headers=auth("street_operator", org.street)
    )
    assert departments.status_code == 404

    own = await metrics.client.get(
        "/metrics/v1/assessments/departments",
        params={"period": "2026"},
        headers=auth("department_admin", org.department),
    )
    assert own.status_code == 200
    assert [row["code"] for row in own.json()["rows"]] == [org.department]
    assert (
        await metrics.client.get(
            "/metrics/v1/assessments/streets",
            params={"period": "2026"},
            headers=auth("department_admin", org.department),
        )
    ).status_code == 404


async def test_reports_are_for_district_wide_readers(metrics: RunningService) -> None:
    forbidden = await metrics.client.get("/metrics/v1/reports/2026.csv", headers=auth("street_operator", "420102001"))
    assert forbidden.status_code == 403


async def test_only_a_district_admin_sets_the_weights_and_they_must_sum_to_one(metrics: RunningService) -> None:
    weights = {
        "street": {
            "exit_rate": "0.5",
            "employment_gain_rate": "0.2",
            "satisfaction_rate": "0.2",
            "non_relapse_rate": "0.1",
        },
        "department": {
            "visit_compliance": "0.25",
            "measure_completion_rate": "0.25",
            "exit_rate": "0.25",
            "satisfaction_rate": "0.25",
        },
    }
    analyst = await metrics.client.put("/metrics/v1/assessments/weights", json=weights, headers=auth("analyst"))
    assert analyst.status_code == 403
    lopsided = {**weights, "street": {**weights["street"], "exit_rate": "0.6"}}
    invalid = await metrics.client.put("/metrics/v1/assessments/weights", json=lopsided, headers=auth("district_admin"))
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "street"

    before = (await metrics.client.get("/metrics/v1/assessments/weights", headers=auth("analyst"))).json()
    stored = await metrics.client.put("/metrics/v1/assessments/weights", json=weights, headers=auth("district_admin"))
    assert stored.status_code == 200
    assert stored.json()["version"] == before["version"] + 1
    now = (await metrics.client.get("/metrics/v1/assessments/weights", headers=auth("analyst"))).json()
    assert now["street"]["exit_rate"] == "0.5"
    assert now["department"]["visit_compliance"] == "0.25"
    # Back to the defaults, so the other tests see the table of DOMAIN.md.
    defaults = {
        "street": {
            "exit_rate": "0.4",
            "employment_gain_rate": "0.3",
            "satisfaction_rate": "0.2",
            "non_relapse_rate": "0.1",
        },
        "department": {
            "visit_compliance": "0.3",
            "measure_completion_rate": "0.3",
            "exit_rate": "0.2",
            "satisfaction_rate": "0.2",
        },
    }
    restored = await metrics.client.put(
        "/metrics/v1/assessments/weights", json=defaults, headers=auth("district_admin")
    )
    assert restored.status_code == 200
