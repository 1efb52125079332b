"""Org units, households, persons, lifecycle, parameters and the audit log over HTTP, against PostgreSQL.

Tests share one database with other modules: each creates its own street and community and filters by its ids.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from stdnum.cn import ric

from uplift.common.testkit import RunningService, auth, run_service, service_settings
from uplift.registry.main import create_app

pytestmark = pytest.mark.integration

DISTRICT = "420102"
ADMIN = auth("district_admin", perms=("pii:read",))
ADMIN_MASKED = auth("district_admin")


ISSUED: set[str] = set()


def id_number(born: dt.date, *, female: bool = False) -> str:
    """A valid ID number (GB 11643 check digit) born on `born`, unique in this run (region drawn at random)."""
    while True:
        region = f"42{random.randrange(0, 9999):04d}"
        sequence = random.randrange(0, 998)
        if (sequence % 2 == 0) != female:
            sequence += 1
        body = f"{region}{born:%Y%m%d}{sequence:03d}"
        number = body + ric.calc_check_digit(body + "0")
        if number not in ISSUED:
            ISSUED.add(number)
            return number


def member(
    relation: str = "head", *, born: dt.date = dt.date(1980, 1, 1), female: bool = False, **changes: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "张三",
        "id_number": id_number(born, female=female),
        "relation": relation,
        "work_ability": "full",
        "employment_status": "unemployed",
        "disability_level": 0,
        "education": "junior_high",
        "skills": ["cleaning"],
        "pension_insured": False,
        "medical_insured": True,
        "phone": "13812345678",
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
async def registry(migrated_database_url: str, nats_url: str) -> AsyncIterator[RunningService]:
    app = create_app(service_settings("registry", migrated_database_url, nats_url))
    async with run_service(app=app) as running:
        yield running


@pytest.fixture(scope="module")
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(migrated_database_url)
    yield engine
    await engine.dispose()


async def ensure_org(registry: RunningService, code: str, kind: str, parent: str | None) -> None:
    response = await registry.client.post(
        "/registry/v1/org-units",
        json={"code": code, "name": f"{kind} {code}", "kind": kind, "parent_code": parent},
        headers=ADMIN,
    )
    assert response.status_code in (201, 409), response.text


@pytest.fixture(scope="module")
async def place(registry: RunningService) -> dict[str, str]:
    """A fresh street with two communities, and another street with one."""
    await ensure_org(registry, DISTRICT, "district", None)
    streets = random.sample(range(100, 999), 2)
    place = {
        "street": f"{DISTRICT}{streets[0]}",
        "other_street": f"{DISTRICT}{streets[1]}",
    }
    place["community"] = place["street"] + "001"
    place["community2"] = place["street"] + "002"
    place["other_community"] = place["other_street"] + "001"
    for street in (place["street"], place["other_street"]):
        await ensure_org(registry, street, "street", DISTRICT)
    for community in (place["community"], place["community2"], place["other_community"]):
        await ensure_org(registry, community, "community", community[:9])
    return place


def household_body(community: str, *members: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "community_code": community,
        "address": "武汉市江岸区大智路12号3栋",
        "category": "dibao",
        "monthly_income": "300.00",
        "dibao_monthly": "600.00",
        "causes": ["illness"],
        "cohort": "2026-1",
        "enrolled_on": "2026-03-01",
        "members": list(members) or [member()],
    }
    body.update(changes)
    return body


async def enrol(registry: RunningService, body: dict[str, Any], headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    response = await registry.client.post("/registry/v1/households", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# --- org units --------------------------------------------------------------------------------------------------


async def test_org_unit_codes_parents_and_duplicates(registry: RunningService, place: dict[str, str]) -> None:
    client = registry.client
    duplicate = await client.post(
        "/registry/v1/org-units",
        json={"code": place["street"], "name": "again", "kind": "street", "parent_code": DISTRICT},
        headers=ADMIN,
    )
    assert duplicate.status_code == 409

    wrong_prefix = await client.post(
        "/registry/v1/org-units",
        json={"code": "420103001", "name": "x", "kind": "street", "parent_code": DISTRICT},
        headers=ADMIN,
    )
    assert wrong_prefix.status_code == 422
    assert wrong_prefix.json()["errors"][0]["field"] == "parent_code"

    bad_code = await client.post(
        "/registry/v1/org-units",
        json={"code": "4201020", "name": "x", "kind": "street", "parent_code": DISTRICT},
        headers=ADMIN,
    )
    assert bad_code.status_code == 422
    assert bad_code.json()["errors"][0]["field"] == "code"

    department_code = f"D{random.randrange(10000, 99999)}"
    department = await client.post(
        "/registry/v1/org-units",
        json={
            "code": department_code,
            "name": "区民政局",
            "kind": "department",
            "parent_code": DISTRICT,
            "linked_streets": [place["street"]],
        },
        headers=ADMIN,
    )
    assert department.status_code == 201, department.text
    assert department.json()["linked_streets"] == [place["street"]]

    unknown_linked = await client.post(
        "/registry/v1/org-units",
        json={"code": "DX-1", "name": "x", "kind": "department", "linked_streets": ["420102998"]},
        headers=ADMIN,
    )
    assert unknown_linked.status_code == 422
    assert unknown_linked.json()["errors"][0]["field"] == "linked_streets[0]"

    read = await client.get(f"/registry/v1/org-units/{place['community']}", headers=auth("analyst"))
    assert read.status_code == 200
    assert read.json()["parent_code"] == place["street"]
    children = await client.get(
        "/registry/v1/org-units",
        params={"parent_code": place["street"]},
        headers=auth("street_operator", place["street"]),
    )
    assert [unit["code"] for unit in children.json()["items"]] == [place["community"], place["community2"]]

    by_operator = await client.post(
        "/registry/v1/org-units",
        json={"code": place["street"] + "009", "name": "x", "kind": "community", "parent_code": place["street"]},
        headers=auth("street_operator", place["street"]),
    )
    assert by_operator.status_code == 403


# --- enrolment, reads, masking, audit ---------------------------------------------------------------------------


async def test_enrolment_reads_masked_and_unmasked_with_audit(
    registry: RunningService, place: dict[str, str], engine: AsyncEngine
) -> None:
    head = member(name="张三丰", born=dt.date(1980, 5, 17))
    child = member("child", name="张小明", born=dt.date(2010, 9, 1), employment_status="student", phone=None)
    created = await enrol(registry, household_body(place["community"], head, child))
    household_id = created["id"]
    assert len(created["person_ids"]) == 2

    operator = auth("street_operator", place["street"])
    masked = await registry.client.get(f"/registry/v1/households/{household_id}", headers=operator)
    assert masked.status_code == 200
    body = masked.json()
    assert body["pii_masked"] is True
    assert body["street_code"] == place["street"]
    assert body["size"] == 2
    assert body["monthly_income"] == "300.00"
    assert body["per_capita_income"] == "150.00"
    assert body["status"] == "enrolled"
    assert body["zero_employment"] is True
    names = {m["relation"]: m for m in body["members"]}
    assert names["head"]["name"] == "张**"
    assert names["head"]["id_number"] == head["id_number"][:6] + "********" + head["id_number"][-4:]
    assert names["head"]["phone"] == "138****5678"
    assert names["head"]["birth_date"] is None
    assert body["address"].endswith("****")
    assert masked.headers["etag"] == f'"{body["version"]}"'

    unmasked = await registry.client.get(
        f"/registry/v1/households/{household_id}", headers=auth("street_operator", place["street"], ("pii:read",))
    )
    members = {m["relation"]: m for m in unmasked.json()["members"]}
    assert members["head"]["name"] == "张三丰"
    assert members["head"]["id_number"] == head["id_number"]
    assert members["head"]["birth_date"] == "1980-05-17"
    assert unmasked.json()["address"] == "武汉市江岸区大智路12号3栋"

    log = await registry.client.get("/registry/v1/audit-log", params={"subject_id": household_id}, headers=ADMIN)
    actions = [entry["action"] for entry in log.json()["items"]]
    assert actions.count("household.read_unmasked") == 1
    assert "household.enrolled" in actions
    assert "张三丰" not in log.text and head["id_number"] not in log.text

    mine = await registry.client.get(
        "/registry/v1/audit-log",
        params={"actor": "nobody-at-all", "from": "2000-01-01T00:00:00Z"},
        headers=ADMIN,
    )
    assert mine.json()["items"] == []
    not_admin = await registry.client.get("/registry/v1/audit-log", headers=operator)
    assert not_admin.status_code == 403

    # At rest: encrypted columns, and no personal data in the events.
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                sa.text("SELECT name_enc, id_hash FROM registry.persons WHERE household_id = :h"), {"h": household_id}
            )
        ).all()
        envelopes = (
            await conn.execute(
                sa.text("SELECT event_type, envelope FROM registry.outbox WHERE subject = ANY(:ids)"),
                {"ids": [household_id, *created["person_ids"]]},
            )
        ).all()
    assert all("张三丰".encode() not in bytes(row.name_enc) for row in stored)
    types = sorted(row.event_type for row in envelopes)
    assert types == ["registry.household.enrolled.v1", "registry.person.added.v1", "registry.person.added.v1"]
    text = json.dumps([row.envelope for row in envelopes], ensure_ascii=False)
    assert "张三丰" not in text and head["id_number"] not in text and "大智路" not in text
    enrolled = next(row.envelope for row in envelopes if row.event_type == "registry.household.enrolled.v1")
    assert enrolled["data"]["household"]["size"] == 2
    assert enrolled["data"]["household"]["seq"] == enrolled["data"]["seq"] == 1


async def test_hot_read_answers_byte_for_byte_what_the_read_model_writes(
    registry: RunningService, place: dict[str, str], engine: AsyncEngine
) -> None:
    """`GET /households/{id}` writes its JSON without the pydantic models (service/household_read.py): it must be
    exactly `HouseholdRead.model_dump_json()` of the same rows, masked and unmasked, in every shape a household
    takes (phones or none, notes, quotes and minority names, transition, exit, a helper), read twice (the second
    masked read comes from the mask cache), with its ETag."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from uplift.common import contracts
    from uplift.common.envelope import Envelope
    from uplift.registry.consumers import on_placement_hired
    from uplift.registry.service.households import load_for_read, read_household
    from uplift.registry.service.personal_data import vault_for

    client = registry.client
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    plain = await enrol(
        registry,
        household_body(
            place["community"],
            member(name="阿依古丽·买买提", phone="+86 138-1234-5678", skills=["cleaning", "cooking"]),
            member(
                "spouse",
                name='O"Brien \\ 欧阳',
                female=True,
                phone=None,
                chronic_illness=True,
                illness_note='高血压 "注意"',
            ),
            member("child", name="J", born=dt.date(2012, 2, 29), employment_status="student", phone="12345", skills=[]),
            address="短地址",
            causes=["illness", "disability"],
        ),
    )
    rising = await enrol(registry, household_body(place["community2"]))
    hire = contracts.PlacementHired(  # a wage above the line: the transition starts
        seq=1,
        placement_id=uuid.uuid4(),
        person_id=uuid.UUID(rising["person_ids"][0]),
        household_id=uuid.UUID(rising["id"]),
        posting_id=uuid.uuid4(),
        monthly_wage=Decimal("2500.05"),
        public_welfare=True,
        remote=False,
        started_on=today,
    )
    async with registry.runtime.unit_of_work() as uow:
        await on_placement_hired(
            uow,
            Envelope(
                type=hire.event_type, source="uplift/test", subject=hire.aggregate_id, data=hire.model_dump(mode="json")
            ),
        )
        await uow.commit()
    leaving = await enrol(registry, household_body(place["community"], member(employment_status="employed")))
    exited = await client.post(
        f"/registry/v1/households/{leaving['id']}:exit",
        json={"reason": "employment", "exited_on": today.isoformat()},
        headers=ADMIN,
    )
    assert exited.status_code == 200, exited.text
    department = f"P{random.randrange(10000, 99999)}"
    made = await client.post(
        "/registry/v1/org-units",
        json={"code": department, "name": "区民政局", "kind": "department", "parent_code": DISTRICT},
        headers=ADMIN,
    )
    assert made.status_code == 201, made.text
    cadre = await client.post(
        "/registry/v1/cadres",
        json={"name": "干部乙", "rank": "section", "department_code": department, "home_street_code": place["street"]},
        headers=ADMIN,
    )
    assert cadre.status_code == 201, cadre.text
    helped = await enrol(registry, household_body(place["community"]))
    pairing = await client.post(
        "/registry/v1/pairings",
        json={"household_id": helped["id"], "helper_kind": "cadre", "helper_id": cadre.json()["id"]},
        headers=ADMIN,
    )
    assert pairing.status_code == 201, pairing.text

    vault = vault_for(registry.runtime.settings)
    readers = {
        False: auth("street_operator", place["street"]),
        True: auth("community_worker", place["community"], ("pii:read",)),
    }
    shapes: set[str] = set()
    for household in (plain, leaving, helped, rising):
        async with AsyncSession(engine) as session:
            loaded = await load_for_read(session, uuid.UUID(household["id"]))
        assert loaded is not None
        for unmasked, headers in readers.items():
            expected = read_household(vault, loaded, unmasked=unmasked).model_dump_json().encode()
            if household is rising:
                headers = ADMIN if unmasked else ADMIN_MASKED  # community2: outside the community worker's scope
            for _ in range(2):
                answer = await client.get(f"/registry/v1/households/{household['id']}", headers=headers)
                assert answer.status_code == 200, answer.text
                assert answer.content == expected
                assert answer.headers["etag"] == f'"{loaded.household.version}"'
                assert answer.headers["content-type"] == "application/json"
        body = json.loads(expected)
        shapes.update(key for key in ("transition", "exit", "helper") if body[key] is not None)
        shapes.update("no phone" for person in body["members"] if person["phone"] is None)
        shapes.update("note" for person in body["members"] if person["illness_note"] is not None)
    assert shapes == {"transition", "exit", "helper", "no phone", "note"}
    masked = json.loads((await client.get(f"/registry/v1/households/{plain['id']}", headers=ADMIN_MASKED)).content)
    assert [person["name"] for person in masked["members"]] == ["阿*******", "O" + "*" * 11, "*"]
    assert [person["phone"] for person in masked["members"]] == ["+86*******5678", None, "*****"]
    assert masked["address"] == "短****"


