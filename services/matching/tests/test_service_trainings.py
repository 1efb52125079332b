"""Trainings over HTTP: enrolment, and completion adding skills to the seeker with its event."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from uplift.common.testkit import auth

if TYPE_CHECKING:
    from conftest import MatchingKit

pytestmark = pytest.mark.integration

ADMIN = auth("district_admin", "420102")
TRAININGS = "/matching/v1/trainings"


async def test_unknown_skills_refuse_a_training_and_nothing_is_saved(matching: MatchingKit) -> None:
    name = f"training {uuid.uuid4()}"
    body = {"name": name, "skills": ["在线客服"], "starts_on": matching.today.isoformat()}
    refused = await matching.client.post(TRAININGS, json=body, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["unknown_skills"] == {"在线客服": ["remote_customer_service"]}
    async with matching.service.runtime.engine.connect() as conn:
        count = await conn.execute(sa.text("SELECT count(*) FROM matching.trainings WHERE name = :n"), {"n": name})
        assert count.scalar() == 0


async def test_completing_a_training_adds_its_skills_and_emits_training_completed(matching: MatchingKit) -> None:
    person_id, household_id = await matching.seeker(skills=["cleaning"], disability_level=3)
    body = {
        "name": "远程客服 for disabled people",
        "skills": ["remote_customer_service", "computer_basic"],
        "starts_on": matching.today.isoformat(),
        "capacity": 20,
        "remote": True,
    }
    created = await matching.client.post(TRAININGS, json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    training_id = created.json()["id"]

    enrolled = await matching.client.post(
        f"{TRAININGS}/{training_id}/enrolments", json={"person_id": str(person_id)}, headers=ADMIN
    )
    assert enrolled.status_code == 201, enrolled.text
    twice = await matching.client.post(
        f"{TRAININGS}/{training_id}/enrolments", json={"person_id": str(person_id)}, headers=ADMIN
    )
    assert twice.status_code == 409
    listed = await matching.client.get(TRAININGS, params={"limit": 500}, headers=ADMIN)
    assert {t["id"]: t["enrolled"] for t in listed.json()["items"]}[training_id] == 1
    one = (await matching.client.get(f"{TRAININGS}/{training_id}", headers=ADMIN)).json()
    assert (one["enrolled"], one["capacity"], one["remote"]) == (1, 20, True)

    done = await matching.client.post(f"{TRAININGS}/{training_id}/enrolments/{person_id}:complete", headers=ADMIN)
    assert done.status_code == 200, done.text
    assert done.json()["skills_added"] == ["remote_customer_service", "computer_basic"]
    seeker = (await matching.client.get(f"/matching/v1/seekers/{person_id}", headers=ADMIN)).json()
    assert seeker["skills"] == ["cleaning", "computer_basic", "remote_customer_service"]
    assert seeker["profile"]["trained_skills"] == ["remote_customer_service", "computer_basic"]
    again = await matching.client.post(f"{TRAININGS}/{training_id}/enrolments/{person_id}:complete", headers=ADMIN)
    assert again.status_code == 409

    async with matching.service.runtime.engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT envelope FROM matching.outbox WHERE subject = :s"), {"s": f"{training_id}/{person_id}"}
        )
        events: list[dict[str, Any]] = [row.envelope for row in rows]
    assert [e["type"] for e in events] == ["matching.training.completed.v1"]
    data = events[0]["data"]
    assert data["household_id"] == str(household_id)
    assert data["skills"] == ["remote_customer_service", "computer_basic"]
    assert data["completed_on"] == matching.today.isoformat()


async def test_enrolling_an_unknown_person_is_not_found(matching: MatchingKit) -> None:
    created = await matching.client.post(
        TRAININGS, json={"name": "叉车", "skills": ["forklift"], "starts_on": matching.today.isoformat()}, headers=ADMIN
    )
    training_id = created.json()["id"]
    missing = await matching.client.post(
        f"{TRAININGS}/{training_id}/enrolments", json={"person_id": str(uuid.uuid4())}, headers=ADMIN
    )
    assert missing.status_code == 404
