"""The pre-aggregated counts (`aggregates`) answer, on every day, what the domain's `HouseholdFacts` answer: the
sums of the changes on or before a day count the households in each state by their community that day, and the
coverage sums count those with a visit, hire or relapse in any window. Taking a household's old contribution
away and adding its new one gives what counting the new one from scratch gives."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from uuid import UUID

import pytest

from uplift.metrics.aggregates import (
    EVERY,
    HIRE,
    RELAPSE,
    STATE_COUNTERS,
    VISIT,
    Contribution,
    CountKey,
    CoverageKey,
    VisitFact,
    add_split,
    contribution_of,
    scope_codes,
)
from uplift.metrics.domain.facts import (
    CommunityChange,
    ExitReason,
    HelperAssignment,
    HelperKind,
    HouseholdFacts,
    HouseholdStatus,
    StatusChange,
)

COMMUNITIES = ["420102001001", "420102001002", "420102002001"]
FIRST_DAY = dt.date(2025, 12, 20)
DAYS = 200


def _day(rng: random.Random) -> dt.date:
    return FIRST_DAY + dt.timedelta(days=rng.randrange(10, DAYS - 10))


def random_household(rng: random.Random) -> HouseholdFacts:
    enrolled_on = _day(rng)
    history = []
    for _ in range(rng.randrange(4)):
        status = rng.choice(list(HouseholdStatus))
        reason = rng.choice(list(ExitReason)) if status is HouseholdStatus.EXITED else None
        on = _day(rng)
        # Short monitoring now and then, so that its end falls within the days checked.
        until = on + dt.timedelta(days=rng.choice([20, 60, 3 * 365])) if reason else None
        history.append(StatusChange(on, status, reason, until))
    helpers = []
    for _ in range(rng.randrange(3)):
        on = _day(rng)
        released = on + dt.timedelta(days=rng.randrange(1, 90)) if rng.random() < 0.5 else None
        helpers.append(HelperAssignment(HelperKind.CADRE, str(UUID(int=rng.getrandbits(128))), "D01", on, released))
    moves = [CommunityChange(enrolled_on, rng.choice(COMMUNITIES))]
    for _ in range(rng.choice([0, 0, 1, 2])):
        moves.append(CommunityChange(_day(rng), rng.choice(COMMUNITIES)))
    return HouseholdFacts(
        household_id=str(UUID(int=rng.getrandbits(128))),
        cohort=rng.choice(["2025-1", "2025-2"]),
        street_code=moves[-1].community_code[:9],
        community_code=moves[-1].community_code,
        enrolled_on=enrolled_on,
        status_history=history,
        relapses=sorted({_day(rng) for _ in range(rng.randrange(3))}),
        helper_assignments=helpers,
        community_history=moves if rng.random() < 0.9 else [],
    )


def random_visits(rng: random.Random) -> list[VisitFact]:
    return [VisitFact(_day(rng), rng.choice([None, 1, 3, 4, 5])) for _ in range(rng.randrange(5))]


def random_hires(rng: random.Random) -> list[dt.date]:
    return [_day(rng) for _ in range(rng.randrange(3))]


def _holds(scope: str, community: str) -> bool:
    """The reference: the district holds every household, a street or community those whose code starts with its."""
    return community.startswith(scope)


def _summed(scope: str, code: str) -> bool:
    """The rows the SQL sums for a scope: '' for the district, else the community codes that start with its."""
    return code == EVERY if scope == EVERY else code.startswith(scope)


def _split(contributions: list[Contribution]) -> tuple[dict[CountKey, list[int]], dict[CoverageKey, list[int]]]:
    counts: dict[CountKey, list[int]] = {}
    coverage: dict[CoverageKey, list[int]] = {}
    for contribution in contributions:
        add_split(contribution, 1, counts, coverage)
    return _nonzero(counts), _nonzero(coverage)


def _nonzero(changes: dict) -> dict:  # type: ignore[type-arg]
    return {key: vector for key, vector in changes.items() if any(vector)}


@pytest.mark.parametrize("seed", range(12))
def test_the_sums_of_the_changes_answer_what_the_households_answer_on_every_day(seed: int) -> None:
    rng = random.Random(seed)
    households = [random_household(rng) for _ in range(15)]
    visits = {h.household_id: random_visits(rng) for h in households}
    hires = {h.household_id: random_hires(rng) for h in households}
    counts, coverage = _split([contribution_of(h, visits[h.household_id], hires[h.household_id]) for h in households])

    scopes = [EVERY, "420102001", "420102002", *COMMUNITIES]
    by_scope: dict[tuple[str, str], list[tuple[dt.date, list[int]]]] = defaultdict(list)
    cover: dict[tuple[str, str, str], list[tuple[dt.date, dt.date, int]]] = defaultdict(list)
    for scope in scopes:  # what the SQL sums for a scope: '' for the district, else the codes starting with it
        for (code, cohort, day), vector in counts.items():
            if _summed(scope, code):
                by_scope[(scope, cohort)].append((day, vector))
        for (kind, code, cohort, fact_on, day), (households_count,) in coverage.items():
            if _summed(scope, code):
                cover[(kind, scope, cohort)].append((day, fact_on, households_count))

    for offset in range(-1, DAYS + 1):
        day = FIRST_DAY + dt.timedelta(days=offset)
        for scope in scopes:
            for cohort in [EVERY, "2025-1", "2025-2"]:
                held = [h for h in households if _holds(scope, h.community_on(day)) and cohort in (EVERY, h.cohort)]
                totals = [0] * len(STATE_COUNTERS)
                for changed_on, vector in by_scope[(scope, cohort)]:
                    if changed_on <= day:
                        for i in range(len(STATE_COUNTERS)):
                            totals[i] += vector[i]
                paired = [h for h in held if h.helper_on(day) is not None]
                in_programme = [h for h in held if h.in_programme_on(day)]
                monitored = [h for h in held if h.exited_lifted_on(day) and h.under_monitoring_on(day)]
                expected = [
                    sum(1 for h in held if h.enrolled_on <= day),
                    sum(1 for h in held if h.exited_lifted_on(day)),
                    len(in_programme),
                    len(paired),
                    sum(1 for h in in_programme if h.helper_on(day) is not None),
                    len(monitored),
                ]
                assert totals == expected, f"{scope!r} {cohort!r} {day}"

                def covered(kind: str, first: dt.date, last: dt.date, until: dt.date) -> int:
                    return sum(
                        n
                        for changed_on, fact_on, n in cover[(kind, scope, cohort)]
                        if changed_on <= until and first <= fact_on <= last
                    )

                for interval in (1, 7, 30):
                    window = (day - dt.timedelta(days=interval - 1), day)
                    visited = [
                        h for h in paired if any(window[0] <= v.visited_on <= window[1] for v in visits[h.household_id])
                    ]
                    assert covered(VISIT, *window, day) == len(visited), f"visits {scope!r} {day} {interval}"
                for length in (1, 31, 92):
                    start, end = day + dt.timedelta(days=1), day + dt.timedelta(days=length)
                    hired = [h for h in in_programme if any(start <= t <= end for t in hires[h.household_id])]
                    assert covered(HIRE, start, end, day) == len(hired), f"hires {scope!r} {day} {length}"
                    relapsed = [h for h in monitored if h.relapsed_within(start, end)]
                    assert covered(RELAPSE, start, end, day) == len(relapsed), f"relapses {scope!r} {day} {length}"

            # Visits with a satisfaction, by the community on the visit day (every cohort only).
            of_day = [v for (c, cohort, d), v in counts.items() if _summed(scope, c) and cohort == EVERY and d == day]
            on_day = [
                v
                for h in households
                for v in visits[h.household_id]
                if v.visited_on == day and v.satisfaction is not None and _holds(scope, h.community_on(day))
            ]
            assert (sum(v[6] for v in of_day), sum(v[7] for v in of_day)) == (
                len(on_day),
                sum(1 for v in on_day if v.satisfaction is not None and v.satisfaction >= 4),
            )


def test_a_household_the_projection_does_not_know_adds_its_visits_to_the_district_only() -> None:
    march = [dt.date(2026, 3, 1), dt.date(2026, 3, 1), dt.date(2026, 3, 2)]
    visits = [VisitFact(day, satisfaction) for day, satisfaction in zip(march, [5, 2, None], strict=True)]
    counts, coverage = _split([contribution_of(None, visits)])
    assert counts == {(EVERY, EVERY, dt.date(2026, 3, 1)): [0, 0, 0, 0, 0, 0, 2, 1]}
    assert coverage == {}


def test_a_household_counts_under_the_district_and_its_community() -> None:
    assert scope_codes("420102001002") == [EVERY, "420102001002"]
    assert scope_codes(None) == [EVERY]
    assert scope_codes("") == [EVERY]  # an empty code would be the district's: not twice


@pytest.mark.parametrize("seed", range(6))
def test_taking_the_old_contribution_away_and_adding_the_new_one_equals_counting_afresh(seed: int) -> None:
    rng = random.Random(1000 + seed)
    before = [random_household(rng) for _ in range(10)]
    after = [random_household(rng) if rng.random() < 0.5 else h for h in before]
    visits_before = [random_visits(rng) for _ in before]
    visits_after = [random_visits(rng) if rng.random() < 0.5 else v for v in visits_before]
    old = [contribution_of(h, v, []) for h, v in zip(before, visits_before, strict=True)]
    new = [contribution_of(h, v, []) for h, v in zip(after, visits_after, strict=True)]

    counts, coverage = {}, {}  # type: ignore[var-annotated]
    for contribution in old:
        add_split(contribution, 1, counts, coverage)
    for was, now in zip(old, new, strict=True):
        add_split(was, -1, counts, coverage)
        add_split(now, 1, counts, coverage)

    assert (_nonzero(counts), _nonzero(coverage)) == _split(new)
    # And a contribution survives its trip through the database's JSON.
    for household_id, contribution in enumerate(new):
        row = contribution.row(UUID(int=household_id))

        class _Row:
            cohort = row["cohort"]
            counts = row["counts"]
            coverage = row["coverage"]

        assert Contribution.of_row(_Row) == contribution
