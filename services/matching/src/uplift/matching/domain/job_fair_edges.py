"""Each invited seeker's top-k feasible postings for a job fair (DOMAIN.md §8), vectorised with numpy.

A fair of 50,000 seekers and 20,000 postings has a billion pairs: the exact per-pair kernel of `scoring` would
take most of an hour. Here the postings become columns once; each seeker is scored, in float64, against the
postings its location preference admits, in a few dozen numpy operations. Floats only choose the candidates:

- a posting can be in a seeker's top k by the *rounded* score only if its exact value is within 1 unit (10⁻⁴) of
  the k-th best exact value, so every posting whose float score is within 1 unit plus the float error of the
  k-th best float is a candidate (the float error of a sum of six terms is below 10⁻¹¹ units);
- each candidate's units are the float rounded half-up, except where the float lies within 10⁻⁶ units of a
  rounding boundary (exact halves are common: 0.35 × 1/8 = 0.04375); those are recomputed exactly by
  `scoring.pair_score_units`, so every kept edge carries exactly the units `scoring.score` gives.

The top k are then the candidates by units descending, then posting id — as `assignment` keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from math import ceil
from uuid import UUID

import numpy as np
import numpy.typing as npt

from uplift.matching.domain.assignment import DEFAULT_TOP_K, InvitedSeeker
from uplift.matching.domain.scoring import (
    COMPONENT_WEIGHTS,
    DEFAULT_WORKING_AGE,
    EDUCATION_RANK,
    LOCATION_REMOTE_NOT_PREFERRED,
    LOCATION_REMOTE_PREFERRED,
    LOCATION_SAME_DISTRICT,
    SCORE_UNITS_PER_ONE,
    Posting,
    Seeker,
    WorkingAge,
    pair_score_units,
    priority_of,
    seeker_exclusions,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
WordArray = npt.NDArray[np.uint64]

_ESSENTIAL = float(COMPONENT_WEIGHTS["essential_skills"])
_OPTIONAL = float(COMPONENT_WEIGHTS["optional_skills"])
_WAGE = float(COMPONENT_WEIGHTS["wage"])
_LOCATION = float(COMPONENT_WEIGHTS["location"])
_HOURS = float(COMPONENT_WEIGHTS["hours"])
_EDUCATION = float(COMPONENT_WEIGHTS["education"])
_SAME_DISTRICT = _LOCATION * float(LOCATION_SAME_DISTRICT)
_REMOTE_PREFERRED = _LOCATION * float(LOCATION_REMOTE_PREFERRED)
_REMOTE_NOT_PREFERRED = _LOCATION * float(LOCATION_REMOTE_NOT_PREFERRED)

_HEAVY, _NOT_ACCESSIBLE, _PUBLIC_WELFARE = 1, 2, 4  # bits of a posting's filter flags
_CANDIDATE_MARGIN = 1.0 + 1e-6  # units: see the module doc
_BOUNDARY_TOLERANCE = 1e-6  # units


@dataclass(frozen=True, slots=True)
class _PostingColumns:
    """Columns of the postings one kind of seeker may see; `position` indexes the fair's posting list."""

    position: IntArray
    flags: IntArray
    hours: FloatArray
    wage_cents: FloatArray
    remote: BoolArray
    street: IntArray  # index of the street code, -1 without one
    district: IntArray
    education_rank: IntArray
    essential_words: tuple[WordArray, ...]  # skill bitsets, 64 skills a word
    essential_base: FloatArray  # the whole weight when the posting lists no essential skill
    essential_per_hit: FloatArray  # weight ÷ number of essential skills
    optional_words: tuple[WordArray, ...]
    optional_base: FloatArray
    optional_per_hit: FloatArray

    def take(self, rows: IntArray) -> _PostingColumns:
        return _PostingColumns(
            position=self.position[rows],
            flags=self.flags[rows],
            hours=self.hours[rows],
            wage_cents=self.wage_cents[rows],
            remote=self.remote[rows],
            street=self.street[rows],
            district=self.district[rows],
            education_rank=self.education_rank[rows],
            essential_words=tuple(word[rows] for word in self.essential_words),
            essential_base=self.essential_base[rows],
            essential_per_hit=self.essential_per_hit[rows],
            optional_words=tuple(word[rows] for word in self.optional_words),
            optional_base=self.optional_base[rows],
            optional_per_hit=self.optional_per_hit[rows],
        )