async def test_scope_hides_other_streets_and_forbids_other_roles(
    registry: RunningService, place: dict[str, str]
) -> None:
    created = await enrol(registry, household_body(place["community"]))
    other = await enrol(registry, household_body(place["other_community"]))
    url = f"/registry/v1/households/{created['id']}"

    assert (await registry.client.get(url, headers=auth("street_operator", place["other_street"]))).status_code == 404
    assert (await registry.client.get(url, headers=auth("community_worker", place["community2"]))).status_code == 404
    assert (await registry.client.get(url, headers=auth("community_worker", place["community"]))).status_code == 200
    assert (await registry.client.get(url, headers=auth("analyst"))).status_code == 403
    assert (await registry.client.get(url, headers=auth("integrator", perms=("registry:read",)))).status_code == 200
    assert (await registry.client.get(url, headers=auth("integrator", perms=("claims:read",)))).status_code == 403
    assert (await registry.client.get(url, headers=auth("cadre", cadre_id=str(uuid.uuid4())))).status_code == 404
    writes = await registry.client.post(
        "/registry/v1/households", json=household_body(place["community"]), headers=auth("cadre")
    )
    assert writes.status_code == 403

    listed = await registry.client.get(
        "/registry/v1/households", params={"limit": 500}, headers=auth("street_operator", place["street"])
    )
    ids = {item["id"] for item in listed.json()["items"]}
    assert created["id"] in ids and other["id"] not in ids
    assert all(item["street_code"] == place["street"] for item in listed.json()["items"])
    head_number = (await registry.client.get(url, headers=ADMIN)).json()["members"][0]["id_number"]
    hidden = await registry.client.post(
        "/registry/v1/persons:lookup",
        json={"id_number": head_number},
        headers=auth("street_operator", place["other_street"], ("pii:read",)),
    )
    assert hidden.json()["items"] == []
    found = await registry.client.post(
        "/registry/v1/persons:lookup", json={"id_number": head_number}, headers=auth("street_operator", place["street"])
    )
    assert [item["household_id"] for item in found.json()["items"]] == [created["id"]]
    # A community outside the operator's street reads as unknown.
    outside = await registry.client.post(
        "/registry/v1/households",
        json=household_body(place["other_community"]),
        headers=auth("street_operator", place["street"]),
    )
    assert outside.status_code == 422
    assert outside.json()["errors"][0]["field"] == "community_code"


