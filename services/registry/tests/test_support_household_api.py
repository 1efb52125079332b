"""Visits, assistance plans, the policy toolbox, alerts and the daily monitoring rules through the API,
against the real database, with authorisation (cadre, street operator, department admin)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from uplift.common.scheduler import business_today
from uplift.common.testkit import RunningService, auth, run_service, service_settings
from uplift.registry.jobs import monitoring_jobs
from uplift.registry.main import create_app
from uplift.registry.service.alerts import raise_alert

pytestmark = pytest.mark.integration

API = "/registry/v1"
ADMIN = auth("district_admin")
PII_ADMIN = auth("district_admin", perms=("pii:read",))


class World:
    """A district of its own with two streets, a department, a cadre, and households added straight into the
    household half's tables."""

    def __init__(self, svc: RunningService) -> None:
        self.svc = svc
        self.district = f"4{secrets.randbelow(10**5):05d}"
        self.streets = [f"{self.district}001", f"{self.district}002"]
        self.communities = {street: f"{street}001" for street in self.streets}
        self.department = f"V{secrets.token_hex(3).upper()}"
        self.cadre_id = ""

    async def setup(self) -> None:
        rows: list[tuple[str, str, str | None]] = [(self.district, "district", None)]
        for street in self.streets:
            rows += [(street, "street", self.district), (self.communities[street], "community", street)]
        rows.append((self.department, "department", None))
        async with self.svc.runtime.sessions() as session:
            for code, kind, parent in rows:
                await session.execute(
                    sa.text(
                        "INSERT INTO registry.org_units (code, name, kind, parent_code) VALUES (:code, 'x', :kind,"
                        " :parent) ON CONFLICT DO NOTHING"
                    ),
                    {"code": code, "kind": kind, "parent": parent},
                )
            await session.commit()
        response = await self.svc.client.post(
            f"{API}/cadres",
            json={
                "name": "干部",
                "rank": "division",
                "department_code": self.department,
                "home_street_code": self.streets[0],
            },
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text
        self.cadre_id = response.json()["id"]

    @property
    def cadre(self) -> dict[str, str]:
        return auth("cadre", cadre_id=self.cadre_id)

    async def household(
        self, street: int = 0, status: str = "enrolled", causes: tuple[str, ...] = (), income: str = "300.00", **kw: Any
    ) -> uuid.UUID:
        household_id = uuid.uuid4()
        async with self.svc.runtime.sessions() as session:
            await session.execute(
                sa.text(
                    "INSERT INTO registry.households (id, street_code, community_code, status, category, cohort,"
                    " enrolled_on, monthly_income, size, causes, zero_employment, monitoring_until)"
                    " VALUES (:id, :street, :community, :status, 'dibao', '2026-1', '2026-03-01', :income, 1,"
                    " :causes, :zero, :monitoring_until)"
                ),
                {
                    "id": household_id,
                    "street": self.streets[street],
                    "community": self.communities[self.streets[street]],
                    "status": status,
                    "income": income,
                    "causes": list(causes),
                    "zero": kw.get("zero_employment", False),
                    "monitoring_until": kw.get("monitoring_until"),
                },
            )
            await session.commit()
        return household_id

    async def person(self, household_id: uuid.UUID, born: dt.date, sex: str = "female", **values: Any) -> uuid.UUID:
        person_id = uuid.uuid4()
        row = {
            "work_ability": "full",
            "employment_status": "unemployed",
            "disability_level": 0,
            "chronic_illness": False,
            "education": "junior_high",
            "pension_insured": False,
            "medical_insured": True,
            **values,
        }
        async with self.svc.runtime.sessions() as session:
            await session.execute(
                sa.text(
                    "INSERT INTO registry.persons (id, household_id, active, member_since, relation, name_enc,"
                    " id_number_enc, id_hash, name_hash, birth_date, sex, education, work_ability,"
                    " employment_status, disability_level, chronic_illness, pension_insured, medical_insured)"
                    " VALUES (:id, :household_id, true, '2026-03-01', 'head', '\\x00', '\\x00', :id_hash, 'n',"
                    " :born, :sex, :education, :work_ability, :employment_status, :disability_level,"
                    " :chronic_illness, :pension_insured, :medical_insured)"
                ),
                {
                    "id": person_id,
                    "household_id": household_id,
                    "id_hash": secrets.token_hex(16),
                    "born": born,
                    "sex": sex,
                    **row,
                },
            )
            await session.commit()
        return person_id

    async def pair(self, household_id: uuid.UUID, started_on: str = "2026-03-01") -> None:
        response = await self.svc.client.post(
            f"{API}/pairings",
            json={
                "household_id": str(household_id),
                "helper_kind": "cadre",
                "helper_id": self.cadre_id,
                "started_on": started_on,
            },
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text


@pytest.fixture
async def svc(migrated_database_url: str, nats_url: str) -> AsyncIterator[RunningService]:
    app = create_app(service_settings("registry", migrated_database_url, nats_url))
    async with run_service(app=app) as running:
        yield running


@pytest.fixture
async def world(svc: RunningService) -> World:
    world = World(svc)
    await world.setup()
    return world


async def _events(svc: RunningService, event_type: str, **match: str) -> list[dict[str, Any]]:
    conditions = " AND ".join(f"envelope->'data'->>'{key}' = :{key}" for key in match)
    async with svc.runtime.sessions() as session:
        rows = await session.execute(
            sa.text(
                f"SELECT envelope FROM registry.outbox WHERE event_type = :type AND {conditions} ORDER BY position"
            ),
            {"type": event_type, **match},
        )
        return [row[0]["data"] for row in rows]


# ------------------------------------------------------------------------------------------------- visits


async def test_cadre_records_a_visit_of_its_paired_household_only(svc: RunningService, world: World) -> None:
    paired, other = await world.household(), await world.household()
    await world.pair(paired)
    today = business_today().isoformat()
    visit = await svc.client.post(
        f"{API}/households/{paired}/visits",
        json={"visited_on": today, "findings": "母亲住院，缺少护理", "needs": ["health", "income"], "satisfaction": 4},
        headers=world.cadre,
    )
    assert visit.status_code == 201, visit.text
    body = visit.json()
    assert body["helper"] == {"kind": "cadre", "id": world.cadre_id, "department_code": world.department}
    assert body["findings"] == "母亲住院，缺少护理" and body["needs"] == ["health", "income"]

    not_paired = await svc.client.post(
        f"{API}/households/{other}/visits", json={"visited_on": today}, headers=world.cadre
    )
    assert not_paired.status_code == 404

    events = await _events(svc, "registry.visit.recorded.v1", visit_id=body["id"])
    assert len(events) == 1
    assert events[0]["satisfaction"] == 4 and events[0]["needs"] == ["health", "income"]
    assert "findings" not in events[0] and "母亲" not in str(events[0])
    async with svc.runtime.sessions() as session:
        stored = await session.scalar(
            sa.text("SELECT findings_encrypted FROM registry.visits WHERE id = :id"), {"id": body["id"]}
        )
    assert "母亲".encode() not in bytes(stored)


async def test_visit_input_is_validated_and_nothing_is_stored(svc: RunningService, world: World) -> None:
    household = await world.household()
    tomorrow = (business_today() + dt.timedelta(days=1)).isoformat()
    cases = [
        ({"visited_on": tomorrow}, "visited_on"),
        ({"visited_on": "2026-04-01", "needs": ["spaceship"]}, "needs[0]"),
        ({"visited_on": "2026-04-01", "satisfaction": 6}, "satisfaction"),
        ({"visited_on": "2026-04-01"}, "helper_id"),  # not paired and no helper named
        ({"visited_on": "2026-04-01", "helper_kind": "cadre", "helper_id": str(uuid.uuid4())}, "helper_id"),
    ]
    for body, field in cases:
        response = await svc.client.post(f"{API}/households/{household}/visits", json=body, headers=ADMIN)
        assert response.status_code == 422, (body, response.text)
        assert field in [error["field"] for error in response.json()["errors"]], response.json()
    listed = await svc.client.get(f"{API}/visits", params={"household_id": str(household)}, headers=ADMIN)
    assert listed.json()["items"] == []


async def test_visit_lists_follow_roles_and_withhold_findings(svc: RunningService, world: World) -> None:
    household = await world.household(street=1)
    await world.pair(household)
    for day in ("2026-04-01", "2026-04-15", "2026-05-01"):
        response = await svc.client.post(
            f"{API}/households/{household}/visits", json={"visited_on": day, "findings": "ok"}, headers=ADMIN
        )
        assert response.status_code == 201
    window = await svc.client.get(
        f"{API}/visits",
        params={"helper_id": world.cadre_id, "from": "2026-04-10", "to": "2026-05-01", "limit": 1},
        headers=ADMIN,
    )
    assert [item["visited_on"] for item in window.json()["items"]] == ["2026-04-15"]
    assert window.json()["items"][0]["findings"] is None and window.json()["items"][0]["findings_withheld"] is True
    second = await svc.client.get(
        f"{API}/visits",
        params={
            "helper_id": world.cadre_id,
            "from": "2026-04-10",
            "to": "2026-05-01",
            "cursor": window.json()["next_cursor"],
        },
        headers=ADMIN,
    )
    assert [item["visited_on"] for item in second.json()["items"]] == ["2026-05-01"]
    assert second.json()["next_cursor"] is None

    department = await svc.client.get(
        f"{API}/visits", params={"household_id": str(household)}, headers=auth("department_admin", world.department)
    )
    assert len(department.json()["items"]) == 3
    foreign_department = await svc.client.get(
        f"{API}/visits", params={"household_id": str(household)}, headers=auth("department_admin", "ZZ99")
    )
    assert foreign_department.json()["items"] == []
    wrong_street = await svc.client.get(
        f"{API}/visits", params={"household_id": str(household)}, headers=auth("street_operator", world.streets[0])
    )
    assert wrong_street.json()["items"] == []
    own = await svc.client.get(f"{API}/visits", params={"household_id": str(household)}, headers=world.cadre)
    assert {item["findings"] for item in own.json()["items"]} == {"ok"}
    unmasked = await svc.client.get(f"{API}/visits", params={"household_id": str(household)}, headers=PII_ADMIN)
    assert {item["findings"] for item in unmasked.json()["items"]} == {"ok"}
    async with svc.runtime.sessions() as session:
        audited = await session.scalar(
            sa.text(
                "SELECT count(*) FROM registry.audit_log WHERE action = 'read_visit_findings'"
                " AND subject_id = ANY(:ids)"
            ),
            {"ids": [item["id"] for item in unmasked.json()["items"]]},
        )
    assert audited == 3
    assert (await svc.client.get(f"{API}/visits", headers=auth("analyst"))).status_code == 403
    assert (
        await svc.client.post(
            f"{API}/households/{household}/visits",
            json={"visited_on": "2026-04-01"},
            headers=auth("department_admin", world.department),
        )
    ).status_code == 403


# -------------------------------------------------------------------------------------------------- plans


async def test_plan_proposes_eligible_policies_and_completing_emits(svc: RunningService, world: World) -> None:
    household = await world.household(causes=("illness",), zero_employment=True)
    worker = await world.person(household, dt.date(1980, 5, 1), sex="female")
    await world.pair(household)

    plan = await svc.client.get(
        f"{API}/households/{household}/plan/measures", params={"proposed": "true"}, headers=world.cadre
    )
    assert plan.status_code == 200, plan.text
    proposed = {item["policy_code"]: item for item in plan.json()["proposed"]}
    assert proposed["employment.job_referral"]["person_ids"] == [str(worker)]
    assert proposed["health.medical_assistance"]["applies_to"] == "household"
    assert "elderly_care.old_age_allowance" not in proposed

    measure = await svc.client.post(
        f"{API}/households/{household}/plan/measures",
        json={"policy_code": "employment.job_referral", "due_on": "2026-09-30", "person_ids": [str(worker)]},
        headers=world.cadre,
    )
    assert measure.status_code == 201, measure.text
    assert measure.json()["helper"]["id"] == world.cadre_id and measure.json()["status"] == "planned"
    again = await svc.client.get(
        f"{API}/households/{household}/plan/measures", params={"proposed": "true"}, headers=ADMIN
    )
    assert "employment.job_referral" not in {item["policy_code"] for item in again.json()["proposed"]}
    assert [item["id"] for item in again.json()["items"]] == [measure.json()["id"]]

    mid = measure.json()["id"]
    done = await svc.client.post(
        f"{API}/households/{household}/plan/measures/{mid}:complete", json={}, headers=world.cadre
    )
    assert done.status_code == 200 and done.json()["status"] == "completed"
    twice = await svc.client.post(f"{API}/households/{household}/plan/measures/{mid}:complete", headers=world.cadre)
    assert twice.status_code == 409
    planned = await _events(svc, "registry.measure.planned.v1", measure_id=mid)
    completed = await _events(svc, "registry.measure.completed.v1", measure_id=mid)
    assert planned[0]["policy_code"] == "employment.job_referral" and planned[0]["due_on"] == "2026-09-30"
    assert completed[0]["completed_on"] == business_today().isoformat() and completed[0]["seq"] == 2


async def test_plan_rejects_unknown_policy_and_strangers(svc: RunningService, world: World) -> None:
    household = await world.household()
    stranger_household = await world.household()
    stranger = await world.person(stranger_household, dt.date(1990, 1, 1))
    unknown = await svc.client.post(
        f"{API}/households/{household}/plan/measures",
        json={"policy_code": "no.such", "due_on": "2026-09-30"},
        headers=ADMIN,
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "policy_code"
    strangers = await svc.client.post(
        f"{API}/households/{household}/plan/measures",
        json={"policy_code": "housing.public_rental", "due_on": "2026-09-30", "person_ids": [str(stranger)]},
        headers=ADMIN,
    )
    assert strangers.status_code == 422 and strangers.json()["errors"][0]["field"] == "person_ids"
    other_street = await svc.client.get(
        f"{API}/households/{household}/plan/measures", headers=auth("street_operator", world.streets[1])
    )
    assert other_street.status_code == 404
    unpaired_cadre = await svc.client.get(f"{API}/households/{household}/plan/measures", headers=world.cadre)
    assert unpaired_cadre.status_code == 404


# ----------------------------------------------------------------------------------------------- policies


async def test_seeded_toolbox_covers_ten_areas(svc: RunningService) -> None:
    response = await svc.client.get(f"{API}/policies", params={"limit": 500}, headers=ADMIN)
    seeded = [item for item in response.json()["items"] if "." in item["code"] and not item["code"].startswith("t")]
    assert len({item["area"] for item in seeded}) == 10
    assert len(seeded) >= 25


async def test_policy_expression_errors_name_line_and_column(svc: RunningService) -> None:
    code = f"test_{secrets.token_hex(4)}.rule"
    bad = await svc.client.post(
        f"{API}/policies",
        json={
            "code": code,
            "area": "housing",
            "name_zh": "测试",
            "name_en": "Test",
            "eligibility": "person.age >= \n  && true",
        },
        headers=ADMIN,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "eligibility"
    assert (bad.json()["line"], bad.json()["column"]) == (2, 3)
    unknown_name = await svc.client.post(
        f"{API}/policies",
        json={
            "code": code,
            "area": "housing",
            "name_zh": "测试",
            "name_en": "Test",
            "eligibility": "person.shoe_size > 40",
        },
        headers=ADMIN,
    )
    assert unknown_name.status_code == 422 and unknown_name.json()["column"] > 1
    bad_area = await svc.client.post(
        f"{API}/policies",
        json={"code": code, "area": "space", "name_zh": "测试", "name_en": "Test", "eligibility": "true"},
        headers=ADMIN,
    )
    assert bad_area.status_code == 422 and bad_area.json()["errors"][0]["field"] == "area"
    assert (await svc.client.get(f"{API}/policies/{code}", headers=ADMIN)).status_code == 404

    good = await svc.client.post(
        f"{API}/policies",
        json={"code": code, "area": "housing", "name_zh": "测试", "name_en": "Test", "eligibility": "person.age >= 60"},
        headers=ADMIN,
    )
    assert good.status_code == 201, good.text
    duplicate = await svc.client.post(
        f"{API}/policies",
        json={"code": code, "area": "housing", "name_zh": "测试", "name_en": "Test", "eligibility": "true"},
        headers=ADMIN,
    )
    assert duplicate.status_code == 409
    broken_edit = await svc.client.patch(f"{API}/policies/{code}", json={"eligibility": "person.age >="}, headers=ADMIN)
    assert broken_edit.status_code == 422
    edited = await svc.client.patch(
        f"{API}/policies/{code}", json={"eligibility": "person.age >= 65"}, headers={**ADMIN, "If-Match": '"1"'}
    )
    assert edited.status_code == 200 and edited.json()["version"] == 2
    stale = await svc.client.patch(
        f"{API}/policies/{code}", json={"active": False}, headers={**ADMIN, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert (
        await svc.client.post(f"{API}/policies", json={}, headers=auth("street_operator", "420102001"))
    ).status_code == 403
    await svc.client.patch(f"{API}/policies/{code}", json={"active": False}, headers=ADMIN)


async def test_eligible_policies_name_the_qualifying_members(svc: RunningService, world: World) -> None:
    household = await world.household(street=1)
    elder = await world.person(
        household, dt.date(1940, 1, 1), sex="male", employment_status="retired", work_ability="none"
    )
    disabled = await world.person(household, dt.date(1990, 1, 1), disability_level=2)
    response = await svc.client.get(
        f"{API}/households/{household}/eligible-policies",
        params={"on": "2026-06-01"},
        headers=auth("street_operator", world.streets[1]),
    )
    assert response.status_code == 200, response.text
    by_code = {item["code"]: item for item in response.json()["policies"]}
    assert by_code["elderly_care.old_age_allowance"]["person_ids"] == [str(elder)]
    assert by_code["disability.nursing_subsidy"]["person_ids"] == [str(disabled)]
    assert sorted(by_code["housing.accessibility_renovation"]["person_ids"]) == sorted([str(elder), str(disabled)])
    assert by_code["social_assistance.dibao_allowance"] == {
        **by_code["social_assistance.dibao_allowance"],
        "applies_to": "household",
        "person_ids": [],
    }
    hidden = await svc.client.get(
        f"{API}/households/{household}/eligible-policies", headers=auth("street_operator", world.streets[0])
    )
    assert hidden.status_code == 404


# ------------------------------------------------------------------------------------------------- alerts


async def test_alert_lifecycle_and_filters(svc: RunningService, world: World) -> None:
    household = await world.household(street=1)
    async with svc.runtime.unit_of_work() as uow:
        await raise_alert(
            uow, household, kind="income_drop", severity="high", facts={"crossed_line": True}, on=dt.date(2026, 6, 1)
        )
        await uow.commit()
    listed = await svc.client.get(
        f"{API}/alerts",
        params={"street_code": world.streets[1], "kind": "income_drop", "status": "open"},
        headers=ADMIN,
    )
    mine = [item for item in listed.json()["items"] if item["household_id"] == str(household)]
    assert len(mine) == 1 and mine[0]["facts"] == {"crossed_line": True}
    alert_id = mine[0]["id"]
    other_street = await svc.client.get(
        f"{API}/alerts", params={"household_id": str(household)}, headers=auth("street_operator", world.streets[0])
    )
    assert other_street.json()["items"] == []
    assert (
        await svc.client.post(f"{API}/alerts/{alert_id}:acknowledge", headers=auth("street_operator", world.streets[0]))
    ).status_code == 404
    operator = auth("street_operator", world.streets[1])
    acknowledged = await svc.client.post(f"{API}/alerts/{alert_id}:acknowledge", headers=operator)
    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"
    again = await svc.client.post(f"{API}/alerts/{alert_id}:acknowledge", headers=operator)
    assert again.status_code == 409 and again.json()["allowed"] == ["resolve"]
    resolved = await svc.client.post(f"{API}/alerts/{alert_id}:resolve", json={"note": "收入已恢复"}, headers=operator)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert (await svc.client.post(f"{API}/alerts/{alert_id}:resolve", headers=operator)).status_code == 409
    events = await _events(svc, "registry.alert.resolved.v1", alert_id=alert_id)
    assert len(events) == 1 and events[0]["kind"] == "income_drop" and events[0]["seq"] == 2
    bad_kind = await svc.client.get(f"{API}/alerts", params={"kind": "boredom"}, headers=ADMIN)
    assert bad_kind.status_code == 422
    assert (await svc.client.get(f"{API}/alerts", headers=auth("employer"))).status_code == 403


async def test_daily_rules_raise_overdue_visits_and_pension_gaps_once(svc: RunningService, world: World) -> None:
    day = dt.date(2026, 6, 1)
    overdue = await world.household()
    await world.pair(overdue, started_on="2026-03-01")
    visited = await world.household()
    await world.pair(visited, started_on="2026-03-01")
    response = await svc.client.post(
        f"{API}/households/{visited}/visits", json={"visited_on": "2026-05-20"}, headers=ADMIN
    )
    assert response.status_code == 201
    gap = await world.household(street=1)
    near_retirement = await world.person(gap, dt.date(1973, 1, 1), sex="female")  # 53: retires at 55
    await world.person(gap, dt.date(1990, 1, 1), sex="male")

    jobs = {job.name: job for job in monitoring_jobs}
    for _ in range(2):  # a second run on the same day changes nothing but the trigger count
        async with svc.runtime.unit_of_work() as uow:
            overdue_result = await jobs["visit_overdue"].run(uow, day)
            gap_result = await jobs["pension_gap"].run(uow, day)
            await uow.commit()
    assert overdue_result is not None and gap_result is not None
    async with svc.runtime.sessions() as session:
        rows = (
            await session.execute(
                sa.text(
                    "SELECT household_id, kind, facts, status FROM registry.alerts WHERE household_id = ANY(:ids)"
                    " ORDER BY kind"
                ),
                {"ids": [overdue, visited, gap]},
            )
        ).all()
    by_household = {(row.household_id, row.kind): row for row in rows}
    assert set(by_household) == {(overdue, "visit_overdue"), (gap, "pension_gap")}
    assert by_household[(overdue, "visit_overdue")].facts["days_without_visit"] == 92
    assert by_household[(gap, "pension_gap")].facts["members"] == [
        {"person_id": str(near_retirement), "retires_on": "2028-01-01", "sex": "female"}
    ]
    raised = await _events(svc, "registry.alert.raised.v1", household_id=str(overdue))
    assert len(raised) == 1

    # A visit today resolves the overdue alert; the next day's run leaves it resolved.
    today = business_today()
    await svc.client.post(f"{API}/households/{overdue}/visits", json={"visited_on": today.isoformat()}, headers=ADMIN)
    async with svc.runtime.sessions() as session:
        status = await session.scalar(
            sa.text("SELECT status FROM registry.alerts WHERE household_id = :id AND kind = 'visit_overdue'"),
            {"id": overdue},
        )
    assert status == "resolved"


async def test_integrators_need_the_matching_scope_and_community_workers_their_community(
    svc: RunningService, world: World
) -> None:
    household = await world.household(street=0)
    async with svc.runtime.unit_of_work() as uow:
        await raise_alert(uow, household, kind="income_drop", severity="medium", facts={}, on=dt.date(2026, 6, 1))
        await uow.commit()
    reader = auth("integrator", perms=("registry:read",))
    listed = await svc.client.get(f"{API}/alerts", params={"household_id": str(household)}, headers=reader)
    assert [item["kind"] for item in listed.json()["items"]] == ["income_drop"]
    alert_id = listed.json()["items"][0]["id"]
    assert (await svc.client.post(f"{API}/alerts/{alert_id}:acknowledge", headers=reader)).status_code == 403
    assert (
        await svc.client.get(f"{API}/alerts", headers=auth("integrator", perms=("claims:read",)))
    ).status_code == 403

    own_community = auth("community_worker", world.communities[world.streets[0]])
    other_community = auth("community_worker", world.communities[world.streets[1]])
    assert (await svc.client.get(f"{API}/alerts/{alert_id}", headers=other_community)).status_code == 404
    writer = auth("integrator", perms=("registry:write",))
    acknowledged = await svc.client.post(f"{API}/alerts/{alert_id}:acknowledge", headers=writer)
    assert acknowledged.status_code == 200
    read = await svc.client.get(f"{API}/alerts/{alert_id}", headers=own_community)
    assert read.status_code == 200 and read.json()["status"] == "acknowledged"
