"""Seekers projected from REGISTRY events (through NATS), their profile, and recommendations both ways."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from uplift.common.contracts import (
    HouseholdEnrolled,
    HouseholdExited,
    ParametersSet,
    PersonAdded,
    PersonRemoved,
    PersonUpdated,
    RetirementAge,
)
from uplift.common.testkit import auth, eventually

if TYPE_CHECKING:
    from conftest import MatchingKit

pytestmark = pytest.mark.integration

ADMIN = auth("district_admin", "420102")
STREET = "420102001"
OTHER_STREET = "420102002"


def seekers_url(person_id: uuid.UUID, tail: str = "") -> str:
    return f"/matching/v1/seekers/{person_id}{tail}"


async def test_a_person_published_before_its_household_becomes_a_seeker_once_the_household_arrives(
    matching: MatchingKit,
) -> None:
    household = matching.household(status="transition", category="low_income")
    member = matching.person(household.household_id, disability_level=2, skills=["cleaning", "cooking"])
    await matching.publish(PersonAdded(person=member))  # parked: the household is not known yet
    await matching.publish(HouseholdEnrolled(household=household))

    seeker = await matching.wait_for_seeker(member.person_id)
    assert seeker["household_id"] == str(household.household_id)
    assert seeker["age"] == matching.today.year - member.birth_year
    assert seeker["working_age"] is True
    assert seeker["street_code"] == STREET and seeker["community_code"] == STREET + "001"
    assert seeker["household_status"] == "transition"
    assert seeker["public_welfare_eligible"] is True
    assert seeker["disability_level"] == 2
    assert seeker["zero_employment_household"] is True  # one working-age member with work ability, none employed
    assert seeker["priority"] == {"tier": 1, "label": "zero_employment_household"}
    assert seeker["skills"] == ["cleaning", "cooking"]


async def test_the_newest_snapshot_wins_and_an_older_one_arriving_late_changes_nothing(matching: MatchingKit) -> None:
    person_id, household_id = await matching.seeker()
    newer = matching.person(household_id, person_id, seq=3, employment_status="employed", skills=["security"])
    older = matching.person(household_id, person_id, seq=2, employment_status="unemployed", skills=["cooking"])
    await matching.publish(PersonUpdated(person=newer))
    await matching.wait_for_seeker(person_id, lambda s: s["skills"] == ["security"])
    await matching.publish(PersonUpdated(person=older))
    await matching.seeker()  # published after the stale event: once this one is projected, so is that one
    seeker = await matching.wait_for_seeker(person_id)
    assert seeker["skills"] == ["security"]
    assert seeker["employment_status"] == "employed"
    assert seeker["zero_employment_household"] is False


async def test_zero_employment_is_computed_over_the_households_active_members(matching: MatchingKit) -> None:
    person_id, household_id = await matching.seeker()
    assert (await matching.wait_for_seeker(person_id))["zero_employment_household"] is True
    worker = matching.person(household_id, employment_status="employed")
    await matching.publish(PersonAdded(person=worker))
    await matching.wait_for_seeker(person_id, lambda s: s["zero_employment_household"] is False)
    removed = worker.model_copy(update={"seq": 2, "active": False})
    await matching.publish(PersonRemoved(person=removed))
    await matching.wait_for_seeker(person_id, lambda s: s["zero_employment_household"] is True)
    gone = await matching.client.get(seekers_url(worker.person_id), headers=ADMIN)
    assert gone.status_code == 404


async def test_an_exited_household_loses_public_welfare_eligibility(matching: MatchingKit) -> None:
    person_id, household_id = await matching.seeker()
    exited = matching.household(
        household_id, seq=2, status="exited", exit={"reason": "employment", "exited_on": "2026-06-30"}
    )
    await matching.publish(HouseholdExited(household=exited, reason="employment", exited_on=dt.date(2026, 6, 30)))
    seeker = await matching.wait_for_seeker(person_id, lambda s: s["household_status"] == "exited")
    assert seeker["public_welfare_eligible"] is False


async def test_retirement_ages_from_registry_parameters_decide_working_age(matching: MatchingKit) -> None:
    # A woman of 57: outside the default working age (55 for women) until the parameters raise it to 58.
    person_id, _ = await matching.seeker(birth_year=matching.today.year - 57)
    assert (await matching.wait_for_seeker(person_id))["working_age"] is False
    parameters = ParametersSet(
        seq=1,
        effective_from=dt.date(2000, 1, 1),
        dibao_line="900.00",
        transition_months=6,
        monitoring_years=3,
        visit_interval_days=30,
        retirement_age=RetirementAge(male=63, female=58),
    )
    await matching.publish(parameters)
    try:
        await matching.wait_for_seeker(person_id, lambda s: s["working_age"] is True)
    finally:  # put the defaults back for the other tests sharing the database
        await matching.publish(
            parameters.model_copy(update={"seq": 2, "retirement_age": RetirementAge(male=60, female=55)})
        )
        await matching.wait_for_seeker(person_id, lambda s: s["working_age"] is False)


async def test_street_workers_see_only_the_seekers_of_their_street(matching: MatchingKit) -> None:
    person_id, _ = await matching.seeker()
    own = auth("street_operator", STREET)
    other = auth("street_operator", OTHER_STREET)
    assert (await matching.client.get(seekers_url(person_id), headers=own)).status_code == 200
    assert (await matching.client.get(seekers_url(person_id), headers=other)).status_code == 404
    assert (
        await matching.client.get(seekers_url(person_id), headers=auth("employer", employer_id=str(uuid.uuid4())))
    ).status_code == 403


async def test_the_profile_is_saved_and_shapes_the_seeker(matching: MatchingKit) -> None:
    person_id, _ = await matching.seeker()
    profile = {
        "desired_occupations": ["保洁员"],
        "desired_weekly_hours": 30,
        "min_monthly_wage": "2500.00",
        "location_preference": "same_street",
        "prefers_remote": True,
        "constraints": {"max_weekly_hours": 35, "no_heavy_work": True},
    }
    saved = await matching.client.put(seekers_url(person_id, "/profile"), json=profile, headers=ADMIN)
    assert saved.status_code == 200, saved.text
    read = (await matching.client.get(seekers_url(person_id), headers=ADMIN)).json()["profile"]
    assert read["min_monthly_wage"] == "2500.00"
    assert read["constraints"] == {"max_weekly_hours": 35, "no_heavy_work": True}
    assert read["location_preference"] == "same_street"
    bad = await matching.client.put(
        seekers_url(person_id, "/profile"), json={**profile, "min_monthly_wage": "-1.00"}, headers=ADMIN
    )
    assert bad.status_code == 422
    unknown = await matching.client.put(seekers_url(uuid.uuid4(), "/profile"), json=profile, headers=ADMIN)
    assert unknown.status_code == 404


async def recommendations(matching: MatchingKit, person_id: uuid.UUID, **params: Any) -> dict[str, Any]:
    response = await matching.client.get(
        seekers_url(person_id, "/recommendations"), params={"limit": 200, **params}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def recommended_ids(body: dict[str, Any]) -> set[str]:
    return {item["posting_id"] for item in body["items"]}


async def test_recommendations_rank_explain_and_exclude_with_reasons(matching: MatchingKit) -> None:
    street = matching.fresh_street()
    neighbour = street[:6] + "999"
    person_id, _ = await matching.seeker(
        {"street_code": street, "community_code": street + "001"}, skills=["cleaning"], disability_level=1
    )
    await matching.client.put(
        seekers_url(person_id, "/profile"),
        json={"min_monthly_wage": "3000.00", "desired_weekly_hours": 40},
        headers=ADMIN,
    )
    employer_id = await matching.employer()
    best = await matching.posting(employer_id, street_code=street)
    partial = await matching.posting(employer_id, essential_skills=["cleaning", "security"], street_code=neighbour)
    heavy = await matching.posting(employer_id, physical_demand="heavy", street_code=street)

    body = await recommendations(matching, person_id, explain_excluded="true")
    items = {item["posting_id"]: item for item in body["items"]}
    assert items[best["id"]]["score"] == "1.0000"
    # essential 0.35 × 1/2, optional 0.10, wage 0.20, location 0.15 × 0.6 (same district), hours 0.10, education 0.10
    assert items[partial["id"]]["score"] == "0.7650"
    assert items[partial["id"]]["missing_skills"] == ["security"]
    assert items[partial["id"]]["contributions"]["location"] == {
        "value": "0.6000",
        "weight": "0.15",
        "contribution": "0.0900",
    }
    assert items[best["id"]]["priority"] in {"zero_employment_household", "disability"}
    order = [item["posting_id"] for item in body["items"]]
    assert order.index(best["id"]) < order.index(partial["id"])
    assert heavy["id"] not in items
    excluded = {item["posting_id"]: item for item in body["excluded"]}
    assert [r["code"] for r in excluded[heavy["id"]]["reasons"]] == ["heavy_work"]
    assert "disability level 1" in excluded[heavy["id"]]["reasons"][0]["message"]

    without = await recommendations(matching, person_id)
    assert "excluded" not in without


async def test_a_closed_posting_leaves_the_recommendations_at_once(matching: MatchingKit) -> None:
    street = matching.fresh_street()
    person_id, _ = await matching.seeker({"street_code": street, "community_code": street + "001"})
    posting = await matching.posting(await matching.employer(), street_code=street)
    assert posting["id"] in {i["posting_id"] for i in (await recommendations(matching, person_id))["items"]}
    closed = await matching.client.patch(
        f"/matching/v1/postings/{posting['id']}", json={"open": False}, headers={**ADMIN, "If-Match": '"1"'}
    )
    assert closed.status_code == 200
    assert posting["id"] not in {i["posting_id"] for i in (await recommendations(matching, person_id))["items"]}


async def test_candidates_for_a_posting_are_ranked_and_only_its_employer_may_ask(matching: MatchingKit) -> None:
    employer_id = await matching.employer()
    street = matching.fresh_street()
    home = {"street_code": street, "community_code": street + "001"}
    posting = await matching.posting(employer_id, essential_skills=["welding"], street_code=street[:6] + "999")
    welder, _ = await matching.seeker(home, skills=["welding"])
    novice, _ = await matching.seeker(home, skills=["cooking"])
    url = f"/matching/v1/postings/{posting['id']}/candidates"

    async def ranked() -> bool:
        response = await matching.client.get(url, params={"limit": 200}, headers=ADMIN)
        ids = [c["person_id"] for c in response.json()["items"]]
        return str(welder) in ids and str(novice) in ids

    await eventually(ranked, what="both candidates")
    items = (await matching.client.get(url, params={"limit": 200}, headers=ADMIN)).json()["items"]
    ids = [c["person_id"] for c in items]
    assert ids.index(str(welder)) < ids.index(str(novice))
    welder_item = items[ids.index(str(welder))]
    assert welder_item["score"] == "0.9400" and welder_item["missing_skills"] == []

    own = await matching.client.get(url, headers=auth("employer", employer_id=str(employer_id)))
    assert own.status_code == 200
    other = await matching.client.get(url, headers=auth("employer", employer_id=str(uuid.uuid4())))
    assert other.status_code == 404


async def test_a_posting_written_by_another_worker_is_seen_by_the_next_recommendation(matching: MatchingKit) -> None:
    street = matching.fresh_street()
    person_id, _ = await matching.seeker({"street_code": street, "community_code": street + "001"})
    posting = await matching.posting(await matching.employer(), street_code=street)
    assert posting["id"] in recommended_ids(await recommendations(matching, person_id))
    # Another process closes it: nothing in this process is told, only the table changes.
    async with matching.service.runtime.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE matching.postings SET open = false, version = version + 1, updated_at = now() WHERE id = :id"
            ),
            {"id": posting["id"]},
        )
    assert posting["id"] not in recommended_ids(await recommendations(matching, person_id))
    # ...and a posting inserted by it, with an updated_at older than anything the cache has seen, still shows.
    inserted = uuid.uuid4()
    async with matching.service.runtime.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO matching.postings (id, employer_id, occupation, essential_skills, optional_skills,"
                " monthly_wage, weekly_hours, street_code, district_code, remote, physical_demand, accessible,"
                " openings, valid_from, open, public_welfare, version, updated_at)"
                " SELECT :new, employer_id, occupation, essential_skills, optional_skills, monthly_wage, weekly_hours,"
                " street_code, district_code, remote, physical_demand, accessible, 1, valid_from, true, false, 1,"
                " now() - interval '2 days' FROM matching.postings WHERE id = :id"
            ),
            {"new": inserted, "id": posting["id"]},
        )
    assert str(inserted) in recommended_ids(await recommendations(matching, person_id))


RARE_SKILLS = ["sign_language", "first_aid"]


async def test_candidates_apply_every_hard_filter(matching: MatchingKit) -> None:
    street = matching.fresh_street()
    neighbour, elsewhere = street[:6] + "998", matching.fresh_street()

    def home(at: str, **household: object) -> dict[str, object]:
        return {"street_code": at, "community_code": at + "001", **household}

    async def seeker(
        at: str, profile: dict[str, object] | None = None, household: dict[str, object] | None = None, **person: object
    ) -> str:
        # A rare pair of skills that the postings ask for: these seekers rank above anyone else's in the database.
        person_id, _ = await matching.seeker(home(at, **(household or {})), skills=RARE_SKILLS, **person)
        if profile is not None:
            saved = await matching.client.put(seekers_url(person_id, "/profile"), json=profile, headers=ADMIN)
            assert saved.status_code == 200, saved.text
        return str(person_id)

    plain = await seeker(street)
    disabled = await seeker(street, disability_level=1)
    severely_disabled = await seeker(street, disability_level=3)
    chronic = await seeker(street, chronic_illness=True)
    no_heavy = await seeker(street, {"constraints": {"no_heavy_work": True}})
    part_time = await seeker(street, {"constraints": {"max_weekly_hours": 30}})
    exited = await seeker(
        street, household={"status": "exited", "exit": {"reason": "employment", "exited_on": "2026-01-31"}}
    )
    street_only = await seeker(neighbour, {"location_preference": "same_street"})
    same_district = await seeker(neighbour)
    anywhere = await seeker(elsewhere, {"location_preference": "any"})
    retired = await seeker(street, birth_year=matching.today.year - 61, sex="male")
    unable = await seeker(street, work_ability="none")
    everyone = {
        plain,
        disabled,
        severely_disabled,
        chronic,
        no_heavy,
        part_time,
        exited,
        street_only,
        same_district,
        anywhere,
        retired,
        unable,
    }

    employer_id = await matching.employer()
    demanding = await matching.posting(
        employer_id,
        street_code=street,
        physical_demand="heavy",
        accessible=False,
        public_welfare=True,
        weekly_hours=40,
        essential_skills=RARE_SKILLS,
    )
    remote = await matching.posting(
        employer_id, remote=True, street_code=None, weekly_hours=20, essential_skills=RARE_SKILLS
    )

    async def candidates(posting: dict[str, object]) -> set[str]:
        url = f"/matching/v1/postings/{posting['id']}/candidates"
        response = await matching.client.get(url, params={"limit": 200}, headers=ADMIN)
        assert response.status_code == 200, response.text
        return {c["person_id"] for c in response.json()["items"]} & everyone

    assert await candidates(demanding) == {plain, same_district, anywhere}
    assert await candidates(remote) == everyone - {retired, unable}
