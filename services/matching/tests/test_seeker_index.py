"""The seeker columns the candidates rank with give exactly the domain's `recommend_seekers`."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from uplift.matching.domain.scoring import Posting, Seeker, WorkingAge, recommend_seekers
from uplift.matching.domain.seeker_index import SeekerIndex, index_of

TODAY = date(2026, 3, 2)
RandomSeeker = Callable[[random.Random, int], Seeker]
RandomPosting = Callable[[random.Random, int], Posting]


def test_the_index_ranks_exactly_like_recommend_seekers_on_random_pools(
    random_seeker_of: RandomSeeker, random_posting_of: RandomPosting
) -> None:
    rng = random.Random(11)
    seekers = [random_seeker_of(rng, rng.randrange(1, 2**128)) for _ in range(600)]
    working_age = WorkingAge(retirement_age_male=63, retirement_age_female=58)
    index = index_of(seekers)
    compared = 0
    for number in range(1, 150):
        posting = random_posting_of(rng, number)
        for limit in (0, 1, 7, 60, 1000):
            exact = recommend_seekers(posting, seekers, TODAY, limit=limit, working_age=working_age)
            ranked, feasible = index.top(posting, TODAY, limit, working_age=working_age)
            assert [(s.person_id, units) for s, units in ranked] == [(c.seeker.person_id, c.score.units) for c in exact]
            if limit == 1000:
                assert feasible == len(exact)
            compared += len(ranked)
    assert compared > 5000  # many ranked seekers were compared, not only empty answers


def test_ties_are_broken_by_person_id_across_the_64_bit_halves(
    make_seeker: Callable[..., Seeker], make_posting: Callable[..., Posting]
) -> None:
    ids = [UUID(int=(1 << 64) + 1), UUID(int=5), UUID(int=(1 << 127) + 2), UUID(int=(1 << 64))]
    seekers = [make_seeker(person=i.int) for i in ids]
    ranked, feasible = index_of(seekers).top(make_posting(), TODAY, 10)
    assert [s.person_id for s, _units in ranked] == sorted(ids)
    assert feasible == 4 and {units for _s, units in ranked} == {10_000}


def test_updates_in_place_replace_and_remove_seekers(
    make_seeker: Callable[..., Seeker], make_posting: Callable[..., Posting]
) -> None:
    index = SeekerIndex(capacity=1)
    for number in range(1, 40):  # grows past its capacity, and past 64 skills
        index.put(make_seeker(person=number, skills=frozenset({f"skill_{number}", "cleaning"})), group="a")
    posting = make_posting(essential_skills=frozenset({"skill_39", "cleaning"}))
    assert index.top(posting, TODAY, 1)[0][0][0].person_id == UUID(int=39)
    index.put(make_seeker(person=39, skills=frozenset({"cooking"})), group="a")  # lost both skills
    index.put(make_seeker(person=70, skills=frozenset({"skill_39", "cleaning"})), group="b")
    ranked, feasible = index.top(posting, TODAY, 2)
    assert [(s.person_id.int, units) for s, units in ranked] == [(70, 10_000), (1, 8_250)]
    assert feasible == 40
    index.remove(UUID(int=70))
    assert UUID(int=70) not in index and len(index) == 39
    assert index.top(posting, TODAY, 1)[0][0][0].person_id == UUID(int=1)
    only_b = index.top(posting, TODAY, 5, group_admitted=lambda group: group == "b")
    assert only_b == ([], 0)
    index.put(make_seeker(person=71), group="b")  # takes the freed place
    assert [s.person_id.int for s, _u in index.top(posting, TODAY, 5, group_admitted=lambda g: g == "b")[0]] == [71]


def test_a_closed_or_expired_posting_has_no_candidates(
    make_seeker: Callable[..., Seeker], make_posting: Callable[..., Posting]
) -> None:
    index = index_of([make_seeker()])
    assert index.top(make_posting(open=False), TODAY, 5) == ([], 0)
    assert index.top(make_posting(valid_to=date(2026, 3, 1)), TODAY, 5) == ([], 0)
    with pytest.raises(ValueError):
        index.top(make_posting(), TODAY, -1)


def test_absurd_wages_fall_back_to_the_exact_kernel(
    make_seeker: Callable[..., Seeker], make_posting: Callable[..., Posting]
) -> None:
    rich = make_seeker(profile={"min_wage": Decimal("99999999999.99"), "desired_hours": 37})
    posting = make_posting(
        monthly_wage=Decimal("12345678901.23"),
        essential_skills=frozenset({"cleaning", "a", "b", "c", "d", "e", "f"}),
        optional_skills=frozenset({"cooking", "g", "h", "i", "j", "k"}),
    )
    exact = recommend_seekers(posting, [rich], TODAY)
    ranked, _feasible = index_of([rich]).top(posting, TODAY, 5)
    assert [(s.person_id, u) for s, u in ranked] == [(c.seeker.person_id, c.score.units) for c in exact]
    assert dataclasses.replace(rich).person_id == UUID(int=1)