async def test_list_filters_and_cursor(registry: RunningService, place: dict[str, str]) -> None:
    cohort = f"c-{uuid.uuid4().hex[:8]}"
    made = [
        await enrol(registry, household_body(place["community2"], cohort=cohort, category=category, causes=causes))
        for category, causes in (("dibao", ["illness"]), ("tekun", ["elderly"]), ("dibao", ["disability", "illness"]))
    ]
    first = await registry.client.get(
        "/registry/v1/households", params={"cohort": cohort, "limit": 2}, headers=ADMIN_MASKED
    )
    assert first.status_code == 200
    assert len(first.json()["items"]) == 2 and first.json()["next_cursor"]
    second = await registry.client.get(
        "/registry/v1/households",
        params={"cohort": cohort, "limit": 2, "cursor": first.json()["next_cursor"]},
        headers=ADMIN_MASKED,
    )
    paged = [item["id"] for item in first.json()["items"] + second.json()["items"]]
    assert paged == [household["id"] for household in made]
    assert second.json()["next_cursor"] is None

    illness = await registry.client.get(
        "/registry/v1/households", params={"cohort": cohort, "causes": "illness"}, headers=ADMIN_MASKED
    )
    assert [item["id"] for item in illness.json()["items"]] == [made[0]["id"], made[2]["id"]]
    tekun = await registry.client.get(
        "/registry/v1/households", params={"cohort": cohort, "category": "tekun"}, headers=ADMIN_MASKED
    )
    assert [item["id"] for item in tekun.json()["items"]] == [made[1]["id"]]
    bad = await registry.client.get("/registry/v1/households", params={"status": "gone"}, headers=ADMIN_MASKED)
    assert bad.status_code == 422
    later = await registry.client.get(
        "/registry/v1/households",
        params={"cohort": cohort, "updated_since": second.json()["items"][-1]["updated_at"]},
        headers=ADMIN_MASKED,
    )
    assert [item["id"] for item in later.json()["items"]] == [made[2]["id"]]


