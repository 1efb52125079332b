"""The excluded postings are counted exactly as `recommend_postings` explains them, and the first few explained in
the documented order (location-admitted first, then fewer reasons, then posting id)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import date

import pytest

from uplift.matching.domain.posting_exclusions import PostingExclusions
from uplift.matching.domain.scoring import ExclusionCode, Posting, Seeker, WorkingAge, recommend_postings

TODAY = date(2026, 3, 2)


def test_exclusions_are_counted_and_explained_like_recommend_postings(
    random_seeker_of: Callable[[random.Random, int], Seeker],
    random_posting_of: Callable[[random.Random, int], Posting],
) -> None:
    rng = random.Random(5)
    postings = [random_posting_of(rng, rng.randrange(1, 2**128)) for _ in range(300)]
    exclusions = PostingExclusions(postings)
    working_age = WorkingAge(retirement_age_male=63, retirement_age_female=58)
    for number in range(1, 120):
        seeker = random_seeker_of(rng, number)
        exact = recommend_postings(seeker, postings, TODAY, limit=0, explain_excluded=True, working_age=working_age)
        everything = exclusions.excluded(seeker, TODAY, len(postings), working_age=working_age)
        assert everything.count == len(exact.excluded) == len(postings) - exact.feasible_count
        assert {e.posting.posting_id: e.reasons for e in everything.explained} == {
            e.posting.posting_id: e.reasons for e in exact.excluded
        }
        assert everything.by_reason == Counter(r.code for e in exact.excluded for r in e.reasons)

        def documented_order(item: object) -> tuple[bool, int, int]:
            codes = [r.code for r in item.reasons]  # type: ignore[attr-defined]
            return ExclusionCode.LOCATION in codes, len(codes), item.posting.posting_id.int  # type: ignore[attr-defined]

        expected = sorted(exact.excluded, key=documented_order)
        assert list(everything.explained) == expected
        first = exclusions.excluded(seeker, TODAY, 7, working_age=working_age)
        assert list(first.explained) == expected[:7] and first.count == everything.count


def test_a_seeker_outside_working_age_has_every_posting_excluded(
    make_seeker: Callable[..., Seeker], make_posting: Callable[..., Posting]
) -> None:
    postings = [make_posting(number=2), make_posting(number=1, street_code="420103001", district_code="420103")]
    result = PostingExclusions(postings).excluded(make_seeker(birth_year=1950), TODAY, 1)
    assert result.count == 2
    assert result.by_reason == {ExclusionCode.NOT_WORKING_AGE: 2, ExclusionCode.LOCATION: 1}
    assert [(e.posting.posting_id.int, [r.code for r in e.reasons]) for e in result.explained] == [
        (2, [ExclusionCode.NOT_WORKING_AGE])
    ]
    with pytest.raises(ValueError):
        PostingExclusions(postings).excluded(make_seeker(), TODAY, -1)
