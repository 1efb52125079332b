from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uplift.matching.domain.scoring import (
    EDUCATION_ORDER,
    ExclusionCode,
    Posting,
    Seeker,
    SeekerProfile,
    SeekerTerms,
    WorkingAge,
    feasible_score_units,
    hard_filter_reasons,
    pair_score_units,
    priority_of,
    score,
    seeker_exclusions,
)

TODAY = date(2026, 3, 2)  # as in conftest
DISTRICT, STREET, OTHER_STREET, OTHER_DISTRICT = "420102", "420102001", "420102002", "420103"

MakeSeeker = Callable[..., Seeker]
MakePosting = Callable[..., Posting]


def codes(seeker: Seeker, posting: Posting, today: date = TODAY, **kwargs: Any) -> list[ExclusionCode]:
    return [reason.code for reason in hard_filter_reasons(seeker, posting, today, **kwargs)]


# --- hard filters -----------------------------------------------------------------------------------------


def test_a_matching_pair_passes_every_filter(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    assert hard_filter_reasons(make_seeker(), make_posting(), TODAY) == []


def test_a_woman_of_56_is_past_the_default_retirement_age_but_a_man_is_not(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    reasons = hard_filter_reasons(make_seeker(birth_year=1970, sex="female"), make_posting(), TODAY)
    assert [r.code for r in reasons] == [ExclusionCode.NOT_WORKING_AGE]
    assert "age 56" in reasons[0].message and "55 for women" in reasons[0].message
    assert codes(make_seeker(birth_year=1970, sex="male"), make_posting()) == []


def test_a_raised_retirement_age_parameter_keeps_her_in_working_age(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    raised = WorkingAge(retirement_age_male=63, retirement_age_female=58)
    assert codes(make_seeker(birth_year=1970, sex="female"), make_posting(), working_age=raised) == []
    assert codes(make_seeker(birth_year=1963, sex="male"), make_posting(), working_age=raised) == [
        ExclusionCode.NOT_WORKING_AGE
    ]


def test_working_age_starts_at_16_counted_from_the_birth_year(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    assert codes(make_seeker(birth_year=2010), make_posting()) == []
    assert codes(make_seeker(birth_year=2011), make_posting()) == [ExclusionCode.NOT_WORKING_AGE]


def test_a_person_without_work_ability_is_not_a_seeker(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    assert codes(make_seeker(work_ability="none"), make_posting()) == [ExclusionCode.NO_WORK_ABILITY]
    assert codes(make_seeker(work_ability="partial"), make_posting()) == []


def test_caregivers_maximum_hours_exclude_longer_postings(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    carer = make_seeker(profile={"max_hours": 24})
    reasons = hard_filter_reasons(carer, make_posting(weekly_hours=40), TODAY)
    assert [r.code for r in reasons] == [ExclusionCode.HOURS_ABOVE_MAXIMUM]
    assert "40 hours" in reasons[0].message and "maximum of 24" in reasons[0].message
    assert codes(carer, make_posting(weekly_hours=24)) == []


@pytest.mark.parametrize(
    ("changes", "cause"),
    [
        ({"disability_level": 1}, "disability level 1"),
        ({"chronic_illness": True}, "chronic or serious illness"),
        ({"profile": {"no_heavy_work": True}}, "no-heavy-work constraint"),
    ],
)
def test_heavy_work_is_excluded_for_disability_illness_or_the_constraint(
    make_seeker: MakeSeeker, make_posting: MakePosting, changes: dict[str, Any], cause: str
) -> None:
    seeker = make_seeker(**changes)
    reasons = hard_filter_reasons(seeker, make_posting(physical_demand="heavy"), TODAY)
    assert [r.code for r in reasons] == [ExclusionCode.HEAVY_WORK]
    assert cause in reasons[0].message
    assert codes(seeker, make_posting(physical_demand="medium")) == []


def test_heavy_work_is_open_to_a_healthy_seeker(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    assert codes(make_seeker(), make_posting(physical_demand="heavy")) == []


def test_inaccessible_workplaces_are_excluded_from_disability_level_3(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    inaccessible = make_posting(accessible=False)
    assert codes(make_seeker(disability_level=2), inaccessible) == []
    assert codes(make_seeker(disability_level=3), inaccessible) == [ExclusionCode.NOT_ACCESSIBLE]
    assert codes(make_seeker(disability_level=4), make_posting(accessible=True)) == []


def test_location_preference_excludes_postings_farther_than_accepted(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    other_street = make_posting(street_code=OTHER_STREET)
    other_district = make_posting(street_code="420103001", district_code=OTHER_DISTRICT)
    same_street_only = make_seeker(profile={"location_pref": "same_street"})
    reasons = hard_filter_reasons(same_street_only, other_street, TODAY)
    assert [r.code for r in reasons] == [ExclusionCode.LOCATION]
    assert OTHER_STREET in reasons[0].message and STREET in reasons[0].message
    assert codes(make_seeker(), other_street) == []  # same_district is the default
    assert codes(make_seeker(), other_district) == [ExclusionCode.LOCATION]
    assert codes(make_seeker(profile={"location_pref": "any"}), other_district) == []


def test_remote_postings_pass_any_location_preference(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    remote = make_posting(remote=True, street_code=None, district_code=None)
    assert codes(make_seeker(profile={"location_pref": "same_street"}), remote) == []


def test_public_welfare_postings_are_for_households_in_the_programme(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    welfare = make_posting(public_welfare=True)
    assert codes(make_seeker(household_status="enrolled"), welfare) == []
    assert codes(make_seeker(household_status="transition"), welfare) == []
    assert codes(make_seeker(household_status="exited"), welfare) == [ExclusionCode.PUBLIC_WELFARE_INELIGIBLE]
    assert codes(make_seeker(household_status="exited"), make_posting()) == []


def test_a_posting_must_be_open_and_valid_today_both_ends_inclusive(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    seeker = make_seeker()
    assert codes(seeker, make_posting(open=False)) == [ExclusionCode.POSTING_CLOSED]
    assert codes(seeker, make_posting(valid_to=date(2026, 3, 1))) == [ExclusionCode.POSTING_NOT_VALID]
    assert codes(seeker, make_posting(valid_from=date(2026, 3, 3))) == [ExclusionCode.POSTING_NOT_VALID]
    assert codes(seeker, make_posting(valid_from=TODAY, valid_to=TODAY)) == []
    assert codes(seeker, make_posting(valid_to=None)) == []


def test_every_failing_filter_is_reported(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    seeker = make_seeker(birth_year=1960, disability_level=3, household_status="exited", profile={"max_hours": 20})
    posting = make_posting(
        physical_demand="heavy",
        accessible=False,
        public_welfare=True,
        open=False,
        weekly_hours=44,
        street_code="420103001",
        district_code=OTHER_DISTRICT,
    )
    assert codes(seeker, posting) == [
        ExclusionCode.NOT_WORKING_AGE,
        ExclusionCode.HOURS_ABOVE_MAXIMUM,
        ExclusionCode.HEAVY_WORK,
        ExclusionCode.NOT_ACCESSIBLE,
        ExclusionCode.LOCATION,
        ExclusionCode.PUBLIC_WELFARE_INELIGIBLE,
        ExclusionCode.POSTING_CLOSED,
    ]


# --- the score --------------------------------------------------------------------------------------------


def test_each_component_is_weighted_as_the_domain_says(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    seeker = make_seeker(
        skills=frozenset({"cleaning", "cooking"}),
        education="junior_high",
        profile={"min_wage": Decimal("3000"), "desired_hours": 40},
    )
    posting = make_posting(
        essential_skills=frozenset({"cleaning", "cooking", "security"}),
        optional_skills=frozenset({"driving", "cashier"}),
        monthly_wage=Decimal("2700.00"),
        weekly_hours=30,
        street_code=OTHER_STREET,
        min_education="senior_high",
    )
    result = score(seeker, posting)
    values = {name: (c.value, c.contribution) for name, c in result.contributions.items()}
    assert values == {
        "essential_skills": (Decimal("0.6667"), Decimal("0.2333")),  # 2 of 3 × 0.35
        "optional_skills": (Decimal("0.0000"), Decimal("0.0000")),
        "wage": (Decimal("0.9000"), Decimal("0.1800")),  # 2700 / 3000
        "location": (Decimal("0.6000"), Decimal("0.0900")),  # same district, other street
        "hours": (Decimal("0.7500"), Decimal("0.0750")),  # 1 − 10 / 40
        "education": (Decimal("0.0000"), Decimal("0.0000")),  # junior high < senior high
    }
    assert [c.weight for c in result.contributions.values()] == [
        Decimal("0.35"),
        Decimal("0.10"),
        Decimal("0.20"),
        Decimal("0.15"),
        Decimal("0.10"),
        Decimal("0.10"),
    ]
    assert result.total == Decimal("0.5783")  # 0.578333…
    assert result.units == 5783
    assert result.missing_skills == ("security",)


def test_a_pair_with_nothing_required_and_nothing_wanted_scores_one(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    result = score(make_seeker(skills=frozenset()), make_posting(essential_skills=frozenset()))
    assert result.total == Decimal("1.0000")
    assert result.missing_skills == ()


def test_the_total_rounds_half_up_where_floats_would_round_down(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    # 0.35 × 3/8 = 0.13125 exactly; + optional 0.1 + wage 0.2 + other district 0 + hours 0.1 + education 0.1
    # = 0.63125 exactly, which is 0.63124999… as a binary float and 0.6312 under banker's rounding.
    seeker = make_seeker(skills=frozenset({"s1", "s2", "s3"}), profile={"location_pref": "any"})
    posting = make_posting(
        essential_skills=frozenset(f"s{i}" for i in range(1, 9)),
        street_code="420103001",
        district_code=OTHER_DISTRICT,
    )
    assert round(0.63125, 4) == 0.6312  # what a float implementation would answer
    result = score(seeker, posting)
    assert result.total == Decimal("0.6313")
    assert result.contributions["essential_skills"].contribution == Decimal("0.1313")
    assert pair_score_units(SeekerTerms.of(seeker), posting, TODAY) == 6313


def test_wage_fit_caps_at_one_and_is_one_without_a_minimum(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    rich = make_posting(monthly_wage=Decimal("6000.00"))
    assert score(make_seeker(profile={"min_wage": Decimal("3000")}), rich).contributions["wage"].value == 1
    poor = make_posting(monthly_wage=Decimal("1000.00"))
    assert score(make_seeker(), poor).contributions["wage"].value == 1
    assert score(make_seeker(profile={"min_wage": Decimal("3000")}), poor).contributions["wage"].value == Decimal(
        "0.3333"
    )


@pytest.mark.parametrize(("prefers_remote", "expected"), [(True, Decimal("1.0000")), (False, Decimal("0.6000"))])
def test_a_remote_posting_scores_location_by_the_remote_preference(
    make_seeker: MakeSeeker, make_posting: MakePosting, prefers_remote: bool, expected: Decimal
) -> None:
    remote = make_posting(remote=True, street_code=None, district_code=None)
    seeker = make_seeker(profile={"prefers_remote": prefers_remote})
    assert score(seeker, remote).contributions["location"].value == expected


def test_location_scores_same_street_one_same_district_point_six_other_zero(
    make_seeker: MakeSeeker, make_posting: MakePosting
) -> None:
    seeker = make_seeker(profile={"location_pref": "any"})
    elsewhere = make_posting(street_code="420103001", district_code=OTHER_DISTRICT)
    values = [
        score(seeker, p).contributions["location"].value
        for p in (make_posting(), make_posting(street_code=OTHER_STREET), elsewhere)
    ]
    assert values == [Decimal("1.0000"), Decimal("0.6000"), Decimal("0.0000")]


def test_hours_fit_is_symmetric_around_the_desired_hours(make_seeker: MakeSeeker, make_posting: MakePosting) -> None:
    seeker = make_seeker(profile={"desired_hours": 30})
    longer = score(seeker, make_posting(weekly_hours=40)).contributions["hours"].value
    shorter = score(seeker, make_posting(weekly_hours=20)).contributions["hours"].value
    assert longer == Decimal("0.7500")  # 1 − 10/40
    assert shorter == Decimal("0.6667")  # 1 − 10/30
    assert score(make_seeker(), make_posting(weekly_hours=60)).contributions["hours"].value == 1


@pytest.mark.parametrize(
    ("seeker_level", "minimum", "meets"),
    [
        ("vocational", "senior_high", True),
        ("senior_high", "vocational", False),
        ("college", "bachelor", False),
        ("postgraduate", "bachelor", True),
        ("primary", "primary", True),
        (None, None, True),
        (None, "primary", False),
    ],
)
def test_education_follows_the_domain_order(
    make_seeker: MakeSeeker, make_posting: MakePosting, seeker_level: Any, minimum: Any, meets: bool
) -> None:
    result = score(make_seeker(education=seeker_level), make_posting(min_education=minimum))
    assert result.contributions["education"].value == (1 if meets else 0)
    assert EDUCATION_ORDER.index("vocational") < EDUCATION_ORDER.index("college")


def test_priority_tiers(make_seeker: MakeSeeker) -> None:
    assert priority_of(make_seeker(zero_employment_household=True, disability_level=2)).tier == 1
    assert priority_of(make_seeker(disability_level=1)).tier == 2
    assert priority_of(make_seeker()).tier == 3
    assert priority_of(make_seeker(zero_employment_household=True)).label == "zero_employment_household"


@settings(max_examples=150, deadline=None)
@given(
    sex=st.sampled_from(["male", "female"]),
    birth_year=st.integers(1972, 2010),
    disability_level=st.integers(0, 4),
)
def test_sex_age_and_disability_never_change_the_score(
    make_seeker: MakeSeeker, make_posting: MakePosting, sex: Any, birth_year: int, disability_level: int
) -> None:
    posting = make_posting(
        essential_skills=frozenset({"cleaning", "security"}),
        optional_skills=frozenset({"cooking"}),
        weekly_hours=36,
        street_code=OTHER_STREET,
        accessible=True,
        physical_demand="light",
    )
    profile = {"desired_hours": 30, "min_wage": Decimal("3200")}
    baseline = score(make_seeker(profile=profile), posting)
    varied = make_seeker(profile=profile, sex=sex, birth_year=birth_year, disability_level=disability_level)
    assert hard_filter_reasons(varied, posting, TODAY) == []  # all within working age, all filters pass
    result = score(varied, posting)
    assert (result.total, result.contributions, result.missing_skills) == (
        baseline.total,
        baseline.contributions,
        baseline.missing_skills,
    )
    assert feasible_score_units(varied, posting, TODAY) == baseline.units


# --- the ranking kernel agrees with score() and with the filters ------------------------------------------

_SKILLS = ["cleaning", "cooking", "security", "driving", "sewing", "cashier"]
_PLACES = [(STREET, DISTRICT), (OTHER_STREET, DISTRICT), ("420103001", OTHER_DISTRICT), (None, None)]
_skill_sets = st.frozensets(st.sampled_from(_SKILLS), max_size=5)


def draw_pair(draw: Callable[..., Any], make_seeker: MakeSeeker, make_posting: MakePosting) -> tuple[Seeker, Posting]:
    street, district = draw(st.sampled_from(_PLACES[:3]))
    seeker = make_seeker(
        birth_year=draw(st.integers(1960, 2012)),
        sex=draw(st.sampled_from(["male", "female"])),
        disability_level=draw(st.integers(0, 4)),
        chronic_illness=draw(st.booleans()),
        household_status=draw(st.sampled_from(["enrolled", "transition", "exited"])),
        street_code=street,
        district_code=district,
        skills=draw(_skill_sets),
        education=draw(st.sampled_from([None, *EDUCATION_ORDER])),
        profile=SeekerProfile(
            desired_hours=draw(st.none() | st.integers(1, 60)),
            max_hours=draw(st.none() | st.integers(1, 60)),
            min_wage=draw(st.none() | st.integers(0, 900_000).map(lambda c: Decimal(c) / 100)),
            location_pref=draw(st.sampled_from(["same_street", "same_district", "any"])),
            prefers_remote=draw(st.booleans()),
            no_heavy_work=draw(st.booleans()),
        ),
    )
    p_street, p_district = draw(st.sampled_from(_PLACES))
    posting = make_posting(
        essential_skills=draw(_skill_sets),
        optional_skills=draw(_skill_sets),
        monthly_wage=Decimal(draw(st.integers(0, 900_000))) / 100,
        weekly_hours=draw(st.integers(1, 60)),
        street_code=p_street,
        district_code=p_district,
        remote=p_street is None or draw(st.booleans()),
        physical_demand=draw(st.sampled_from(["light", "medium", "heavy"])),
        accessible=draw(st.booleans()),
        min_education=draw(st.sampled_from([None, *EDUCATION_ORDER])),
        valid_from=draw(st.dates(date(2026, 1, 1), date(2026, 4, 1))),
        valid_to=draw(st.none() | st.dates(date(2026, 2, 1), date(2026, 6, 1))),
        open=draw(st.booleans()),
        public_welfare=draw(st.booleans()),
    )
    return seeker, posting


@settings(max_examples=600, deadline=None)
@given(data=st.data())
def test_the_ranking_kernel_agrees_with_score_and_the_filters(
    make_seeker: MakeSeeker, make_posting: MakePosting, data: st.DataObject
) -> None:
    seeker, posting = draw_pair(data.draw, make_seeker, make_posting)
    reasons = hard_filter_reasons(seeker, posting, TODAY)
    units = feasible_score_units(seeker, posting, TODAY)
    if reasons:
        assert units is None
    else:
        assert units == score(seeker, posting).units
    if not seeker_exclusions(seeker, TODAY):
        kernel = pair_score_units(SeekerTerms.of(seeker), posting, TODAY)
        assert (kernel < 0) == bool(reasons)
