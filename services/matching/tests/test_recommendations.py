import random
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from uplift.matching.domain.scoring import (
    ExclusionCode,
    Posting,
    PostingRecommendations,
    Seeker,
    WorkingAge,
    hard_filter_reasons,
    recommend_postings,
    recommend_seekers,
    score,
)

TODAY = date(2026, 3, 2)  # as in conftest
OTHER_STREET, OTHER_DISTRICT = "420102002", "420103"

MakeSeeker = Callable[..., Seeker]
MakePosting = Callable[..., Posting]


def ids(recommendations: PostingRecommendations) -> list[int]:
    return [r.posting.posting_id.int for r in recommendations.recommended]


def test_postings_are_ranked_by_score_then_by_posting_id(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    seeker = make_seeker(skills=frozenset({"cleaning"}))
    postings = [
        make_posting(number=5, street_code=OTHER_STREET),  # 0.94: same district only
        make_posting(number=4),  # 1.0
        make_posting(number=3, essential_skills=frozenset({"cleaning", "security"})),  # 0.825
        make_posting(number=2),  # 1.0, lower id than 4
    ]
    result = recommend_postings(seeker, postings, TODAY, limit=10)
    assert ids(result) == [2, 4, 5, 3]
    assert [r.score.total for r in result.recommended] == [
        Decimal("1.0000"),
        Decimal("1.0000"),
        Decimal("0.9400"),
        Decimal("0.8250"),
    ]
    assert result.recommended[3].score.missing_skills == ("security",)
    assert result.feasible_count == 4
    assert result.priority.tier == 3


def test_the_limit_keeps_the_best_and_breaks_ties_at_the_cut_by_id(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    postings = [make_posting(number=n) for n in (9, 7, 8, 6)] + [make_posting(number=1, street_code=OTHER_STREET)]
    result = recommend_postings(make_seeker(), postings, TODAY, limit=2)
    assert ids(result) == [6, 7]
    assert result.feasible_count == 5
    assert recommend_postings(make_seeker(), postings, TODAY, limit=0).recommended == ()


def test_excluded_postings_are_explained_only_when_asked(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    postings = [
        make_posting(number=1),
        make_posting(number=2, public_welfare=True),
        make_posting(number=3, open=False, street_code="420103001", district_code=OTHER_DISTRICT),
    ]
    seeker = make_seeker(household_status="exited")
    quiet = recommend_postings(seeker, postings, TODAY)
    assert ids(quiet) == [1] and quiet.excluded == ()
    explained = recommend_postings(seeker, postings, TODAY, explain_excluded=True)
    assert ids(explained) == [1]
    assert [(e.posting.posting_id.int, [r.code for r in e.reasons]) for e in explained.excluded] == [
        (2, [ExclusionCode.PUBLIC_WELFARE_INELIGIBLE]),
        (3, [ExclusionCode.LOCATION, ExclusionCode.POSTING_CLOSED]),
    ]


def test_a_seeker_past_working_age_gets_nothing_and_is_told_why(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    retired = make_seeker(birth_year=1965, sex="male")
    postings = [make_posting(number=1), make_posting(number=2)]
    result = recommend_postings(retired, postings, TODAY, explain_excluded=True)
    assert result.recommended == () and result.feasible_count == 0
    assert [[r.code for r in e.reasons] for e in result.excluded] == [[ExclusionCode.NOT_WORKING_AGE]] * 2
    later_retirement = WorkingAge(retirement_age_male=63)
    assert ids(recommend_postings(retired, postings, TODAY, working_age=later_retirement)) == [1, 2]


def test_recommendations_carry_the_seekers_priority(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    seeker = make_seeker(zero_employment_household=True)
    result = recommend_postings(seeker, [make_posting()], TODAY)
    assert result.priority.tier == 1
    assert result.recommended[0].score.priority.label == "zero_employment_household"


def test_a_negative_limit_is_refused(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    with pytest.raises(ValueError):
        recommend_postings(make_seeker(), [make_posting()], TODAY, limit=-1)
    with pytest.raises(ValueError):
        recommend_seekers(make_posting(), [make_seeker()], TODAY, limit=-1)


def test_candidates_for_a_posting_are_ranked_and_filtered(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    posting = make_posting(essential_skills=frozenset({"cleaning", "security"}), public_welfare=True)
    seekers = [
        make_seeker(person=4, skills=frozenset({"cleaning"})),  # 0.825
        make_seeker(person=3, skills=frozenset({"cleaning", "security"})),  # 1.0
        make_seeker(person=2, skills=frozenset({"cleaning", "security"}), household_status="exited"),  # excluded
        make_seeker(person=1, skills=frozenset({"security", "cleaning"}), birth_year=2015),  # too young
        make_seeker(person=5, skills=frozenset({"security"}), street_code=OTHER_STREET),  # 0.765
    ]
    result = recommend_seekers(posting, seekers, TODAY, limit=5)
    assert [(c.seeker.person_id.int, c.score.total) for c in result] == [
        (3, Decimal("1.0000")),
        (4, Decimal("0.8250")),
        (5, Decimal("0.7650")),
    ]
    assert [c.seeker.person_id.int for c in recommend_seekers(posting, seekers, TODAY, limit=1)] == [3]


def test_ranking_equals_a_full_sort_on_random_pools(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    rng = random.Random(20260302)
    skills = ["cleaning", "cooking", "security", "driving", "sewing"]
    for _ in range(30):
        seeker = make_seeker(
            skills=frozenset(rng.sample(skills, rng.randint(0, 3))),
            disability_level=rng.choice([0, 0, 1, 3]),
            profile={
                "desired_hours": rng.choice([None, 20, 40]),
                "min_wage": rng.choice([None, Decimal("2500"), Decimal("3300")]),
                "location_pref": rng.choice(["same_street", "same_district", "any"]),
            },
        )
        postings = [
            make_posting(
                number=rng.randrange(1, 10**9),
                essential_skills=frozenset(rng.sample(skills, rng.randint(0, 2))),
                optional_skills=frozenset(rng.sample(skills, rng.randint(0, 2))),
                monthly_wage=Decimal(rng.randrange(200_000, 500_000, 50)) / 100,
                weekly_hours=rng.choice([20, 30, 40]),
                street_code=rng.choice(["420102001", OTHER_STREET, "420103001"]),
                district_code=rng.choice(["420102", OTHER_DISTRICT]),
                physical_demand=rng.choice(["light", "heavy"]),
                accessible=rng.random() < 0.5,
            )
            for _ in range(60)
        ]
        limit = rng.choice([1, 5, 20, 100])
        feasible = [p for p in postings if not hard_filter_reasons(seeker, p, TODAY)]
        expected = sorted(feasible, key=lambda p: (-score(seeker, p).units, p.posting_id))[:limit]
        result = recommend_postings(seeker, postings, TODAY, limit=limit)
        assert [r.posting for r in result.recommended] == expected
        assert result.feasible_count == len(feasible)


@pytest.mark.parametrize(
    ("sex", "birth_year", "working_age", "included"),
    [
        ("female", 1971, WorkingAge(), False),  # 55 in 2026: retired
        ("female", 1972, WorkingAge(), True),  # 54
        ("male", 1966, WorkingAge(), False),  # 60
        ("male", 1967, WorkingAge(), True),  # 59
        ("male", 1966, WorkingAge(retirement_age_male=61), True),
        ("female", 2010, WorkingAge(), True),  # 16
        ("female", 2011, WorkingAge(), False),  # 15
        ("male", 2008, WorkingAge(minimum_age=18), True),
        ("male", 2009, WorkingAge(minimum_age=18), False),
    ],
)
def test_candidates_are_only_seekers_of_working_age(
    make_seeker: MakeSeeker,
    make_posting: MakePosting,
    sex: str,
    birth_year: int,
    working_age: WorkingAge,
    included: bool,
) -> None:
    seeker = make_seeker(sex=sex, birth_year=birth_year)
    candidates = recommend_seekers(make_posting(), [seeker], TODAY, working_age=working_age)
    assert bool(candidates) is included
    assert (hard_filter_reasons(seeker, make_posting(), TODAY, working_age=working_age) == []) is included


def test_a_closed_posting_has_no_candidates(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    assert recommend_seekers(make_posting(open=False), [make_seeker()], TODAY) == ()
    assert recommend_seekers(make_posting(valid_to=date(2026, 3, 1)), [make_seeker()], TODAY) == ()