class _Codes:
    """Small integer ids for street and district codes, so that comparisons run on int arrays."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def id_of(self, code: str | None) -> int:
        if code is None:
            return -1
        return self._ids.setdefault(code, len(self._ids))

    def known(self, code: str) -> int:
        return self._ids.get(code, -2)  # -2 matches no posting


def _skill_words(
    skill_sets: Sequence[frozenset[str]], bit_of: dict[str, int], word_count: int
) -> tuple[WordArray, ...]:
    words = np.zeros((word_count, len(skill_sets)), dtype=np.uint64)
    for row, skills in enumerate(skill_sets):
        for skill in skills:
            bit = bit_of[skill]
            words[bit // 64, row] |= np.uint64(1 << (bit % 64))
    return tuple(words[w] for w in range(word_count))


def _seeker_words(skills: frozenset[str], bit_of: dict[str, int], word_count: int) -> list[np.uint64]:
    words = [0] * word_count
    for skill in skills:
        bit = bit_of.get(skill)
        if bit is not None:
            words[bit // 64] |= 1 << (bit % 64)
    return [np.uint64(word) for word in words]


def _coverage(words: tuple[WordArray, ...], seeker_words: list[np.uint64]) -> npt.NDArray[np.uint8]:
    hits = np.bitwise_count(words[0] & seeker_words[0])
    for word, seeker_word in zip(words[1:], seeker_words[1:], strict=True):
        hits = hits + np.bitwise_count(word & seeker_word)
    return hits


class _Pool:
    """The fair's postings that are open, valid today and have an opening, as columns, with cached views per
    location preference (remote postings plus one street, remote plus one district, or all)."""

    def __init__(self, postings: Sequence[Posting], today: date) -> None:
        self.postings = [p for p in postings if p.open and p.valid_on(today) and p.openings > 0]
        self.today = today
        self.codes = _Codes()
        skills = sorted({s for p in self.postings for s in p.essential_skills | p.optional_skills})
        self.bit_of = {skill: bit for bit, skill in enumerate(skills)}
        self.word_count = max(1, ceil(len(skills) / 64))
        rows = self.postings
        essential_counts = np.array([len(p.essential_skills) for p in rows], dtype=np.float64)
        optional_counts = np.array([len(p.optional_skills) for p in rows], dtype=np.float64)
        self.id_rank = np.empty(len(rows), dtype=np.int64)
        self.id_rank[np.argsort(np.array([p.posting_id.int for p in rows], dtype=object), kind="stable")] = np.arange(
            len(rows)
        )
        self.all = _PostingColumns(
            position=np.arange(len(rows), dtype=np.int64),
            flags=np.array(
                [
                    (_HEAVY if p.heavy else 0)
                    | (0 if p.accessible else _NOT_ACCESSIBLE)
                    | (_PUBLIC_WELFARE if p.public_welfare else 0)
                    for p in rows
                ],
                dtype=np.int64,
            ),
            hours=np.array([p.weekly_hours for p in rows], dtype=np.float64),
            wage_cents=np.array([p.wage_cents for p in rows], dtype=np.float64),
            remote=np.array([p.remote for p in rows], dtype=np.bool_),
            street=np.array([self.codes.id_of(p.street_code) for p in rows], dtype=np.int64),
            district=np.array([self.codes.id_of(p.district_code) for p in rows], dtype=np.int64),
            education_rank=np.array([p.min_education_rank for p in rows], dtype=np.int64),
            essential_words=_skill_words([p.essential_skills for p in rows], self.bit_of, self.word_count),
            essential_base=np.where(essential_counts == 0, _ESSENTIAL, 0.0),
            essential_per_hit=_ESSENTIAL / np.maximum(essential_counts, 1.0),
            optional_words=_skill_words([p.optional_skills for p in rows], self.bit_of, self.word_count),
            optional_base=np.where(optional_counts == 0, _OPTIONAL, 0.0),
            optional_per_hit=_OPTIONAL / np.maximum(optional_counts, 1.0),
        )
        self._views: dict[tuple[str, int, int], _PostingColumns] = {}

    def view_for(self, seeker: Seeker) -> _PostingColumns:
        preference = seeker.profile.location_pref
        if preference == "any":
            return self.all
        street = self.codes.known(seeker.street_code)
        district = self.codes.known(seeker.district_code) if preference == "same_district" else -2
        key = (preference, street, district)
        view = self._views.get(key)
        if view is None:
            columns = self.all
            admitted = columns.remote | (columns.street == street) | (columns.district == district)
            view = self._views[key] = columns.take(np.flatnonzero(admitted))
        return view


def _float_scores(pool: _Pool, view: _PostingColumns, seeker: Seeker) -> FloatArray:
    """Scores of the seeker against every posting of the view, -1 where a hard filter excludes the pair."""
    profile = seeker.profile
    forbidden = (
        (_HEAVY if seeker.excluded_from_heavy_work else 0)
        | (_NOT_ACCESSIBLE if seeker.needs_accessible_workplace else 0)
        | (0 if seeker.public_welfare_eligible else _PUBLIC_WELFARE)
    )
    feasible = (view.flags & forbidden) == 0
    if profile.max_hours is not None:
        feasible &= view.hours <= profile.max_hours

    words = _seeker_words(seeker.skills, pool.bit_of, pool.word_count)
    total = view.essential_base + _coverage(view.essential_words, words) * view.essential_per_hit
    total += view.optional_base + _coverage(view.optional_words, words) * view.optional_per_hit
    if profile.min_wage_cents:
        total += np.minimum(view.wage_cents * (_WAGE / profile.min_wage_cents), _WAGE)
    else:
        total += _WAGE
    street = pool.codes.known(seeker.street_code)
    district = pool.codes.known(seeker.district_code)
    remote = _REMOTE_PREFERRED if profile.prefers_remote else _REMOTE_NOT_PREFERRED
    total += np.where(
        view.remote,
        remote,
        np.where(view.street == street, _LOCATION, np.where(view.district == district, _SAME_DISTRICT, 0.0)),
    )
    if profile.desired_hours is not None:
        desired = float(profile.desired_hours)
        total += _HOURS * np.minimum(view.hours, desired) / np.maximum(view.hours, desired)
    else:
        total += _HOURS
    education = EDUCATION_RANK[seeker.education] if seeker.education is not None else 0
    total += np.where(view.education_rank <= education, _EDUCATION, 0.0)
    return np.where(feasible, total, -1.0)


def _top_edges(pool: _Pool, seeker: Seeker, k: int) -> list[tuple[UUID, int]]:
    return _ranked_edges(pool, seeker, k)[0]


def _ranked_edges(pool: _Pool, seeker: Seeker, k: int) -> tuple[list[tuple[UUID, int]], int]:
    """The seeker's top-k edges and how many postings passed the posting-dependent filters."""
    view = pool.view_for(seeker)
    scores = _float_scores(pool, view, seeker)
    feasible = int(np.count_nonzero(scores >= 0))
    if feasible == 0 or k <= 0:
        return [], feasible
    if feasible > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        candidates = np.flatnonzero(scores >= max(kth - _CANDIDATE_MARGIN / SCORE_UNITS_PER_ONE, 0.0))
    else:
        candidates = np.flatnonzero(scores >= 0)
    scaled = scores[candidates] * SCORE_UNITS_PER_ONE
    units = np.floor(scaled + 0.5).astype(np.int64)
    near_boundary = np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < _BOUNDARY_TOLERANCE)
    if len(near_boundary):
        terms = seeker.terms
        for i in near_boundary.tolist():
            posting = pool.postings[int(view.position[candidates[i]])]
            units[i] = pair_score_units(terms, posting, pool.today)
    positions = view.position[candidates]
    best = np.lexsort((pool.id_rank[positions], -units))[:k]
    edges = [
        (pool.postings[p].posting_id, u) for p, u in zip(positions[best].tolist(), units[best].tolist(), strict=True)
    ]
    return edges, feasible


