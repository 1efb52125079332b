"""Employers, postings and the skill vocabulary over HTTP: validation, employer scope, ETags."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from uplift.common.testkit import auth

if TYPE_CHECKING:
    from conftest import MatchingKit

pytestmark = pytest.mark.integration

ADMIN = auth("district_admin", "420102")
POSTINGS = "/matching/v1/postings"
EMPLOYERS = "/matching/v1/employers"


def employer_token(employer_id: uuid.UUID) -> dict[str, str]:
    return auth("employer", employer_id=str(employer_id))


async def posting_count(kit: MatchingKit, employer_id: uuid.UUID) -> int:
    async with kit.service.runtime.engine.connect() as conn:
        result = await conn.execute(
            sa.text("SELECT count(*) FROM matching.postings WHERE employer_id = :e"), {"e": employer_id}
        )
        return int(result.scalar_one())


async def test_an_admin_creates_an_employer_and_a_posting_that_reads_back(matching: MatchingKit) -> None:
    employer_id = await matching.employer("Wuchang Catering")
    body = matching.posting_body(
        employer_id, essential_skills=["cooking", "dishwashing"], optional_skills=["catering"], public_welfare=True
    )
    created = await matching.client.post(POSTINGS, json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    posting = created.json()
    assert created.headers["ETag"] == '"1"'
    assert posting["district_code"] == "420102"
    assert posting["monthly_wage"] == "3000.00"
    assert posting["essential_skills"] == ["cooking", "dishwashing"]
    assert posting["public_welfare"] is True and posting["open"] is True

    read = await matching.client.get(f"{POSTINGS}/{posting['id']}", headers=ADMIN)
    assert read.status_code == 200 and read.json()["occupation"] == "cleaner"

    listed = await matching.client.get(POSTINGS, params={"employer_id": str(employer_id)}, headers=ADMIN)
    assert [p["id"] for p in listed.json()["items"]] == [posting["id"]]


async def test_unknown_skill_codes_are_named_with_suggestions_and_nothing_is_saved(matching: MatchingKit) -> None:
    employer_id = await matching.employer()
    body = matching.posting_body(
        employer_id, essential_skills=["cleaning", "保洁", "clening"], optional_skills=["xyzzy"]
    )
    response = await matching.client.post(POSTINGS, json=body, headers=ADMIN)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["unknown_skills"]["保洁"] == ["cleaning"]
    assert "cleaning" in problem["unknown_skills"]["clening"]
    assert problem["unknown_skills"]["xyzzy"] == []
    assert {e["field"] for e in problem["errors"]} == {
        "essential_skills[1]",
        "essential_skills[2]",
        "optional_skills[0]",
    }
    assert await posting_count(matching, employer_id) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"openings": -1}, "openings"),
        ({"monthly_wage": "-100.00"}, "monthly_wage"),
        ({"weekly_hours": 81}, "weekly_hours"),
        ({"weekly_hours": 0}, "weekly_hours"),
        ({"street_code": None, "remote": False}, "street_code"),
    ],
)
async def test_invalid_postings_are_refused_with_the_field_and_nothing_is_saved(
    matching: MatchingKit, change: dict[str, object], field: str
) -> None:
    employer_id = await matching.employer()
    response = await matching.client.post(POSTINGS, json=matching.posting_body(employer_id, **change), headers=ADMIN)
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    assert await posting_count(matching, employer_id) == 0


async def test_an_employer_manages_only_its_own_record_and_postings(matching: MatchingKit) -> None:
    mine, theirs = await matching.employer("Mine"), await matching.employer("Theirs")
    token = employer_token(mine)
    own_posting = await matching.client.post(
        POSTINGS, json={k: v for k, v in matching.posting_body(mine).items() if k != "employer_id"}, headers=token
    )
    assert own_posting.status_code == 201 and own_posting.json()["employer_id"] == str(mine)
    their_posting = await matching.posting(theirs)

    assert (await matching.client.get(f"{EMPLOYERS}/{mine}", headers=token)).status_code == 200
    assert (await matching.client.get(f"{EMPLOYERS}/{theirs}", headers=token)).status_code == 404
    assert (await matching.client.get(f"{POSTINGS}/{their_posting['id']}", headers=token)).status_code == 404
    patch_theirs = await matching.client.patch(
        f"{POSTINGS}/{their_posting['id']}", json={"openings": 9}, headers={**token, "If-Match": '"1"'}
    )
    assert patch_theirs.status_code == 404
    create_for_them = await matching.client.post(POSTINGS, json=matching.posting_body(theirs), headers=token)
    assert create_for_them.status_code == 404

    listed = await matching.client.get(POSTINGS, headers=token)
    assert {p["employer_id"] for p in listed.json()["items"]} == {str(mine)}
    employers = await matching.client.get(EMPLOYERS, headers=token)
    assert [e["id"] for e in employers.json()["items"]] == [str(mine)]
    assert (await matching.client.post(EMPLOYERS, json={"name": "New"}, headers=token)).status_code == 403

    renamed = await matching.client.patch(
        f"{EMPLOYERS}/{mine}", json={"name": "Mine Ltd"}, headers={**token, "If-Match": '"1"'}
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Mine Ltd"


async def test_posting_updates_need_the_current_etag(matching: MatchingKit) -> None:
    posting = await matching.posting(await matching.employer())
    url = f"{POSTINGS}/{posting['id']}"
    assert (await matching.client.patch(url, json={"openings": 5}, headers=ADMIN)).status_code == 428
    changed = await matching.client.patch(url, json={"openings": 5}, headers={**ADMIN, "If-Match": '"1"'})
    assert changed.status_code == 200 and changed.json()["openings"] == 5
    assert changed.headers["ETag"] == '"2"'
    stale = await matching.client.patch(url, json={"openings": 7}, headers={**ADMIN, "If-Match": '"1"'})
    assert stale.status_code == 412
    bad_skill = await matching.client.patch(
        url, json={"optional_skills": ["nope"]}, headers={**ADMIN, "If-Match": '"2"'}
    )
    assert bad_skill.status_code == 422
    assert (await matching.client.get(url, headers=ADMIN)).json()["optional_skills"] == []


async def test_integrators_need_matching_scopes(matching: MatchingKit) -> None:
    reader = auth("integrator", perms=("matching:read",))
    assert (await matching.client.get(POSTINGS, headers=reader)).status_code == 200
    refused = await matching.client.post(POSTINGS, json=matching.posting_body(uuid.uuid4()), headers=reader)
    assert refused.status_code == 403
    assert (await matching.client.get(POSTINGS, headers=auth("integrator", perms=("claims:read",)))).status_code == 403
    assert (await matching.client.get(POSTINGS)).status_code == 401


async def test_skills_are_searched_by_chinese_and_english_names_and_aliases(matching: MatchingKit) -> None:
    for query, code in (
        ("保洁", "cleaning"),
        ("清洁工", "cleaning"),
        ("janitor", "cleaning"),
        ("在线客服", "remote_customer_service"),
    ):
        response = await matching.client.get("/matching/v1/skills", params={"q": query}, headers=ADMIN)
        assert response.status_code == 200
        assert response.json()["items"][0]["code"] == code, query
    fuzzy = await matching.client.get("/matching/v1/skills", params={"q": "clening"}, headers=ADMIN)
    assert "cleaning" in [s["code"] for s in fuzzy.json()["items"]]
