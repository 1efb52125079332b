"""Org scope, on real resources: a caller the operation is open to, but whose org (street, community, cadre pairing,
employer) does not cover the resource, gets 404 exactly like a resource that does not exist — read or write — while
the same role inside the scope gets the resource. Complements test_matrix.py, whose random ids are all 404.
"""

from __future__ import annotations

import datetime as dt
import importlib
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from stdnum.cn import ric

from uplift.common.testkit import RunningService, auth, run_service, service_settings

pytestmark = pytest.mark.integration

DISTRICT = "420102"
ADMIN = auth("district_admin", DISTRICT, ("pii:read",))


def id_number(born: dt.date) -> str:
    """A valid ID number (GB 11643 check digit) of someone born on `born`, drawn at random."""
    body = f"42{random.randrange(0, 9999):04d}{born:%Y%m%d}{random.randrange(0, 499) * 2 + 1:03d}"
    return body + ric.calc_check_digit(body + "0")


@dataclass(frozen=True)
class World:
    registry: RunningService
    matching: RunningService
    metrics: RunningService
    street: str
    community: str
    other_street: str
    other_community: str
    household_id: str
    employer_id: str


async def ensure_org(registry: RunningService, code: str, kind: str, parent: str | None) -> None:
    response = await registry.client.post(
        "/registry/v1/org-units",
        json={"code": code, "name": f"{kind} {code}", "kind": kind, "parent_code": parent},
        headers=ADMIN,
    )
    assert response.status_code in (201, 409), response.text


@pytest.fixture(scope="module")
async def world(migrated_database_url: str, nats_url: str) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        running: dict[str, RunningService] = {}
        for service in ("registry", "matching", "metrics"):
            main = importlib.import_module(f"uplift.{service}.main")
            app = main.create_app(service_settings(service, migrated_database_url, nats_url))
            running[service] = await stack.enter_async_context(run_service(app=app))
        registry = running["registry"]
        street, other_street = random.sample([f"{DISTRICT}{n:03d}" for n in range(100, 999)], 2)
        community, other_community = street + "001", other_street + "001"
        await ensure_org(registry, DISTRICT, "district", None)
        for code in (street, other_street):
            await ensure_org(registry, code, "street", DISTRICT)
            await ensure_org(registry, code + "001", "community", code)
        member = {
            "name": "王秀英",
            "id_number": id_number(dt.date(1975, 6, 3)),
            "relation": "head",
            "work_ability": "full",
            "employment_status": "unemployed",
            "disability_level": 0,
            "education": "junior_high",
            "skills": ["cleaning"],
            "pension_insured": False,
            "medical_insured": True,
        }
        enrolment = {
            "community_code": community,
            "address": "武汉市江岸区大智路8号",
            "category": "dibao",
            "monthly_income": "300.00",
            "dibao_monthly": "600.00",
            "causes": ["illness"],
            "cohort": "2026-1",
            "enrolled_on": "2026-03-01",
            "members": [member],
        }
        enrolled = await registry.client.post("/registry/v1/households", json=enrolment, headers=ADMIN)
        assert enrolled.status_code == 201, enrolled.text
        employer = await running["matching"].client.post(
            "/matching/v1/employers", json={"name": "江岸保洁", "street_code": street}, headers=ADMIN
        )
        assert employer.status_code == 201, employer.text
        yield World(
            registry=registry,
            matching=running["matching"],
            metrics=running["metrics"],
            street=street,
            community=community,
            other_street=other_street,
            other_community=other_community,
            household_id=enrolled.json()["id"],
            employer_id=employer.json()["id"],
        )


def household_callers(world: World) -> dict[str, tuple[dict[str, str], bool]]:
    """name -> (headers, in scope of the household)."""
    return {
        "street_operator of its street": (auth("street_operator", world.street), True),
        "community_worker of its community": (auth("community_worker", world.community), True),
        "street_operator of another street": (auth("street_operator", world.other_street), False),
        "community_worker of another community": (auth("community_worker", world.other_community), False),
        "community_worker of another community in its street": (
            auth("community_worker", world.street + "002"),
            False,
        ),
        "cadre not paired with it": (auth("cadre", world.street, cadre_id=str(uuid.uuid4())), False),
    }


