"""Seekers as columns, for ranking the candidates of one posting (DOMAIN.md §8) in a few milliseconds.

`recommend_seekers` scores every seeker with the exact per-pair kernel: about 10 µs a seeker, half a second over
50,000 before any database work. Here the seekers are columns (numpy arrays) that a per-process cache keeps up to
date row by row, and the posting is fixed, so every hard filter is one vector comparison and the score is exact
integer arithmetic on vectors: with the posting's skill counts, wage and hours fixed, the weighted sum is the
same integer fraction `scoring.pair_score_units` accumulates, and fits in int64 for any realistic wage (a guard
falls back to the exact kernel otherwise). `top()` is therefore exactly `recommend_seekers`: the same filters,
the same units, ties by person id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from fractions import Fraction
from uuid import UUID

import numpy as np
import numpy.typing as npt

from uplift.matching.domain.scoring import (
    COMPONENT_WEIGHTS,
    DEFAULT_WORKING_AGE,
    LOCATION_REMOTE_NOT_PREFERRED,
    LOCATION_REMOTE_PREFERRED,
    LOCATION_SAME_DISTRICT,
    LOCATION_SAME_STREET,
    SCORE_UNITS_PER_ONE,
    Posting,
    Seeker,
    WorkingAge,
    pair_score_units,
)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
WordArray = npt.NDArray[np.uint64]


def _units(component: str, share: Fraction = Fraction(1)) -> int:
    value = Fraction(COMPONENT_WEIGHTS[component]) * share * SCORE_UNITS_PER_ONE
    assert value.denominator == 1, f"{component} × {share} is not a whole number of score units"
    return int(value)


_ESSENTIAL = _units("essential_skills")
_OPTIONAL = _units("optional_skills")
_WAGE = _units("wage")
_HOURS = _units("hours")
_EDUCATION = _units("education")
_SAME_STREET = _units("location", LOCATION_SAME_STREET)
_SAME_DISTRICT = _units("location", LOCATION_SAME_DISTRICT)
_REMOTE_PREFERRED = _units("location", LOCATION_REMOTE_PREFERRED)
_REMOTE_NOT_PREFERRED = _units("location", LOCATION_REMOTE_NOT_PREFERRED)
_NO_MAXIMUM = np.iinfo(np.int64).max
_INT64_SAFE = 2**62
_LOW_64 = (1 << 64) - 1


class _Codes:
    """Small integer ids for codes (streets, districts, groups), so that comparisons run on int arrays."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def id_of(self, code: str) -> int:
        return self.ids.setdefault(code, len(self.ids))

    def known(self, code: str | None) -> int:
        return -2 if code is None else self.ids.get(code, -2)  # -2 matches no seeker


