import random
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from uuid import UUID

from uplift.matching.domain.assignment import assign_job_fair
from uplift.matching.domain.job_fair_edges import build_job_fair_edges
from uplift.matching.domain.scoring import (
    EDUCATION_ORDER,
    Posting,
    Seeker,
    hard_filter_reasons,
    score,
)

TODAY = date(2026, 3, 2)  # as in conftest
STREETS = [("420102001", "420102"), ("420102002", "420102"), ("420103001", "420103")]

MakeSeeker = Callable[..., Seeker]
MakePosting = Callable[..., Posting]


def expected_edges(seeker: Seeker, postings: list[Posting], k: int) -> list[tuple[UUID, int]]:
    """The definition, pair by pair: feasible postings with an opening, best score first, ties by id."""
    feasible = [
        (score(seeker, p).units, p.posting_id)
        for p in postings
        if p.openings > 0 and not hard_filter_reasons(seeker, p, TODAY)
    ]
    return [(posting_id, units) for units, posting_id in sorted(feasible, key=lambda e: (-e[0], e[1]))[:k]]


def random_fair(
    rng: random.Random, make_seeker: MakeSeeker, make_posting: MakePosting, skills: list[str]
) -> tuple[list[Seeker], list[Posting]]:
    postings = []
    for _ in range(120):
        street, district = rng.choice(STREETS)
        remote = rng.random() < 0.15
        postings.append(
            make_posting(
                number=rng.randrange(1, 10**9),
                essential_skills=frozenset(rng.sample(skills, rng.randint(0, min(8, len(skills))))),
                optional_skills=frozenset(rng.sample(skills, rng.randint(0, 3))),
                monthly_wage=Decimal(rng.randrange(150_000, 600_000, 50)) / 100,
                weekly_hours=rng.choice([16, 20, 30, 32, 40, 44]),
                street_code=None if remote else street,
                district_code=None if remote else district,
                remote=remote,
                physical_demand=rng.choice(["light", "medium", "heavy"]),
                accessible=rng.random() < 0.5,
                min_education=rng.choice([None, *EDUCATION_ORDER[:6]]),
                openings=rng.choice([0, 1, 2]),
                valid_to=rng.choice([None, date(2026, 3, 1), date(2026, 6, 30)]),
                open=rng.random() < 0.9,
                public_welfare=rng.random() < 0.2,
            )
        )
    seekers = []
    for n in range(40):
        street, district = rng.choice(STREETS)
        seekers.append(
            make_seeker(
                person=n + 1,
                birth_year=rng.randint(1960, 2011),
                sex=rng.choice(["male", "female"]),
                disability_level=rng.choice([0, 0, 0, 1, 2, 3, 4]),
                chronic_illness=rng.random() < 0.1,
                household_status=rng.choice(["enrolled", "transition", "exited"]),
                zero_employment_household=rng.random() < 0.2,
                street_code=street,
                district_code=district,
                skills=frozenset(rng.sample(skills, rng.randint(0, min(10, len(skills))))) | {"not_in_any_posting"},
                education=rng.choice([None, *EDUCATION_ORDER]),
                profile={
                    "desired_hours": rng.choice([None, 20, 30, 40]),
                    "max_hours": rng.choice([None, None, 30]),
                    "min_wage": rng.choice([None, Decimal("2400"), Decimal("3333.33")]),
                    "location_pref": rng.choice(["same_street", "same_district", "any"]),
                    "prefers_remote": rng.random() < 0.3,
                    "no_heavy_work": rng.random() < 0.1,
                },
            )
        )
    return seekers, postings


def test_edges_are_each_seekers_exact_top_k(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    rng = random.Random(42)
    skills = ["cleaning", "cooking", "security", "driving", "sewing", "cashier", "warehouse", "delivery"]
    compared = 0
    for k in (1, 3, 50):
        seekers, postings = random_fair(rng, make_seeker, make_posting, skills)
        invited = build_job_fair_edges(seekers, postings, TODAY, k=k)
        assert [s.person_id for s in invited] == [s.person_id for s in seekers]
        for seeker, fair_seeker in zip(seekers, invited, strict=True):
            assert list(fair_seeker.edges) == expected_edges(seeker, postings, k)
            compared += len(fair_seeker.edges)
    assert compared > 200


def test_more_than_64_skill_codes_are_counted_across_bitset_words(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    rng = random.Random(64)
    skills = [f"skill_{i:03d}" for i in range(150)]
    seekers, postings = random_fair(rng, make_seeker, make_posting, skills)
    invited = build_job_fair_edges(seekers, postings, TODAY, k=10)
    for seeker, fair_seeker in zip(seekers, invited, strict=True):
        assert list(fair_seeker.edges) == expected_edges(seeker, postings, 10)


def test_public_welfare_postings_reach_only_households_in_the_programme(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    welfare = make_posting(number=1, public_welfare=True, openings=5)
    ordinary = make_posting(number=2, openings=5)
    seekers = [
        make_seeker(person=1, household_status="enrolled"),
        make_seeker(person=2, household_status="transition"),
        make_seeker(person=3, household_status="exited", zero_employment_household=True),
    ]
    invited = build_job_fair_edges(seekers, [welfare, ordinary], TODAY)
    reachable = {s.person_id.int: sorted(p.int for p, _units in s.edges) for s in invited}
    assert reachable == {1: [1, 2], 2: [1, 2], 3: [2]}
    result = assign_job_fair(invited, {welfare.posting_id: 5, ordinary.posting_id: 5})
    for assignment in result.assignments:
        if assignment.posting_id == welfare.posting_id:
            assert assignment.person_id.int in (1, 2)


def test_closed_expired_or_full_postings_give_no_edges_and_retired_seekers_stay_invited(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    postings = [
        make_posting(number=1, open=False),
        make_posting(number=2, valid_to=date(2026, 3, 1)),
        make_posting(number=3, openings=0),
        make_posting(number=4),
    ]
    seekers = [make_seeker(person=1), make_seeker(person=2, birth_year=1960, disability_level=2)]
    invited = build_job_fair_edges(seekers, postings, TODAY)
    assert [(s.person_id.int, s.tier, [p.int for p, _u in s.edges]) for s in invited] == [(1, 3, [4]), (2, 2, [])]
    assert invited[0].edges[0][1] == 10_000