HOUSEHOLD_READS = ("", "/history", "/rewards", "/plan/measures", "/eligible-policies")
CALLER_NAMES = (
    "street_operator of its street",
    "community_worker of its community",
    "street_operator of another street",
    "community_worker of another community",
    "community_worker of another community in its street",
    "cadre not paired with it",
)
# Operations the cadre may not call at all (403 by the matrix), so its scope says nothing there.
CADRE_CANNOT = ("PATCH", "exit")


@pytest.mark.parametrize("suffix", HOUSEHOLD_READS, ids=[f"GET households/{{id}}{s}" for s in HOUSEHOLD_READS])
@pytest.mark.parametrize("caller", CALLER_NAMES)
async def test_a_household_read_outside_the_callers_scope_is_404(world: World, suffix: str, caller: str) -> None:
    headers, in_scope = household_callers(world)[caller]
    response = await world.registry.client.get(f"/registry/v1/households/{world.household_id}{suffix}", headers=headers)
    if in_scope:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 404, f"{caller}: {response.status_code} {response.text}"


@pytest.mark.parametrize("caller", [name for name in CALLER_NAMES if not name.startswith("cadre")])
async def test_a_household_write_outside_the_callers_scope_is_404(world: World, caller: str) -> None:
    headers, in_scope = household_callers(world)[caller]
    current = await world.registry.client.get(f"/registry/v1/households/{world.household_id}", headers=ADMIN)
    assert current.status_code == 200, current.text
    # An update with the current version: in scope it succeeds; outside it is 404, never a 412/428 that would tell.
    response = await world.registry.client.patch(
        f"/registry/v1/households/{world.household_id}",
        json={"address": "武汉市江岸区大智路8号"},
        headers={**headers, "If-Match": current.headers["ETag"]},
    )
    if in_scope:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 404, f"{caller}: {response.status_code} {response.text}"


@pytest.mark.parametrize("caller", CALLER_NAMES)
async def test_a_household_list_never_shows_a_household_outside_the_callers_scope(world: World, caller: str) -> None:
    headers, in_scope = household_callers(world)[caller]
    response = await world.registry.client.get(
        "/registry/v1/households", params={"community_code": world.community, "limit": 200}, headers=headers
    )
    assert response.status_code in (200, 404), response.text
    listed = {item["id"] for item in response.json().get("items", [])} if response.status_code == 200 else set()
    assert (world.household_id in listed) == in_scope, f"{caller}: {response.text[:300]}"


@pytest.mark.parametrize("own", [True, False], ids=["its own employer", "another employer"])
async def test_an_employer_sees_and_changes_only_its_own_record(world: World, own: bool) -> None:
    employer_id = world.employer_id if own else str(uuid.uuid4())
    headers = auth("employer", employer_id=employer_id)
    read = await world.matching.client.get(f"/matching/v1/employers/{world.employer_id}", headers=headers)
    current = await world.matching.client.get(f"/matching/v1/employers/{world.employer_id}", headers=ADMIN)
    update = await world.matching.client.patch(
        f"/matching/v1/employers/{world.employer_id}",
        json={"description": "保洁、绿化"},
        headers={**headers, "If-Match": current.headers["ETag"]},
    )
    expected = 200 if own else 404
    assert read.status_code == expected, read.text
    assert update.status_code == expected, update.text


async def indicator_name(world: World) -> str:
    response = await world.metrics.client.get("/metrics/v1/indicators", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: Any = response.json()
    items = body["items"] if isinstance(body, dict) else body
    return str(items[0]["name"])


@pytest.mark.parametrize("own", [True, False], ids=["its own street", "another street"])
async def test_a_street_operator_reads_the_metrics_of_its_street_only(world: World, own: bool) -> None:
    name = await indicator_name(world)
    scope = world.street if own else world.other_street
    response = await world.metrics.client.get(
        f"/metrics/v1/indicators/{name}",
        params={"scope": scope, "period": "2026"},
        headers=auth("street_operator", world.street),
    )
    assert response.status_code == (200 if own else 404), response.text
