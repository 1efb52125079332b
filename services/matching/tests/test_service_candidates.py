"""Candidates for a posting come from the per-process seeker index: it follows changes other workers commit to
the projection tables, scopes street workers to their street, and is warmed at startup."""

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
RARE_SKILLS = ["sign_language", "first_aid"]


async def candidate_ids(matching: MatchingKit, posting: dict[str, object], headers: dict[str, str] = ADMIN) -> set[str]:
    url = f"/matching/v1/postings/{posting['id']}/candidates"
    response = await matching.client.get(url, params={"limit": 200}, headers=headers)
    assert response.status_code == 200, response.text
    return {item["person_id"] for item in response.json()["items"]}


async def execute(matching: MatchingKit, sql: str, **values: Any) -> None:
    """A write by another worker: nothing in this process is told, only the table changes."""
    async with matching.service.runtime.engine.begin() as conn:
        await conn.execute(sa.text(sql), values)


async def test_the_candidates_follow_what_other_workers_commit(matching: MatchingKit) -> None:
    street = matching.fresh_street()
    home = {"street_code": street, "community_code": street + "001"}
    person_id, household_id = await matching.seeker(home, skills=RARE_SKILLS)
    posting = await matching.posting(
        await matching.employer(), street_code=street, essential_skills=RARE_SKILLS, public_welfare=True
    )
    person = str(person_id)
    assert person in await candidate_ids(matching, posting)

    # A caregiving constraint saved elsewhere: 20 hours a week at most, the posting asks 40.
    await execute(
        matching,
        "INSERT INTO matching.seeker_profiles (person_id, desired_occupations, max_hours, location_pref,"
        " prefers_remote, no_heavy_work, trained_skills, version, updated_at)"
        " VALUES (:id, '{}', 20, 'same_district', false, false, '{}', 1, now())",
        id=person_id,
    )
    assert person not in await candidate_ids(matching, posting)
    await execute(
        matching,
        "UPDATE matching.seeker_profiles SET max_hours = NULL, version = version + 1, updated_at = now()"
        " WHERE person_id = :id",
        id=person_id,
    )
    assert person in await candidate_ids(matching, posting)

    # The household exits: no longer eligible for a public-welfare posting (a household row touches its members).
    await execute(
        matching,
        "UPDATE matching.seeker_households SET status = 'exited', seq = seq + 1, updated_at = now()"
        " WHERE household_id = :id",
        id=household_id,
    )
    assert person not in await candidate_ids(matching, posting)
    await execute(
        matching,
        "UPDATE matching.seeker_households SET status = 'enrolled', seq = seq + 1, updated_at = now()"
        " WHERE household_id = :id",
        id=household_id,
    )
    assert person in await candidate_ids(matching, posting)

    # A member written late with an old timestamp (outside any watermark margin) is still found: a full reload.
    late = uuid.uuid4()
    await execute(
        matching,
        "INSERT INTO matching.seeker_persons (person_id, seq, household_id, birth_year, sex, work_ability,"
        " employment_status, disability_level, chronic_illness, education, skills, active, updated_at)"
        " SELECT :late, 1, household_id, birth_year, sex, work_ability, employment_status, disability_level,"
        " chronic_illness, education, skills, true, now() - interval '2 days'"
        " FROM matching.seeker_persons WHERE person_id = :id",
        late=late,
        id=person_id,
    )
    assert {person, str(late)} <= await candidate_ids(matching, posting)

    # Removed from the household (inactive): gone from the candidates.
    await execute(
        matching,
        "UPDATE matching.seeker_persons SET active = false, seq = seq + 1, updated_at = now() WHERE person_id = :id",
        id=person_id,
    )
    assert await candidate_ids(matching, posting) & {person, str(late)} == {str(late)}


async def test_street_workers_see_only_the_candidates_of_their_street(matching: MatchingKit) -> None:
    street = matching.fresh_street()
    neighbour = street[:6] + "997"
    here, _ = await matching.seeker({"street_code": street, "community_code": street + "001"}, skills=RARE_SKILLS)
    there, _ = await matching.seeker(
        {"street_code": neighbour, "community_code": neighbour + "001"}, skills=RARE_SKILLS
    )
    posting = await matching.posting(await matching.employer(), street_code=street, essential_skills=RARE_SKILLS)
    both = {str(here), str(there)}
    assert await candidate_ids(matching, posting) & both == both
    assert await candidate_ids(matching, posting, auth("street_operator", street)) & both == {str(here)}
    assert await candidate_ids(matching, posting, auth("street_operator", neighbour)) & both == {str(there)}


async def test_the_caches_are_warmed_right_after_start(matching: MatchingKit) -> None:
    warmed = await matching.service.app.state.caches_warmed
    assert warmed["warmed"] is True
    assert warmed["seekers"] >= 0 and warmed["open_postings"] >= 0
    assert matching.service.app.state.seeker_index.loaded


async def test_explain_excluded_counts_every_exclusion_and_explains_the_nearest_misses_first(
    matching: MatchingKit,
) -> None:
    street = matching.fresh_street()
    person_id, _ = await matching.seeker(
        {"street_code": street, "community_code": street + "001"}, skills=["cleaning"], disability_level=1
    )
    saved = await matching.client.put(
        f"/matching/v1/seekers/{person_id}/profile", json={"constraints": {"max_weekly_hours": 30}}, headers=ADMIN
    )
    assert saved.status_code == 200, saved.text
    employer_id = await matching.employer()
    too_long_and_heavy = await matching.posting(employer_id, street_code=street, physical_demand="heavy")
    too_long = await matching.posting(employer_id, street_code=street)
    heavy = await matching.posting(employer_id, street_code=street, physical_demand="heavy", weekly_hours=20)
    elsewhere = await matching.posting(employer_id, street_code=matching.fresh_street(), weekly_hours=20)
    fits = await matching.posting(employer_id, street_code=street, weekly_hours=20)
    mine = {p["id"]: name for p, name in ((too_long_and_heavy, "both"), (too_long, "hours"), (heavy, "heavy"))}
    mine[elsewhere["id"]] = "location"

    url = f"/matching/v1/seekers/{person_id}/recommendations"
    response = await matching.client.get(
        url, params={"explain_excluded": "true", "excluded_limit": 20_000}, headers=ADMIN
    )
    body = response.json()
    assert [item["posting_id"] for item in body["items"]] == [fits["id"]]
    order = [mine[item["posting_id"]] for item in body["excluded"] if item["posting_id"] in mine]
    assert set(order[:2]) == {"hours", "heavy"} and order[2:] == ["both", "location"]
    assert body["excluded_count"] == len(body["excluded"]) >= 4
    assert body["excluded_by_reason"]["heavy_work"] >= 2 and body["excluded_by_reason"]["hours_above_maximum"] >= 2

    first = (
        await matching.client.get(url, params={"explain_excluded": "true", "excluded_limit": 1}, headers=ADMIN)
    ).json()
    assert len(first["excluded"]) == 1 and first["excluded_count"] == body["excluded_count"]
    assert first["excluded_by_reason"] == body["excluded_by_reason"]
    quiet = (await matching.client.get(url, headers=ADMIN)).json()
    assert "excluded" not in quiet and "excluded_count" not in quiet
