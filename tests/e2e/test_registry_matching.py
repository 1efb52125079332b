"""End to end, registry ⇄ matching through NATS: a person enrolled in the registry becomes a seeker in matching,
and a hire recorded in matching travels back to the registry (employment, household income).

Both services run in this test (`run_service`) on the shared migrated database and NATS; everything between them
goes outbox → relay → JetStream → consumer, exactly as in production.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from stdnum.cn import ric

from uplift.common.testkit import RunningService, auth, eventually, run_service, service_settings
from uplift.matching.main import create_app as create_matching_app
from uplift.registry.main import create_app as create_registry_app

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DISTRICT = "420102"
ADMIN = auth("district_admin", perms=("pii:read",))


def id_number(born: dt.date) -> str:
    """A valid ID number of a man born on `born` (GB 11643 check digit), drawn at random."""
    body = f"42{random.randrange(0, 9999):04d}{born:%Y%m%d}{random.randrange(0, 499) * 2 + 1:03d}"
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture(scope="module")
async def services(migrated_database_url: str, nats_url: str) -> AsyncIterator[tuple[RunningService, RunningService]]:
    registry_app = create_registry_app(service_settings("registry", migrated_database_url, nats_url))
    matching_app = create_matching_app(service_settings("matching", migrated_database_url, nats_url))
    async with run_service(app=registry_app) as registry, run_service(app=matching_app) as matching:
        yield registry, matching


async def ensure_org(registry: RunningService, code: str, kind: str, parent: str | None) -> None:
    response = await registry.client.post(
        "/registry/v1/org-units",
        json={"code": code, "name": f"{kind} {code}", "kind": kind, "parent_code": parent},
        headers=ADMIN,
    )
    assert response.status_code in (201, 409), response.text


async def test_an_enrolled_person_becomes_a_seeker_and_a_hire_travels_back_to_the_registry(
    services: tuple[RunningService, RunningService],
) -> None:
    registry, matching = services
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    street = f"{DISTRICT}{random.randrange(100, 999)}"
    community = street + "001"
    await ensure_org(registry, DISTRICT, "district", None)
    await ensure_org(registry, street, "street", DISTRICT)
    await ensure_org(registry, community, "community", street)

    # 1. The registry enrols a household of one unemployed working-age man with a cleaning skill.
    member = {
        "name": "李建国",
        "id_number": id_number(dt.date(1982, 4, 9)),
        "relation": "head",
        "work_ability": "full",
        "employment_status": "unemployed",
        "disability_level": 0,
        "education": "junior_high",
        "skills": ["cleaning"],
        "pension_insured": False,
        "medical_insured": True,
        "phone": "13812345678",
    }
    enrolment = {
        "community_code": community,
        "address": "武汉市江岸区大智路12号3栋",
        "category": "dibao",
        "monthly_income": "300.00",
        "dibao_monthly": "600.00",
        "causes": ["unemployment"],
        "cohort": "2026-1",
        "enrolled_on": (today - dt.timedelta(days=60)).isoformat(),
        "members": [member],
    }
    enrolled = await registry.client.post("/registry/v1/households", json=enrolment, headers=ADMIN)
    assert enrolled.status_code == 201, enrolled.text
    household_id = enrolled.json()["id"]
    person_id = enrolled.json()["person_ids"][0]

    # 2. Through REGISTRY events, matching knows him as a seeker of a zero-employment household.
    seeker: dict[str, Any] = {}

    async def projected() -> bool:
        response = await matching.client.get(f"/matching/v1/seekers/{person_id}", headers=ADMIN)
        seeker.update(response.json() if response.status_code == 200 else {})
        return response.status_code == 200

    await eventually(projected, timeout=30, what="the enrolled person projected as a seeker in matching")
    assert seeker["household_id"] == household_id
    assert seeker["street_code"] == street and seeker["household_status"] == "enrolled"
    assert seeker["zero_employment_household"] is True and seeker["skills"] == ["cleaning"]
    assert seeker["age"] == today.year - 1982

    # 3. Matching recommends a cleaning job in his street; he applies, is interviewed and hired at 3000.00.
    employer = await matching.client.post(
        "/matching/v1/employers", json={"name": "大智物业", "street_code": street}, headers=ADMIN
    )
    posting = await matching.client.post(
        "/matching/v1/postings",
        json={
            "employer_id": employer.json()["id"],
            "occupation": "保洁员",
            "essential_skills": ["cleaning"],
            "monthly_wage": "3000.00",
            "weekly_hours": 40,
            "street_code": street,
            "openings": 2,
            "valid_from": (today - dt.timedelta(days=10)).isoformat(),
        },
        headers=ADMIN,
    )
    assert posting.status_code == 201, posting.text
    posting_id = posting.json()["id"]
    recommended = await matching.client.get(
        f"/matching/v1/seekers/{person_id}/recommendations", params={"limit": 200}, headers=ADMIN
    )
    assert posting_id in {item["posting_id"] for item in recommended.json()["items"]}

    applied = await matching.client.post(
        "/matching/v1/applications", json={"person_id": person_id, "posting_id": posting_id}, headers=ADMIN
    )
    assert applied.status_code == 201, applied.text
    application_url = f"/matching/v1/applications/{applied.json()['id']}:transition"
    for to in ("interviewed", "hired"):
        moved = await matching.client.post(
            application_url, json={"to": to, "on": today.isoformat(), "monthly_wage": "3000.00"}, headers=ADMIN
        )
        assert moved.status_code == 200, moved.text

    # 4. matching.placement.hired reaches the registry: he is employed and the wage joins the household income.
    household: dict[str, Any] = {}

    async def income_updated() -> bool:
        response = await registry.client.get(f"/registry/v1/households/{household_id}", headers=ADMIN)
        household.update(response.json())
        return response.status_code == 200 and household.get("monthly_income") == "3300.00"

    await eventually(income_updated, timeout=30, what="the hire reflected in the registry household")
    assert household["members"][0]["employment_status"] == "employed"
    assert household["zero_employment"] is False

    # 5. ...and the registry's person.updated comes back: matching no longer counts a zero-employment household.
    async def employed_in_matching() -> bool:
        response = await matching.client.get(f"/matching/v1/seekers/{person_id}", headers=ADMIN)
        body = response.json()
        return body.get("employment_status") == "employed" and body.get("zero_employment_household") is False

    await eventually(employed_in_matching, timeout=30, what="the registry's update projected back into matching")
