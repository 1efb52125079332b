"""Spans: a household's status, community and helper as date ranges, derived from its histories.

Whenever an event touches a household's snapshot, status history, community history or pairings, its spans
are recomputed from all of them with the domain's own questions (`HouseholdFacts.change_on`,
`community_on`, `helper_on`) asked at every date where an answer can change, so "the status at the end of
day D" read from a span is exactly what the reference definitions would answer. The SQL indicators
(`sql_indicators`) read the spans, and the pre-aggregated counts (`aggregates`, which also writes the spans)
are computed from them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any
from uuid import UUID

from uplift.metrics.domain.facts import HouseholdFacts

BEFORE_ANY_DATE = dt.date(1, 1, 1)


def _ranges(breakpoints: Collection[dt.date]) -> list[tuple[dt.date, dt.date | None]]:
    ordered = sorted(set(breakpoints))
    return [(day, ordered[i + 1] if i + 1 < len(ordered) else None) for i, day in enumerate(ordered)]


def status_spans_of(household: HouseholdFacts) -> list[dict[str, Any]]:
    """From enrolment on: one span per date where the status (or its exit details) may change."""
    enrolled_on = household.enrolled_on
    breakpoints = {enrolled_on} | {c.effective_on for c in household.status_history if c.effective_on > enrolled_on}
    rows = []
    for valid_from, valid_to in _ranges(breakpoints):
        change = household.change_on(valid_from)
        assert change is not None  # valid_from is on or after enrolment
        rows.append(
            {
                "household_id": UUID(household.household_id),
                "valid_from": valid_from,
                "valid_to": valid_to,
                "status": change.status.value,
                "lifted": change.is_lifted_exit,
                "monitoring_until": change.monitoring_until,
            }
        )
    return rows


def community_spans_of(household: HouseholdFacts) -> list[dict[str, Any]]:
    """Always from the beginning of time: before its first recorded community a household is in that one."""
    later_moves = [c.effective_on for c in household.community_history][1:]
    return [
        {
            "household_id": UUID(household.household_id),
            "valid_from": valid_from,
            "valid_to": valid_to,
            "community_code": household.community_on(valid_from),
        }
        for valid_from, valid_to in _ranges([BEFORE_ANY_DATE, *later_moves])
    ]


def helper_spans_of(household: HouseholdFacts) -> list[dict[str, Any]]:
    """The ranges with an active helper (none before the first assignment or between pairings)."""
    breakpoints: set[dt.date] = set()
    for assignment in household.helper_assignments:
        breakpoints.add(assignment.assigned_on)
        if assignment.released_on is not None:
            breakpoints.add(assignment.released_on)
    rows = []
    for valid_from, valid_to in _ranges(breakpoints):
        helper = household.helper_on(valid_from)
        if helper is None:
            continue
        rows.append(
            {
                "household_id": UUID(household.household_id),
                "valid_from": valid_from,
                "valid_to": valid_to,
                "helper_kind": helper.helper_kind.value,
                "helper_id": UUID(helper.helper_id),
                "department_code": helper.department_code,
            }
        )
    return rows
