"""Applications over HTTP: contact details for the posting's employer only, the pipeline, placement events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from uplift.common.testkit import auth

if TYPE_CHECKING:
    from conftest import MatchingKit

pytestmark = pytest.mark.integration

ADMIN = auth("district_admin", "420102")
APPLICATIONS = "/matching/v1/applications"


async def scalar(kit: MatchingKit, sql: str, **params: object) -> Any:
    async with kit.service.runtime.engine.connect() as conn:
        return (await conn.execute(sa.text(sql), params)).scalar()


async def outbox_events(kit: MatchingKit, subject: uuid.UUID) -> list[dict[str, Any]]:
    async with kit.service.runtime.engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT envelope FROM matching.outbox WHERE subject = :s ORDER BY position"), {"s": str(subject)}
        )
        return [row.envelope for row in rows]


async def apply(kit: MatchingKit, person_id: uuid.UUID, posting_id: object, **extra: object) -> Any:
    return await kit.client.post(
        APPLICATIONS, json={"person_id": str(person_id), "posting_id": posting_id, **extra}, headers=ADMIN
    )


async def step(kit: MatchingKit, application_id: str, to: str, on: dt.date, **extra: object) -> Any:
    return await kit.client.post(
        f"{APPLICATIONS}/{application_id}:transition", json={"to": to, "on": on.isoformat(), **extra}, headers=ADMIN
    )


async def test_contact_details_are_encrypted_and_shown_only_to_the_postings_employer(matching: MatchingKit) -> None:
    person_id, _ = await matching.seeker()
    employer_id = await matching.employer()
    posting = await matching.posting(employer_id)
    created = await apply(matching, person_id, posting["id"], contact_name="王小红", contact_phone="13912345678")
    assert created.status_code == 201, created.text
    application = created.json()
    assert application["status"] == "applied"
    assert application["contact_name"] == "王**" and application["contact_phone"] == "139****5678"
    assert application["contact_masked"] is True

    stored = await scalar(
        matching, "SELECT contact_phone FROM matching.applications WHERE id = :id", id=application["id"]
    )
    assert b"13912345678" not in bytes(stored)

    url = f"{APPLICATIONS}/{application['id']}"
    own = (await matching.client.get(url, headers=auth("employer", employer_id=str(employer_id)))).json()
    assert (own["contact_name"], own["contact_phone"], own["contact_masked"]) == ("王小红", "13912345678", False)
    listed = await matching.client.get(
        APPLICATIONS, params={"posting_id": posting["id"]}, headers=auth("employer", employer_id=str(employer_id))
    )
    assert [(a["id"], a["contact_phone"]) for a in listed.json()["items"]] == [(application["id"], "13912345678")]

    stranger = auth("employer", employer_id=str(uuid.uuid4()))
    assert (await matching.client.get(url, headers=stranger)).status_code == 404
    assert (await matching.client.get(APPLICATIONS, params={"posting_id": posting["id"]}, headers=stranger)).json()[
        "items"
    ] == []
    helper = (await matching.client.get(url, headers=auth("district_admin", perms=("pii:read",)))).json()
    assert helper["contact_name"] == "王**" and helper["contact_phone"] == "139****5678"


async def test_an_application_for_a_closed_posting_is_refused_and_nothing_is_saved(matching: MatchingKit) -> None:
    person_id, _ = await matching.seeker()
    posting = await matching.posting(await matching.employer(), open=False)
    refused = await apply(matching, person_id, posting["id"])
    assert refused.status_code == 409 and refused.json()["posting_status"] == "closed"
    expired = await matching.posting(await matching.employer(), valid_from="2020-01-01", valid_to="2020-12-31")
    assert (await apply(matching, person_id, expired["id"])).status_code == 409
    unknown = await apply(matching, person_id, str(uuid.uuid4()))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "posting_id"
    count = await scalar(matching, "SELECT count(*) FROM matching.applications WHERE person_id = :p", p=person_id)
    assert count == 0


async def test_public_welfare_postings_take_only_households_in_the_programme(matching: MatchingKit) -> None:
    person_id, _ = await matching.seeker(
        {"status": "exited", "exit": {"reason": "employment", "exited_on": "2026-01-31"}}
    )
    posting = await matching.posting(await matching.employer(), public_welfare=True)
    assert (await apply(matching, person_id, posting["id"])).status_code == 409


async def test_the_pipeline_emits_hired_retained_and_ended_with_the_wage(matching: MatchingKit) -> None:
    person_id, household_id = await matching.seeker()
    employer_id = await matching.employer()
    posting = await matching.posting(employer_id, remote=True, street_code=None, public_welfare=True)
    application = (await apply(matching, person_id, posting["id"])).json()
    app_id = application["id"]
    started = dt.date(2026, 1, 31)

    illegal = await step(matching, app_id, "hired", started)
    assert illegal.status_code == 409
    assert illegal.json()["allowed"] == ["interviewed", "rejected", "withdrawn"]
    assert (await step(matching, app_id, "interviewed", started)).status_code == 200
    hired = await matching.client.post(
        f"{APPLICATIONS}/{app_id}:transition",
        json={"to": "hired", "on": started.isoformat(), "monthly_wage": "2800.50"},
        headers=auth("employer", employer_id=str(employer_id)),  # the employer records its own hire
    )
    assert hired.status_code == 200, hired.text
    placement = hired.json()["placement"]
    assert placement["monthly_wage"] == "2800.50" and placement["remote"] is True

    early = await step(matching, app_id, "retained_3m", dt.date(2026, 4, 29))
    assert early.status_code == 409 and early.json()["due_on"] == "2026-04-30"
    assert (await step(matching, app_id, "retained_3m", dt.date(2026, 4, 30))).status_code == 200
    left = await step(matching, app_id, "left", dt.date(2026, 5, 15), reason="contract_ended")
    assert left.status_code == 200 and left.json()["placement"]["ended_on"] == "2026-05-15"
    assert left.json()["allowed_transitions"] == []

    events = await outbox_events(matching, uuid.UUID(placement["placement_id"]))
    assert [e["type"] for e in events] == [
        "matching.placement.hired.v1",
        "matching.placement.retained.v1",
        "matching.placement.ended.v1",
    ]
    hired_data, retained_data, ended_data = (e["data"] for e in events)
    assert hired_data == {
        "seq": 1,
        "placement_id": placement["placement_id"],
        "person_id": str(person_id),
        "household_id": str(household_id),
        "posting_id": posting["id"],
        "monthly_wage": "2800.50",
        "public_welfare": True,
        "remote": True,
        "started_on": "2026-01-31",
    }
    assert (retained_data["months"], retained_data["on"], retained_data["seq"]) == (3, "2026-04-30", 2)
    assert (ended_data["monthly_wage"], ended_data["reason"], ended_data["ended_on"]) == (
        "2800.50",
        "contract_ended",
        "2026-05-15",
    )


async def test_an_employer_moves_its_own_applicants_only(matching: MatchingKit) -> None:
    person_id, _ = await matching.seeker()
    employer_id = await matching.employer()
    application = (await apply(matching, person_id, (await matching.posting(employer_id))["id"])).json()
    url = f"{APPLICATIONS}/{application['id']}:transition"
    body = {"to": "interviewed", "on": matching.today.isoformat()}
    other = auth("employer", employer_id=str(uuid.uuid4()))
    assert (await matching.client.post(url, json=body, headers=other)).status_code == 404
    own = auth("employer", employer_id=str(employer_id))
    moved = await matching.client.post(url, json=body, headers=own)
    assert moved.status_code == 200 and moved.json()["status"] == "interviewed"
