"""The reference cohort (3,407 households, 999 cadres, 186 branches, 14 streets) pairs completely through
`POST /pairings:auto`, with the costs the pure min-cost flow finds, one `pairing.assigned` event per pair."""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from uplift.common.testkit import RunningService, auth, run_service, service_settings
from uplift.registry.domain.pairing import auto_pair
from uplift.registry.domain.reference_cohort import DISTRICT_CODE, PairingCohort, reference_cohort
from uplift.registry.main import create_app
from uplift.registry.models.households import Household, OrgUnit
from uplift.registry.models.support import Cadre, PartyBranch

pytestmark = pytest.mark.integration


@pytest.fixture
async def svc(migrated_database_url: str, nats_url: str) -> AsyncIterator[RunningService]:
    app = create_app(service_settings("registry", migrated_database_url, nats_url))
    async with run_service(app=app) as running:
        yield running


async def seed_cohort(svc: RunningService, cohort: PairingCohort, district: str) -> dict[str, uuid.UUID]:
    """Write the cohort into the registry's tables under `district`: one community per street, a department
    per distinct set of linked streets; returns the cohort's helper ids -> database ids."""

    def street(code: str) -> str:
        return district + code.removeprefix(DISTRICT_CODE)

    streets = sorted({street(household.street_code) for household in cohort.households})
    linked_sets = sorted({tuple(sorted(street(s) for s in helper.linked_streets)) for helper in cohort.helpers})
    tag = secrets.token_hex(2).upper()
    departments = {linked: f"R{tag}{index:03d}" for index, linked in enumerate(linked_sets)}
    org_units: list[dict[str, Any]] = [{"code": district, "name": "区", "kind": "district", "parent_code": None}]
    for code in streets:
        org_units.append({"code": code, "name": "街道", "kind": "street", "parent_code": district})
        org_units.append({"code": f"{code}001", "name": "社区", "kind": "community", "parent_code": code})
    org_units += [
        {"code": code, "name": "部门", "kind": "department", "parent_code": None, "linked_streets": list(linked)}
        for linked, code in departments.items()
    ]
    ids = {f"{helper.kind}:{helper.helper_id}": uuid.uuid4() for helper in cohort.helpers}
    cadres, branches = [], []
    for helper in cohort.helpers:
        linked = tuple(sorted(street(s) for s in helper.linked_streets))
        row_id = ids[f"{helper.kind}:{helper.helper_id}"]
        if helper.kind == "cadre":
            (home,) = helper.home_streets
            cadres.append(
                {
                    "id": row_id,
                    "name": helper.helper_id,
                    "rank": helper.rank,
                    "department_code": departments[linked],
                    "home_street_code": street(home),
                }
            )
        elif helper.home_streets and not helper.linked_streets:  # a community's branch
            (home,) = helper.home_streets
            branches.append({"id": row_id, "name": helper.helper_id, "community_code": f"{street(home)}001"})
        else:
            branches.append({"id": row_id, "name": helper.helper_id, "department_code": departments[linked]})
    households = [
        {
            "id": uuid.uuid4(),
            "street_code": street(household.street_code),
            "community_code": f"{street(household.street_code)}001",
            "status": "enrolled",
            "category": "dibao",
            "cohort": "2026-1",
            "enrolled_on": dt.date(2026, 3, 1),
        }
        for household in cohort.households
    ]
    async with svc.runtime.sessions() as session:
        for unit in org_units:
            await session.execute(sa.insert(OrgUnit).values(**{"linked_streets": [], **unit}))
        await session.execute(sa.insert(Cadre), [{**row, "active": True, "version": 1} for row in cadres])
        await session.execute(
            sa.insert(PartyBranch),
            [
                {"department_code": None, "community_code": None, **row, "active": True, "version": 1}
                for row in branches
            ],
        )
        await session.execute(sa.insert(Household), households)
        await session.commit()
    return ids


async def test_reference_cohort_pairs_completely_through_the_api(svc: RunningService) -> None:
    cohort = reference_cohort()
    expected = auto_pair(cohort.households, cohort.helpers, cohort.quotas)
    assert expected.unpaired == ()
    district = f"5{secrets.randbelow(10**5):05d}"
    ids = await seed_cohort(svc, cohort, district)
    try:
        started = time.perf_counter()
        response = await svc.client.post(
            "/registry/v1/pairings:auto", json={"scope_code": district}, headers=auth("district_admin")
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["assigned"] == 3407 and body["unpaired"] == [] and body["kept"] == 0
        assert body["by_cost"] == {str(cost): count for cost, count in expected.by_cost.items()}
        assert sum(body["by_helper_kind"].values()) == 3407
        print(f"reference cohort auto-paired through the API in {elapsed:.2f} s")
        assert elapsed < 20  # the bench measures it; this only catches a pathological slowdown

        async with svc.runtime.sessions() as session:
            loads = (
                await session.execute(
                    sa.text(
                        "SELECT p.helper_kind, c.rank, count(*) AS load FROM registry.pairings p"
                        " LEFT JOIN registry.cadres c ON c.id = p.helper_id"
                        " WHERE p.active AND p.street_code LIKE :district GROUP BY p.helper_kind, c.rank, p.helper_id"
                    ),
                    {"district": f"{district}%"},
                )
            ).all()
            quota = {"district_leader": 5, "division": 5, "section": 2, "staff": 1, None: 2}
            assert all(row.load <= quota[row.rank] for row in loads)
            events = await session.scalar(
                sa.text(
                    "SELECT count(*) FROM registry.outbox WHERE event_type = 'registry.pairing.assigned.v1'"
                    " AND envelope->'data'->>'street_code' LIKE :district"
                ),
                {"district": f"{district}%"},
            )
            assert events == 3407

        again = await svc.client.post(
            "/registry/v1/pairings:auto", json={"scope_code": district}, headers=auth("district_admin")
        )
        assert again.json()["assigned"] == 0 and again.json()["kept"] == 3407
    finally:
        # Leave no spare helper capacity behind for other tests' auto-pairing.
        async with svc.runtime.sessions() as session:
            helper_ids = list(ids.values())
            await session.execute(sa.update(Cadre).where(Cadre.id.in_(helper_ids)).values(active=False))
            await session.execute(sa.update(PartyBranch).where(PartyBranch.id.in_(helper_ids)).values(active=False))
            await session.commit()
