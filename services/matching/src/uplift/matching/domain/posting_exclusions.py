"""Why postings are excluded for a seeker (`explain_excluded`), counted over every posting and told in words for
the first few, in a documented order (DOMAIN.md §8 hard filters).

A seeker who accepts only their own district sees some 17,000 of 20,000 postings excluded: explaining each with
`scoring.hard_filter_reasons` and sending them all takes over a second and a few megabytes nobody reads. Here the
postings are columns, each hard filter is one vector comparison, so the count per reason is exact and cheap; the
readable reasons are then built for the first `limit` excluded postings only, ordered so that the most useful come
first:

1. postings the seeker's location preference admits (near misses: a constraint, not the map, excludes them),
2. then by fewer excluding filters,
3. then by posting id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from uplift.matching.domain.scoring import (
    DEFAULT_WORKING_AGE,
    ExcludedPosting,
    ExclusionCode,
    Posting,
    Seeker,
    WorkingAge,
    hard_filter_reasons,
    seeker_exclusions,
)

BoolArray = npt.NDArray[np.bool_]

_LOW_64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class ExcludedPostings:
    """The excluded postings of one seeker: all counted, the first `limit` explained."""

    count: int
    by_reason: Mapping[ExclusionCode, int]  # a posting excluded by several filters counts under each
    explained: tuple[ExcludedPosting, ...]  # in the module's documented order


class PostingExclusions:
    """Postings as columns of what the hard filters read; built once per version of the postings."""

    def __init__(self, postings: Sequence[Posting]) -> None:
        self.postings = tuple(postings)
        rows = self.postings
        self._places: dict[str, int] = {}

        def place(code: str | None) -> int:
            return -1 if code is None else self._places.setdefault(code, len(self._places))

        self._hours = np.array([p.weekly_hours for p in rows], dtype=np.int64)
        self._heavy = np.array([p.heavy for p in rows], dtype=np.bool_)
        self._accessible = np.array([p.accessible for p in rows], dtype=np.bool_)
        self._public_welfare = np.array([p.public_welfare for p in rows], dtype=np.bool_)
        self._open = np.array([p.open for p in rows], dtype=np.bool_)
        self._valid_from = np.array([p.valid_from.toordinal() for p in rows], dtype=np.int64)
        self._valid_to = np.array(
            [p.valid_to.toordinal() if p.valid_to is not None else date.max.toordinal() for p in rows], dtype=np.int64
        )
        self._remote = np.array([p.remote for p in rows], dtype=np.bool_)
        self._street = np.array([place(p.street_code) for p in rows], dtype=np.int64)
        self._district = np.array([place(p.district_code) for p in rows], dtype=np.int64)
        self._id_high = np.array([p.posting_id.int >> 64 for p in rows], dtype=np.uint64)
        self._id_low = np.array([p.posting_id.int & _LOW_64 for p in rows], dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.postings)

    def _known(self, code: str) -> int:
        return self._places.get(code, -2)  # -2 matches no posting

    def reasons(self, seeker: Seeker, today: date) -> dict[ExclusionCode, BoolArray]:
        """Per posting-dependent filter, which postings it excludes for the seeker."""
        profile = seeker.profile
        same_street = ~self._remote & (self._street == self._known(seeker.street_code))
        same_district = ~self._remote & ~same_street & (self._district == self._known(seeker.district_code))
        if profile.location_pref == "any":
            location = np.zeros(len(self.postings), dtype=np.bool_)
        elif profile.location_pref == "same_district":
            location = ~self._remote & ~same_street & ~same_district
        else:
            location = ~self._remote & ~same_street
        day = today.toordinal()
        none = np.zeros(len(self.postings), dtype=np.bool_)
        return {
            ExclusionCode.HOURS_ABOVE_MAXIMUM: (
                self._hours > profile.max_hours if profile.max_hours is not None else none
            ),
            ExclusionCode.HEAVY_WORK: self._heavy if seeker.excluded_from_heavy_work else none,
            ExclusionCode.NOT_ACCESSIBLE: ~self._accessible if seeker.needs_accessible_workplace else none,
            ExclusionCode.LOCATION: location,
            ExclusionCode.PUBLIC_WELFARE_INELIGIBLE: self._public_welfare
            if not seeker.public_welfare_eligible
            else none,
            ExclusionCode.POSTING_CLOSED: ~self._open,
            ExclusionCode.POSTING_NOT_VALID: (self._valid_from > day) | (self._valid_to < day),
        }

    def excluded(
        self, seeker: Seeker, today: date, limit: int, *, working_age: WorkingAge = DEFAULT_WORKING_AGE
    ) -> ExcludedPostings:
        """The postings some hard filter excludes for the seeker: counted, and the first `limit` explained."""
        if limit < 0:
            raise ValueError(f"limit cannot be negative, got {limit}")
        masks = self.reasons(seeker, today)
        count_per_posting = np.zeros(len(self.postings), dtype=np.int64)
        for mask in masks.values():
            count_per_posting += mask
        by_reason = {code: int(np.count_nonzero(mask)) for code, mask in masks.items()}
        everyone_excluded = seeker_exclusions(seeker, today, working_age=working_age)
        for reason in everyone_excluded:  # the seeker-only filters exclude every posting
            by_reason[reason.code] = len(self.postings)
        count_per_posting += len(everyone_excluded)
        by_reason = {code: number for code, number in by_reason.items() if number}
        rows = np.flatnonzero(count_per_posting > 0)
        location = masks[ExclusionCode.LOCATION][rows]
        order = np.lexsort((self._id_low[rows], self._id_high[rows], count_per_posting[rows], location))[:limit]
        explained = tuple(
            ExcludedPosting(
                self.postings[row],
                tuple(hard_filter_reasons(seeker, self.postings[row], today, working_age=working_age)),
            )
            for row in rows[order].tolist()
        )
        return ExcludedPostings(count=len(rows), by_reason=by_reason, explained=explained)
