"""Job fairs over HTTP: validation, the lexicographic assignment, and its `recommended` applications."""

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
FAIRS = "/matching/v1/job-fairs"


async def scalar(kit: MatchingKit, sql: str, **params: object) -> Any:
    async with kit.service.runtime.engine.connect() as conn:
        return (await conn.execute(sa.text(sql), params)).scalar()


async def test_a_fair_without_postings_is_refused_and_nothing_is_saved(matching: MatchingKit) -> None:
    person_id, _ = await matching.seeker()
    name = f"fair {uuid.uuid4()}"
    body = {"name": name, "held_on": matching.today.isoformat(), "posting_ids": [], "seeker_ids": [str(person_id)]}
    refused = await matching.client.post(FAIRS, json=body, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"field": "posting_ids", "message": "a job fair needs at least one posting"}]
    unknown = await matching.client.post(FAIRS, json={**body, "posting_ids": [str(uuid.uuid4())]}, headers=ADMIN)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "posting_ids"
    assert await scalar(matching, "SELECT count(*) FROM matching.job_fairs WHERE name = :n", n=name) == 0
    street_worker = auth("street_operator", "420102001")
    assert (await matching.client.post(FAIRS, json=body, headers=street_worker)).status_code == 403


async def test_the_assignment_places_priority_seekers_first_and_records_recommended_applications(
    matching: MatchingKit,
) -> None:
    street = matching.fresh_street()
    home = {"street_code": street, "community_code": street + "001"}
    employer_id = await matching.employer()
    # One opening that both want: the zero-employment household's member (tier 1), who can work 30 hours at
    # most (caregiving), must get it over a better scoring seeker whose household has someone employed (tier 3).
    contested = await matching.posting(
        employer_id, street_code=street, essential_skills=["cleaning", "cooking"], openings=1, weekly_hours=30
    )
    spare = await matching.posting(
        employer_id, street_code=street[:6] + "999", essential_skills=["security"], openings=3
    )
    tier1, _ = await matching.seeker(home, skills=["cleaning"])
    caregiving = {"constraints": {"max_weekly_hours": 30}}
    profile = await matching.client.put(f"/matching/v1/seekers/{tier1}/profile", json=caregiving, headers=ADMIN)
    assert profile.status_code == 200
    tier3, tier3_household = await matching.seeker(home, skills=["cleaning", "cooking"], employment_status="employed")
    disabled, _ = await matching.seeker(home, skills=["security"], disability_level=2, employment_status="employed")
    body = {
        "name": "2026 Q2 送岗位",
        "held_on": matching.today.isoformat(),
        "posting_ids": [contested["id"], spare["id"]],
        "seeker_ids": [str(tier1), str(tier3), str(disabled)],
        "k": 5,
    }
    created = await matching.client.post(FAIRS, json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    fair_id = created.json()["id"]
    assert created.json()["assigned"] is False

    answer = await matching.client.post(f"{FAIRS}/{fair_id}:assign", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    placed = {a["person_id"]: a for a in result["assignments"]}
    assert placed[str(tier1)]["posting_id"] == contested["id"] and placed[str(tier1)]["tier"] == 1
    assert placed[str(disabled)]["posting_id"] == spare["id"] and placed[str(disabled)]["tier"] == 2
    assert placed[str(tier3)]["posting_id"] == spare["id"]  # the contested opening went to tier 1
    assert result["objective"]["tier1_matched"] == 1 and result["objective"]["tier2_matched"] == 1
    assert result["filled"] == 3 and result["openings"] == 4
    assert result["rates"]["by_tier"]["1"] == {"invited": 1, "matched": 1, "rate": "1.0000"}
    assert set(result["rates"]["by_disability"]) == {"0", "2"}
    assert result["greedy"]["tier1_matched"] == 1

    applications = await matching.client.get(
        "/matching/v1/applications", params={"job_fair_id": fair_id}, headers=ADMIN
    )
    stored = {a["id"]: a for a in applications.json()["items"]}
    assert set(stored) == {a["application_id"] for a in result["assignments"]}
    assert {a["status"] for a in stored.values()} == {"recommended"}
    assert str(tier3_household) in {a["household_id"] for a in stored.values()}

    fair = (await matching.client.get(f"{FAIRS}/{fair_id}", headers=ADMIN)).json()
    assert fair["assigned"] is True and fair["k"] == 5 and fair["posting_ids"] == [contested["id"], spare["id"]]
    again = await matching.client.post(f"{FAIRS}/{fair_id}:assign", headers=ADMIN)
    assert again.json() == result
    count = await scalar(matching, "SELECT count(*) FROM matching.applications WHERE job_fair_id = :f", f=fair_id)
    assert count == 3