async def test_bad_enrolments_are_refused_and_change_nothing(registry: RunningService, place: dict[str, str]) -> None:
    client = registry.client
    good = member()
    broken = dict(good, id_number=good["id_number"][:17] + ("0" if good["id_number"][17] != "0" else "1"))
    bad_checksum = await client.post(
        "/registry/v1/households", json=household_body(place["community"], broken), headers=ADMIN
    )
    assert bad_checksum.status_code == 422
    assert bad_checksum.json()["errors"][0]["field"] == "members[0].id_number"

    wrong_sex = await client.post(
        "/registry/v1/households", json=household_body(place["community"], dict(good, sex="female")), headers=ADMIN
    )
    assert wrong_sex.status_code == 422
    wrong_birth = await client.post(
        "/registry/v1/households",
        json=household_body(place["community"], dict(good, birth_date="1981-01-01")),
        headers=ADMIN,
    )
    assert wrong_birth.status_code == 422

    for change in (
        {"monthly_income": "-1.00"},
        {"category": "rich"},
        {"favourite_colour": "red"},
        {"community_code": "420102999999"},
    ):
        response = await client.post(
            "/registry/v1/households", json=household_body(place["community"], good, **change), headers=ADMIN
        )
        assert response.status_code == 422, (change, response.text)

    two_heads = await client.post(
        "/registry/v1/households", json=household_body(place["community"], good, member()), headers=ADMIN
    )
    assert two_heads.status_code == 422

    lookup = await client.post("/registry/v1/persons:lookup", json={"id_number": good["id_number"]}, headers=ADMIN)
    assert lookup.json()["items"] == []

    first = await enrol(registry, household_body(place["community"], good))
    again = await client.post(
        "/registry/v1/households", json=household_body(place["community2"], dict(good, name="李四")), headers=ADMIN
    )
    assert again.status_code == 409
    assert again.json()["household_id"] == first["id"]
    hidden = await client.post(
        "/registry/v1/households",
        json=household_body(place["other_community"], good),
        headers=auth("street_operator", place["other_street"]),
    )
    assert hidden.status_code == 409
    assert "household_id" not in hidden.json()


