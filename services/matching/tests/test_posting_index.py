"""The column index the recommendations rank with gives exactly the domain's exact ranking."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from uuid import UUID

from uplift.matching.domain.job_fair_edges import PostingIndex
from uplift.matching.domain.scoring import Posting, Seeker, SeekerProfile, WorkingAge, recommend_postings

TODAY = date(2026, 3, 2)
SKILLS = ["cleaning", "cooking", "security", "delivery", "warehouse", "sewing", "customer_service"]
STREETS = ["420102001", "420102002", "420103001", "420104005"]


def random_posting(rng: random.Random, make_posting: Callable[..., Posting], number: int) -> Posting:
    remote = rng.random() < 0.1
    street = rng.choice(STREETS)
    return make_posting(
        number=number,
        essential_skills=frozenset(rng.sample(SKILLS, rng.randint(0, 3))),
        optional_skills=frozenset(rng.sample(SKILLS, rng.randint(0, 2))),
        monthly_wage=Decimal(rng.randrange(200_000, 600_000, 50)) / 100,
        weekly_hours=rng.choice([16, 20, 30, 40, 44]),
        street_code=None if remote else street,
        district_code=None if remote else street[:6],
        remote=remote,
        physical_demand=rng.choice(["light", "medium", "heavy"]),
        accessible=rng.random() < 0.5,
        min_education=rng.choice([None, "junior_high", "senior_high", "college"]),
        openings=rng.choice([0, 1, 2]),
        valid_to=rng.choice([None, date(2026, 2, 1), date(2026, 12, 31)]),
        open=rng.random() < 0.9,
        public_welfare=rng.random() < 0.2,
    )


def random_seeker(rng: random.Random, make_seeker: Callable[..., Seeker], number: int) -> Seeker:
    street = rng.choice(STREETS)
    return make_seeker(
        person=number,
        birth_year=rng.choice([1960, 1975, 1990, 2012]),
        sex=rng.choice(["male", "female"]),
        disability_level=rng.choice([0, 0, 1, 3]),
        chronic_illness=rng.random() < 0.1,
        household_status=rng.choice(["enrolled", "transition", "exited"]),
        street_code=street,
        district_code=street[:6],
        skills=frozenset(rng.sample(SKILLS, rng.randint(0, 3))),
        education=rng.choice([None, "primary", "senior_high", "bachelor"]),
        profile=SeekerProfile(
            desired_hours=rng.choice([None, 20, 40]),
            max_hours=rng.choice([None, 30]),
            min_wage=rng.choice([None, Decimal("3000.00"), Decimal("4512.25")]),
            location_pref=rng.choice(["same_street", "same_district", "any"]),
            prefers_remote=rng.random() < 0.3,
            no_heavy_work=rng.random() < 0.2,
        ),
    )


def test_the_index_ranks_exactly_like_recommend_postings_over_postings_with_an_opening(
    make_seeker: Callable[..., Seeker], make_posting: Callable[..., Posting]
) -> None:
    rng = random.Random(7)
    postings = [random_posting(rng, make_posting, n) for n in range(1, 400)]
    with_openings = [p for p in postings if p.openings > 0]
    working_age = WorkingAge(retirement_age_male=63, retirement_age_female=58)
    index = PostingIndex(postings, TODAY)
    compared = 0
    for number in range(1, 120):
        seeker = random_seeker(rng, make_seeker, number)
        for limit in (0, 1, 5, 50):
            exact = recommend_postings(seeker, with_openings, TODAY, limit=limit, working_age=working_age)
            top, feasible = index.top(seeker, limit, working_age=working_age)
            assert top == [(r.posting.posting_id, r.score.units) for r in exact.recommended]
            assert feasible == exact.feasible_count
            compared += len(top)
    assert compared > 500  # the comparison covered many ranked postings, not only empty answers


def test_a_seeker_outside_working_age_gets_nothing_from_the_index(
    make_seeker: Callable[..., Seeker], make_posting: Callable[..., Posting]
) -> None:
    index = PostingIndex([make_posting()], TODAY)
    assert index.top(make_seeker(birth_year=TODAY.year - 70), 10) == ([], 0)
    assert index.top(make_seeker(work_ability="none"), 10) == ([], 0)
    ranked, feasible = index.top(make_seeker(), 10)
    assert ranked == [(UUID(int=100), 10_000)] and feasible == 1
    assert len(index) == 1
    assert len(PostingIndex([dataclasses.replace(make_posting(), openings=0)], TODAY)) == 0