class SeekerIndex:
    """Every seeker of the process as columns, updated in place (`put`, `remove`), ranked per posting (`top`).

    Each seeker may carry a `group` label (its community code) that `top` can filter on, so that callers scoped
    to part of the district see only their seekers without a second pass.
    """

    _INT_COLUMNS = (
        "birth_year",
        "max_hours",
        "street",
        "district",
        "group",
        "min_wage_cents",
        "desired_hours",
        "education_rank",
    )
    _BOOL_COLUMNS = (
        "present",
        "male",
        "able",
        "excludes_heavy",
        "needs_accessible",
        "public_welfare_eligible",
        "accepts_same_district",
        "accepts_other_district",
        "prefers_remote",
    )

    def __init__(self, seekers: Iterable[tuple[Seeker, str]] = (), capacity: int = 1024) -> None:
        self._capacity = max(capacity, 16)
        self._size = 0
        self._ints = {name: np.zeros(self._capacity, dtype=np.int64) for name in self._INT_COLUMNS}
        self._bools = {name: np.zeros(self._capacity, dtype=np.bool_) for name in self._BOOL_COLUMNS}
        self._id_high = np.zeros(self._capacity, dtype=np.uint64)
        self._id_low = np.zeros(self._capacity, dtype=np.uint64)
        self._skill_bit: dict[str, int] = {}
        self._words = np.zeros((1, self._capacity), dtype=np.uint64)
        self._seekers: list[Seeker | None] = []
        self._position: dict[UUID, int] = {}
        self._free: list[int] = []
        self._places = _Codes()
        self._groups = _Codes()
        for seeker, group in seekers:
            self.put(seeker, group)

    def __len__(self) -> int:
        return len(self._position)

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._position

    def get(self, person_id: UUID) -> Seeker | None:
        position = self._position.get(person_id)
        return None if position is None else self._seekers[position]

    # --- updates ------------------------------------------------------------------------------------------

    def _grow(self) -> None:
        capacity = self._capacity * 2
        for columns in (self._ints, self._bools):
            for name, column in columns.items():
                grown = np.zeros(capacity, dtype=column.dtype)
                grown[: self._capacity] = column
                columns[name] = grown  # type: ignore[assignment]
        for name in ("_id_high", "_id_low"):
            grown_ids = np.zeros(capacity, dtype=np.uint64)
            grown_ids[: self._capacity] = getattr(self, name)
            setattr(self, name, grown_ids)
        words = np.zeros((self._words.shape[0], capacity), dtype=np.uint64)
        words[:, : self._capacity] = self._words
        self._words = words
        self._capacity = capacity

    def _bit_of(self, skill: str) -> int:
        bit = self._skill_bit.get(skill)
        if bit is None:
            bit = self._skill_bit[skill] = len(self._skill_bit)
            if bit // 64 >= self._words.shape[0]:
                self._words = np.vstack([self._words, np.zeros((1, self._capacity), dtype=np.uint64)])
        return bit

    def put(self, seeker: Seeker, group: str = "") -> None:
        """Add the seeker, or replace the one with its person id."""
        position = self._position.get(seeker.person_id)
        if position is None:
            if self._free:
                position = self._free.pop()
            else:
                if self._size == self._capacity:
                    self._grow()
                position = self._size
                self._size += 1
                self._seekers.append(None)
            self._position[seeker.person_id] = position
        self._seekers[position] = seeker
        profile, terms = seeker.profile, seeker.terms
        ints, bools = self._ints, self._bools
        ints["birth_year"][position] = seeker.birth_year
        ints["max_hours"][position] = profile.max_hours if profile.max_hours is not None else _NO_MAXIMUM
        ints["street"][position] = self._places.id_of(seeker.street_code)
        ints["district"][position] = self._places.id_of(seeker.district_code)
        ints["group"][position] = self._groups.id_of(group)
        ints["min_wage_cents"][position] = profile.min_wage_cents
        ints["desired_hours"][position] = profile.desired_hours or 0
        ints["education_rank"][position] = terms.education_rank
        bools["present"][position] = True
        bools["male"][position] = seeker.sex == "male"
        bools["able"][position] = seeker.work_ability != "none"
        bools["excludes_heavy"][position] = terms.excludes_heavy
        bools["needs_accessible"][position] = terms.needs_accessible
        bools["public_welfare_eligible"][position] = terms.public_welfare_eligible
        bools["accepts_same_district"][position] = terms.accepts_same_district
        bools["accepts_other_district"][position] = terms.accepts_other_district
        bools["prefers_remote"][position] = profile.prefers_remote
        number = seeker.person_id.int
        self._id_high[position] = number >> 64
        self._id_low[position] = number & _LOW_64
        words = [0] * self._words.shape[0]
        for skill in seeker.skills:
            bit = self._bit_of(skill)
            if bit // 64 >= len(words):
                words.extend([0] * (bit // 64 + 1 - len(words)))
            words[bit // 64] |= 1 << (bit % 64)
        self._words[:, position] = np.array(words, dtype=np.uint64)

    def remove(self, person_id: UUID) -> None:
        position = self._position.pop(person_id, None)
        if position is not None:
            self._bools["present"][position] = False
            self._seekers[position] = None
            self._free.append(position)

    # --- ranking ------------------------------------------------------------------------------------------

    def _posting_words(self, skills: frozenset[str]) -> list[int]:
        words = [0] * self._words.shape[0]
        for skill in skills:
            bit = self._skill_bit.get(skill)  # a skill no seeker has adds nothing (but counts in the share)
            if bit is not None:
                words[bit // 64] |= 1 << (bit % 64)
        return words

    def _hits(self, rows: IntArray, skills: frozenset[str]) -> IntArray:
        hits = np.zeros(len(rows), dtype=np.int64)
        for word_row, word in enumerate(self._posting_words(skills)):
            if word:
                hits += np.bitwise_count(self._words[word_row, rows] & np.uint64(word)).astype(np.int64)
        return hits

    def top(
        self,
        posting: Posting,
        today: date,
        k: int,
        *,
        working_age: WorkingAge = DEFAULT_WORKING_AGE,
        group_admitted: Callable[[str], bool] | None = None,
    ) -> tuple[list[tuple[Seeker, int]], int]:
        """The k best seekers for the posting with their score units (units descending, then person id), and how
        many passed every hard filter. With `group_admitted`, only seekers whose group it admits count."""
        if k < 0:
            raise ValueError(f"k cannot be negative, got {k}")
        if not posting.open or not posting.valid_on(today) or self._size == 0:
            return [], 0
        n = self._size
        ints = {name: column[:n] for name, column in self._ints.items()}
        bools = {name: column[:n] for name, column in self._bools.items()}
        last_birth_year = today.year - working_age.minimum_age
        first_birth_year = np.where(
            bools["male"],
            today.year - working_age.retirement_age_male + 1,
            today.year - working_age.retirement_age_female + 1,
        )
        birth_year = ints["birth_year"]
        ok = bools["present"] & bools["able"] & (birth_year <= last_birth_year) & (birth_year >= first_birth_year)
        ok &= ints["max_hours"] >= posting.weekly_hours
        if posting.heavy:
            ok &= ~bools["excludes_heavy"]
        if not posting.accessible:
            ok &= ~bools["needs_accessible"]
        if posting.public_welfare:
            ok &= bools["public_welfare_eligible"]
        if group_admitted is not None:
            admitted = np.array([group_admitted(code) for code in self._groups.ids] or [False], dtype=np.bool_)
            ok &= admitted[ints["group"]]
        if posting.remote:
            rows = np.flatnonzero(ok)
            whole = np.where(bools["prefers_remote"][rows], _REMOTE_PREFERRED, _REMOTE_NOT_PREFERRED)
        else:
            same_street = ints["street"] == self._places.known(posting.street_code)
            same_district = ~same_street & (ints["district"] == self._places.known(posting.district_code))
            ok &= (
                same_street
                | (same_district & bools["accepts_same_district"])
                | (~same_street & ~same_district & bools["accepts_other_district"])
            )
            rows = np.flatnonzero(ok)
            whole = np.where(same_street[rows], _SAME_STREET, np.where(same_district[rows], _SAME_DISTRICT, 0))
        feasible = len(rows)
        if feasible == 0 or k == 0:
            return [], feasible
        whole = whole + np.where(ints["education_rank"][rows] >= posting.min_education_rank, _EDUCATION, 0)
        units = self._exact_units(posting, today, rows, whole.astype(np.int64))
        if k < feasible:
            threshold = np.partition(units, feasible - k)[feasible - k]
            chosen = np.flatnonzero(units >= threshold)
        else:
            chosen = np.arange(feasible)
        chosen_rows, chosen_units = rows[chosen], units[chosen]
        order = np.lexsort((self._id_low[chosen_rows], self._id_high[chosen_rows], -chosen_units))[:k]
        best: list[tuple[Seeker, int]] = []
        for position, pair_units in zip(chosen_rows[order].tolist(), chosen_units[order].tolist(), strict=True):
            seeker = self._seekers[position]
            assert seeker is not None
            best.append((seeker, pair_units))
        return best, feasible

    def _exact_units(self, posting: Posting, today: date, rows: IntArray, whole: IntArray) -> IntArray:
        """Score units of the feasible rows, as `pair_score_units` adds them: one integer fraction, rounded
        half-up."""
        essential, optional = len(posting.essential_skills), len(posting.optional_skills)
        min_wage = self._ints["min_wage_cents"][rows]
        desired = self._ints["desired_hours"][rows]
        hours, wage = posting.weekly_hours, posting.wage_cents
        largest_denominator = (
            max(essential, 1) * max(optional, 1) * max(int(min_wage.max()), 1) * max(int(desired.max()), hours, 1)
        )
        if (2 * SCORE_UNITS_PER_ONE + 1) * largest_denominator >= _INT64_SAFE:  # absurd wages: the exact kernel
            exact = [pair_score_units(self._seeker_at(p).terms, posting, today) for p in rows.tolist()]
            return np.array(exact, dtype=np.int64)
        if essential:
            numerator = _ESSENTIAL * self._hits(rows, posting.essential_skills)
            denominator = np.full(len(rows), essential, dtype=np.int64)
        else:
            numerator = np.full(len(rows), _ESSENTIAL, dtype=np.int64)
            denominator = np.ones(len(rows), dtype=np.int64)
        if optional:
            numerator = numerator * optional + _OPTIONAL * self._hits(rows, posting.optional_skills) * denominator
            denominator = denominator * optional
        else:
            numerator = numerator + _OPTIONAL * denominator
        has_minimum = min_wage > 0
        minimum = np.where(has_minimum, min_wage, 1)
        numerator = np.where(
            has_minimum,
            numerator * minimum + _WAGE * np.minimum(wage, minimum) * denominator,
            numerator + _WAGE * denominator,
        )
        denominator = denominator * minimum
        has_desire = desired > 0
        high = np.where(has_desire, np.maximum(desired, hours), 1)
        low = np.minimum(desired, hours)
        numerator = np.where(
            has_desire, numerator * high + _HOURS * low * denominator, numerator + _HOURS * denominator
        )
        denominator = denominator * high
        numerator = numerator + whole * denominator
        units: IntArray = (2 * numerator + denominator) // (2 * denominator)
        return units

    def _seeker_at(self, position: int) -> Seeker:
        seeker = self._seekers[position]
        assert seeker is not None
        return seeker


def index_of(seekers: Sequence[Seeker]) -> SeekerIndex:
    """An index of `seekers`, all in one group."""
    return SeekerIndex(((seeker, "") for seeker in seekers), capacity=len(seekers))