async def test_update_needs_if_match_and_rechecks_income(registry: RunningService, place: dict[str, str]) -> None:
    created = await enrol(registry, household_body(place["community"]))
    url = f"/registry/v1/households/{created['id']}"
    change = {"recorded_income": "500.00", "causes": ["illness", "unemployment"]}
    missing = await registry.client.patch(url, json=change, headers=ADMIN)
    assert missing.status_code == 428
    stale = await registry.client.patch(url, json=change, headers={**ADMIN, "If-Match": '"999"'})
    assert stale.status_code == 412
    negative = await registry.client.patch(
        url, json={"recorded_income": "-5"}, headers={**ADMIN, "If-Match": f'"{created["version"]}"'}
    )
    assert negative.status_code == 422
    updated = await registry.client.patch(url, json=change, headers={**ADMIN, "If-Match": f'"{created["version"]}"'})
    assert updated.status_code == 200, updated.text
    assert updated.json()["monthly_income"] == "500.00"
    assert updated.json()["causes"] == ["illness", "unemployment"]
    assert updated.headers["etag"] != f'"{created["version"]}"'
    again = await registry.client.patch(url, json=change, headers={**ADMIN, "If-Match": f'"{created["version"]}"'})
    assert again.status_code == 412


async def test_membership_keeps_one_person_id_for_life(registry: RunningService, place: dict[str, str]) -> None:
    client = registry.client
    first = await enrol(registry, household_body(place["community"]))
    spouse = member("spouse", name="王芳", born=dt.date(1982, 3, 4), female=True)
    added = await client.post(f"/registry/v1/households/{first['id']}/members", json=spouse, headers=ADMIN)
    assert added.status_code == 201, added.text
    person_id = added.json()["person_id"]
    household = (await client.get(f"/registry/v1/households/{first['id']}", headers=ADMIN_MASKED)).json()
    assert household["size"] == 2
    assert household["per_capita_income"] == "150.00"

    patched = await client.patch(
        f"/registry/v1/households/{first['id']}/members/{person_id}",
        json={"employment_status": "employed", "skills": ["cooking"]},
        headers={**ADMIN, "If-Match": added.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["skills"] == ["cooking"]
    no_id_change = await client.patch(
        f"/registry/v1/households/{first['id']}/members/{person_id}",
        json={"id_number": spouse["id_number"]},
        headers={**ADMIN, "If-Match": patched.headers["etag"]},
    )
    assert no_id_change.status_code == 422

    in_use = await client.post(
        "/registry/v1/households",
        json=household_body(place["community2"], dict(spouse, relation="head")),
        headers=ADMIN,
    )
    assert in_use.status_code == 409

    removed = await client.delete(f"/registry/v1/households/{first['id']}/members/{person_id}", headers=ADMIN)
    assert removed.status_code == 204
    head_removal = await client.delete(
        f"/registry/v1/households/{first['id']}/members/{first['person_ids'][0]}", headers=ADMIN
    )
    assert head_removal.status_code == 409

    moved = await enrol(registry, household_body(place["community2"], dict(spouse, relation="head")))
    assert moved["person_ids"] == [person_id]
    lookup = await client.post(
        "/registry/v1/persons:lookup", json={"id_number": spouse["id_number"]}, headers=ADMIN_MASKED
    )
    assert [(m["person_id"], m["household_id"], m["active"]) for m in lookup.json()["items"]] == [
        (person_id, moved["id"], True)
    ]
    assert lookup.json()["items"][0]["name"] == "王*"
    by_name = await client.post("/registry/v1/persons:lookup", json={"name": "王芳"}, headers=ADMIN)
    assert person_id in {m["person_id"] for m in by_name.json()["items"]}
    assert "王芳" in {m["name"] for m in by_name.json()["items"]}
    both = await client.post("/registry/v1/persons:lookup", json={"name": "王芳", "id_number": "x"}, headers=ADMIN)
    assert both.status_code == 422
    old = (await client.get(f"/registry/v1/households/{first['id']}", headers=ADMIN_MASKED)).json()
    assert old["size"] == 1 and old["per_capita_income"] == "300.00"

    # Making another member head demotes the former head, so a household keeps one head.
    son = await client.post(
        f"/registry/v1/households/{first['id']}/members", json=member("child", born=dt.date(2001, 2, 2)), headers=ADMIN
    )
    assert son.status_code == 201
    promoted = await client.patch(
        f"/registry/v1/households/{first['id']}/members/{son.json()['person_id']}",
        json={"relation": "head"},
        headers={**ADMIN, "If-Match": son.headers["etag"]},
    )
    assert promoted.status_code == 200
    after = (await client.get(f"/registry/v1/households/{first['id']}", headers=ADMIN_MASKED)).json()
    assert after["head_person_id"] == son.json()["person_id"]
    assert sorted(m["relation"] for m in after["members"]) == ["head", "other"]


# --- lifecycle --------------------------------------------------------------------------------------------------


async def test_exit_undo_relapse_and_history(registry: RunningService, place: dict[str, str]) -> None:
    client = registry.client
    created = await enrol(registry, household_body(place["community"]))
    base = f"/registry/v1/households/{created['id']}"
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()

    cancel = await client.post(f"{base}:cancel-transition", headers=ADMIN)
    assert cancel.status_code == 409
    assert cancel.json()["allowed"] == ["start_transition", "exit"]

    exited = await client.post(
        f"{base}:exit",
        json={"reason": "policy_support", "exited_on": today.isoformat(), "note": "政策兜底"},
        headers=ADMIN,
    )
    assert exited.status_code == 200, exited.text
    assert exited.json()["status"] == "exited"
    assert exited.json()["exit"]["monitoring_until"] == today.replace(year=today.year + 3).isoformat()

    twice = await client.post(f"{base}:exit", json={"reason": "other", "exited_on": today.isoformat()}, headers=ADMIN)
    assert twice.status_code == 409
    assert twice.json()["allowed"] == ["undo_exit", "relapse"]

    undone = await client.post(f"{base}:undo-exit", headers=ADMIN)
    assert undone.status_code == 200 and undone.json()["status"] == "enrolled"

    await client.post(f"{base}:exit", json={"reason": "employment", "exited_on": today.isoformat()}, headers=ADMIN)
    bad_cause = await client.post(
        f"{base}:relapse", json={"cause": "bad_luck", "relapsed_on": today.isoformat()}, headers=ADMIN
    )
    assert bad_cause.status_code == 422
    relapsed = await client.post(
        f"{base}:relapse", json={"cause": "illness", "relapsed_on": today.isoformat()}, headers=ADMIN
    )
    assert relapsed.status_code == 200, relapsed.text
    assert relapsed.json()["status"] == "enrolled" and relapsed.json()["relapsed"] is True

    history = await client.get(f"{base}/history", headers=ADMIN_MASKED)
    assert [row["action"] for row in history.json()["items"]] == ["enrol", "exit", "undo_exit", "exit", "relapse"]
    before = await client.get(f"{base}/history", params={"as_of": "2026-02-28"}, headers=ADMIN_MASKED)
    assert before.json()["status_as_of"] is None
    on_enrolment = await client.get(f"{base}/history", params={"as_of": "2026-03-01"}, headers=ADMIN_MASKED)
    assert on_enrolment.json()["status_as_of"] == "enrolled"
    assert (await client.get(f"{base}/rewards", headers=ADMIN_MASKED)).json()["items"] == []

    moved_away = await enrol(registry, household_body(place["community"]))
    other_base = f"/registry/v1/households/{moved_away['id']}"
    await client.post(
        f"{other_base}:exit", json={"reason": "moved_away", "exited_on": today.isoformat()}, headers=ADMIN
    )
    no_relapse = await client.post(
        f"{other_base}:relapse", json={"cause": "illness", "relapsed_on": today.isoformat()}, headers=ADMIN
    )
    assert no_relapse.status_code == 409
    by_cadre = await client.post(f"{other_base}:undo-exit", headers=auth("cadre"))
    assert by_cadre.status_code == 403
    hidden = await client.post(f"{other_base}:undo-exit", headers=auth("street_operator", place["other_street"]))
    assert hidden.status_code == 404


# --- parameters -------------------------------------------------------------------------------------------------


async def test_parameters_are_versioned_by_effective_date(registry: RunningService, engine: AsyncEngine) -> None:
    client = registry.client
    day = dt.date(2090, 1, 1) + dt.timedelta(days=random.randrange(0, 3000))
    stored = await client.post(
        "/registry/v1/parameters",
        json={"effective_from": day.isoformat(), "dibao_line": "950.00", "quotas": {"section": 3}},
        headers=ADMIN,
    )
    assert stored.status_code == 201, stored.text
    assert stored.json()["dibao_line"] == "950.00"
    assert stored.json()["quotas"]["section"] == 3
    assert stored.json()["quotas"]["staff"] == 1

    on_day = await client.get("/registry/v1/parameters", params={"on": day.isoformat()}, headers=auth("analyst"))
    assert on_day.json()["dibao_line"] == "950.00"
    day_before = (day - dt.timedelta(days=1)).isoformat()
    before = await client.get("/registry/v1/parameters", params={"on": day_before}, headers=auth("analyst"))
    assert before.json()["dibao_line"] != "950.00" or before.json()["effective_from"] != day.isoformat()

    again = await client.post(
        "/registry/v1/parameters", json={"effective_from": day.isoformat(), "dibao_line": "1.00"}, headers=ADMIN
    )
    assert again.status_code == 409
    unknown = await client.post(
        "/registry/v1/parameters", json={"effective_from": "2091-01-01", "dibao_linez": "1.00"}, headers=ADMIN
    )
    assert unknown.status_code == 422
    negative = await client.post(
        "/registry/v1/parameters", json={"effective_from": "2091-01-01", "dibao_line": "-1"}, headers=ADMIN
    )
    assert negative.status_code == 422
    by_operator = await client.post(
        "/registry/v1/parameters",
        json={"effective_from": "2091-01-01", "dibao_line": "1.00"},
        headers=auth("street_operator", "420102001"),
    )
    assert by_operator.status_code == 403

    async with engine.connect() as conn:
        events = (
            await conn.execute(
                sa.text("SELECT envelope FROM registry.outbox WHERE event_type = :t AND subject = :s"),
                {"t": "registry.parameters.set.v1", "s": day.isoformat()},
            )
        ).all()
    assert events[-1].envelope["data"]["dibao_line"] == "950.00"


async def test_cadre_sees_only_its_paired_households(registry: RunningService, place: dict[str, str]) -> None:
    client = registry.client
    department = f"P{random.randrange(10000, 99999)}"
    made = await client.post(
        "/registry/v1/org-units",
        json={"code": department, "name": "区人社局", "kind": "department", "parent_code": DISTRICT},
        headers=ADMIN,
    )
    assert made.status_code == 201, made.text
    cadre = await client.post(
        "/registry/v1/cadres",
        json={"name": "干部甲", "rank": "section", "department_code": department, "home_street_code": place["street"]},
        headers=ADMIN,
    )
    assert cadre.status_code == 201, cadre.text
    cadre_id = cadre.json()["id"]
    paired = await enrol(registry, household_body(place["community"]))
    unpaired = await enrol(registry, household_body(place["community"]))
    pairing = await client.post(
        "/registry/v1/pairings",
        json={"household_id": paired["id"], "helper_kind": "cadre", "helper_id": cadre_id},
        headers=ADMIN,
    )
    assert pairing.status_code == 201, pairing.text

    as_cadre = auth("cadre", cadre_id=cadre_id)
    seen = await client.get(f"/registry/v1/households/{paired['id']}", headers=as_cadre)
    assert seen.status_code == 200
    assert seen.json()["helper"]["id"] == cadre_id
    assert (await client.get(f"/registry/v1/households/{unpaired['id']}", headers=as_cadre)).status_code == 404
    listed = await client.get("/registry/v1/households", headers=as_cadre)
    assert [item["id"] for item in listed.json()["items"]] == [paired["id"]]
    by_helper = await client.get("/registry/v1/households", params={"helper_id": cadre_id}, headers=ADMIN_MASKED)
    assert [item["id"] for item in by_helper.json()["items"]] == [paired["id"]]

    exited = await client.post(
        f"/registry/v1/households/{paired['id']}:exit",
        json={"reason": "income_above_line", "exited_on": "2026-06-30"},
        headers=ADMIN,
    )
    assert exited.status_code == 200
    # The exit released the pairing: the cadre no longer sees the household.
    assert (await client.get(f"/registry/v1/households/{paired['id']}", headers=as_cadre)).status_code == 404


async def test_an_enrolment_repeated_with_its_idempotency_key_answers_the_first_result(
    registry: RunningService, place: dict[str, str]
) -> None:
    body = household_body(place["community2"])
    headers = {**ADMIN, "Idempotency-Key": uuid.uuid4().hex}
    first = await registry.client.post("/registry/v1/households", json=body, headers=headers)
    again = await registry.client.post("/registry/v1/households", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    other = await registry.client.post("/registry/v1/households", json=dict(body, cohort="other"), headers=headers)
    assert other.status_code == 409


async def test_fifty_concurrent_if_match_updates_lose_no_update(
    registry: RunningService, place: dict[str, str]
) -> None:
    """50 clients update one household with If-Match: every 200 is a new version, none is lost silently."""
    created = await enrol(registry, household_body(place["community"]))
    url = f"/registry/v1/households/{created['id']}"
    clients = 50

    async def client(n: int) -> tuple[int, int]:
        """Read, change recorded_income to a value of its own, retry on 412; returns (version written, 412s)."""
        conflicts = 0
        while True:
            read = await registry.client.get(url, headers=ADMIN)
            assert read.status_code == 200
            tag = read.headers["etag"]
            answer = await registry.client.patch(
                url, json={"recorded_income": f"{1000 + n}.00"}, headers={**ADMIN, "If-Match": tag}
            )
            if answer.status_code == 412:
                conflicts += 1
                continue
            assert answer.status_code == 200, answer.text
            return answer.json()["version"], conflicts

    results = await asyncio.gather(*(client(n) for n in range(clients)))
    versions = sorted(version for version, _ in results)
    # Each successful update produced its own version: no two writers won with the same ETag.
    assert versions == list(range(created["version"] + 1, created["version"] + 1 + clients))
    final = (await registry.client.get(url, headers=ADMIN)).json()
    assert final["version"] == created["version"] + clients
    winner = max(results)[0]
    assert final["recorded_income"] == next(
        f"{1000 + n}.00" for n, (version, _) in enumerate(results) if version == winner
    )
    assert sum(conflicts for _, conflicts in results) > 0  # the race really happened