class PostingIndex:
    """Postings as columns, built once and reused for many seekers (the recommendations keep one per version of
    the open postings and day, so a ranking over 20,000 postings costs about a millisecond instead of 60).

    `top(seeker, k)` is exactly the top k of `scoring.recommend_postings` (score units descending, then posting
    id) over the postings that are open, valid on `today` and have an opening, with the number of those that
    passed every hard filter; a seeker outside working age or without work ability gets none.
    """

    def __init__(self, postings: Sequence[Posting], today: date) -> None:
        self.today = today
        self._pool = _Pool(postings, today)

    def __len__(self) -> int:
        return len(self._pool.postings)

    def top(
        self, seeker: Seeker, k: int, *, working_age: WorkingAge = DEFAULT_WORKING_AGE
    ) -> tuple[list[tuple[UUID, int]], int]:
        if not self._pool.postings or seeker_exclusions(seeker, self.today, working_age=working_age):
            return [], 0
        return _ranked_edges(self._pool, seeker, k)


def build_job_fair_edges(
    seekers: Sequence[Seeker],
    postings: Sequence[Posting],
    today: date,
    k: int = DEFAULT_TOP_K,
    *,
    working_age: WorkingAge = DEFAULT_WORKING_AGE,
) -> list[InvitedSeeker]:
    """Every invited seeker with its tier and its top-k feasible postings by score (ties by posting id).

    Postings closed, not valid on `today` or without an opening give no edges. A seeker outside working age
    stays invited with no edge, so the match rates count it.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    pool = _Pool(postings, today)
    invited: list[InvitedSeeker] = []
    for seeker in seekers:
        eligible = bool(pool.postings) and not seeker_exclusions(seeker, today, working_age=working_age)
        edges = _top_edges(pool, seeker, k) if eligible else []
        invited.append(
            InvitedSeeker(
                person_id=seeker.person_id,
                tier=priority_of(seeker).tier,
                disability_level=seeker.disability_level,
                edges=edges,
            )
        )
    return invited
