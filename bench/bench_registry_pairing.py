"""Benchmark of auto-pairing (党员包户): the reference cohort and a 50,000-household district.

1. pure — `domain.pairing.auto_pair` (the min-cost flow and the assignment of households to helpers), no I/O;
   best of a few runs.
2. api — `POST /registry/v1/pairings:auto` on the registry app (in-process, httpx over ASGI, every platform
   middleware) against PostgreSQL holding the cohort: reading the unpaired households and the helpers with their
   loads, solving, the bulk insert of the pairings and one `registry.pairing.assigned` outbox row per pair, in
   one transaction, timed end to end. For the reference cohort also the daily `visit_overdue` rule with every
   household overdue (3,407 alerts raised), and its second run (facts refreshed, nothing new).

The database is an embedded PostgreSQL in a temp folder (or BENCH_DATABASE_URL's server, with a fresh database
when allowed). The relay, consumers and scheduler are off (no NATS needed): the outbox rows are still written.

    uv run python bench/bench_registry_pairing.py [--district 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import secrets
import time
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from uplift.common.app import running
from uplift.common.auth import mint_token
from uplift.common.embedded import (
    scratch_database,
)
from uplift.common.testkit import service_settings
from uplift.registry.domain.pairing import auto_pair
from uplift.registry.domain.reference_cohort import DISTRICT_CODE, REFERENCE_HOUSEHOLDS, PairingCohort, reference_cohort
from uplift.registry.main import create_app
from uplift.registry.models.households import Household, OrgUnit
from uplift.registry.models.support import Cadre, PartyBranch
from uplift.registry.service.alerts import visit_overdue_job


def bench_pure(cohort: PairingCohort, repeats: int) -> dict[str, Any]:
    timings = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = auto_pair(cohort.households, cohort.helpers, cohort.quotas)
        timings.append(time.perf_counter() - started)
    assert result is not None
    return {
        "households": len(cohort.households),
        "helpers": len(cohort.helpers),
        "seconds": round(min(timings), 4),
        "assigned": len(result.assigned),
        "unpaired": len(result.unpaired),
        "by_cost": {str(cost): count for cost, count in result.by_cost.items()},
    }


def database() -> contextlib.AbstractContextManager[str]:
    """A database URL (asyncpg form): BENCH_DATABASE_URL's server, or an embedded PostgreSQL."""
    return scratch_database("bench_registry")


async def seed(sessions: Any, cohort: PairingCohort, district: str) -> None:
    """The cohort under `district`: a community per street, a department per distinct set of linked streets."""

    def street(code: str) -> str:
        return district + code.removeprefix(DISTRICT_CODE)

    streets = sorted({street(household.street_code) for household in cohort.households})
    linked_sets = sorted({tuple(sorted(street(s) for s in helper.linked_streets)) for helper in cohort.helpers})
    departments = {linked: f"B{district}{index:04d}" for index, linked in enumerate(linked_sets)}
    units: list[dict[str, Any]] = [{"code": district, "name": "区", "kind": "district", "parent_code": None}]
    for code in streets:
        units.append({"code": code, "name": "街道", "kind": "street", "parent_code": district})
        units.append({"code": f"{code}001", "name": "社区", "kind": "community", "parent_code": code})
    units += [
        {"code": code, "name": "部门", "kind": "department", "parent_code": None, "linked_streets": list(linked)}
        for linked, code in departments.items()
    ]
    cadres, branches = [], []
    for helper in cohort.helpers:
        linked = tuple(sorted(street(s) for s in helper.linked_streets))
        if helper.kind == "cadre":
            (home,) = helper.home_streets
            cadres.append(
                {
                    "id": uuid.uuid4(),
                    "name": helper.helper_id,
                    "rank": helper.rank,
                    "department_code": departments[linked],
                    "home_street_code": street(home),
                    "active": True,
                    "version": 1,
                }
            )
        else:
            is_community_branch = bool(helper.home_streets) and not helper.linked_streets
            community = f"{street(min(helper.home_streets))}001" if is_community_branch else None
            branches.append(
                {
                    "id": uuid.uuid4(),
                    "name": helper.helper_id,
                    "community_code": community,
                    "department_code": None if community else departments[linked],
                    "active": True,
                    "version": 1,
                }
            )
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
    async with sessions() as session:
        for unit in units:
            await session.execute(sa.insert(OrgUnit).values(**{"linked_streets": [], **unit}))
        await session.execute(sa.insert(Cadre), cadres)
        await session.execute(sa.insert(PartyBranch), branches)
        for start in range(0, len(households), 10_000):
            await session.execute(sa.insert(Household), households[start : start + 10_000])
        await session.commit()


async def bench_api(database_url: str, cohorts: dict[str, PairingCohort]) -> dict[str, Any]:
    settings = service_settings(
        "registry",
        database_url,
        "nats://127.0.0.1:9",
        relay_enabled=False,
        consumers_enabled=False,
        scheduler_enabled=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    token = mint_token("district_admin")
    results: dict[str, Any] = {}
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client:
            for number, (name, cohort) in enumerate(cohorts.items(), start=1):
                district = f"4{number:02d}{secrets.randbelow(1000):03d}"
                seed_started = time.perf_counter()
                await seed(app.state.runtime.sessions, cohort, district)
                seeded = time.perf_counter() - seed_started
                started = time.perf_counter()
                response = await client.post(
                    "/registry/v1/pairings:auto",
                    json={"scope_code": district},
                    headers={"Authorization": f"Bearer {token}"},
                )
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                body = response.json()
                results[name] = {
                    "households": len(cohort.households),
                    "seconds": round(elapsed, 3),
                    "assigned": body["assigned"],
                    "unpaired": len(body["unpaired"]),
                    "by_helper_kind": body["by_helper_kind"],
                    "seed_seconds": round(seeded, 2),
                }
                if len(cohort.households) <= REFERENCE_HOUSEHOLDS:
                    results[name]["visit_overdue_job"] = await time_overdue_job(app)
    return results


async def time_overdue_job(app: Any) -> dict[str, Any]:
    """The daily visit_overdue rule 60 days after pairing (every household overdue), then again the next day
    (every alert already open: facts refreshed, nothing newly raised)."""
    runtime = app.state.runtime
    timings = []
    outcome: dict[str, Any] | None = None
    for offset in (60, 61):
        day = dt.date.today() + dt.timedelta(days=offset)
        started = time.perf_counter()
        async with runtime.unit_of_work() as uow:
            outcome = await visit_overdue_job(uow, day)
            await uow.commit()
        timings.append(round(time.perf_counter() - started, 3))
    return {"first_run_seconds": timings[0], "second_run_seconds": timings[1], "last_outcome": outcome}


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--district", type=int, default=50_000, help="households of the large district")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cohorts = {
        "reference_cohort": reference_cohort(),
        f"district_{args.district}": reference_cohort(households=args.district),
    }
    result: dict[str, Any] = {
        "pure": {name: bench_pure(cohort, args.repeats) for name, cohort in cohorts.items()},
        "reference_households": REFERENCE_HOUSEHOLDS,
    }
    from uplift.common.migrations import upgrade_all

    with database() as database_url:
        upgrade_all(database_url, ("registry",))
        result["api"] = asyncio.run(bench_api(database_url, cohorts))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
