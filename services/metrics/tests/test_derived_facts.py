"""The service's derived forms of the facts answer exactly as the domain's: spans (read by the SQL indicators)
and the split of the district's facts by scope (used for assessments and reports)."""

from __future__ import annotations

import datetime as dt
import random
from uuid import UUID

import pytest

from uplift.metrics.domain.assessment import DEFAULT_WEIGHTS, assess_departments, assess_streets
from uplift.metrics.domain.facts import (
    Claim,
    CommunityChange,
    ExitReason,
    Facts,
    HelperAssignment,
    HelperKind,
    HouseholdFacts,
    HouseholdStatus,
    Measure,
    Placement,
    StatusChange,
    Visit,
)
from uplift.metrics.domain.indicators import INDICATORS, compute_indicator
from uplift.metrics.domain.periods import parse_period
from uplift.metrics.domain.scopes import Scope, parse_scope
from uplift.metrics.evaluation import FactsByScope, assess_departments_by_scope, assess_streets_by_scope
from uplift.metrics.facts_queries import helper_assignments, status_history
from uplift.metrics.spans import community_spans_of, helper_spans_of, status_spans_of

COMMUNITIES = ["420102001001", "420102001002", "420102002001", "420102003001"]
DEPARTMENTS = ["D01", "D02", "D03"]


def _day(rng: random.Random) -> dt.date:
    return dt.date(2025, 10, 1) + dt.timedelta(days=rng.randrange(300))


def _id(rng: random.Random) -> str:
    return str(UUID(int=rng.getrandbits(128)))


def random_household(rng: random.Random) -> HouseholdFacts:
    enrolled_on = _day(rng)
    history = []
    for _ in range(rng.randrange(4)):
        status = rng.choice(list(HouseholdStatus))
        reason = rng.choice(list(ExitReason)) if status is HouseholdStatus.EXITED else None
        on = _day(rng)
        history.append(StatusChange(on, status, reason, on.replace(year=on.year + 3) if reason else None))
    helpers = []
    for _ in range(rng.randrange(3)):
        on = _day(rng)
        released = on + dt.timedelta(days=rng.randrange(1, 90)) if rng.random() < 0.5 else None
        helpers.append(HelperAssignment(HelperKind.CADRE, _id(rng), rng.choice(DEPARTMENTS), on, released))
    moves = [CommunityChange(enrolled_on, rng.choice(COMMUNITIES))]
    if rng.random() < 0.3:
        moves.append(CommunityChange(_day(rng), rng.choice(COMMUNITIES)))
    return HouseholdFacts(
        household_id=_id(rng),
        cohort=rng.choice(["2025-1", "2025-2"]),
        street_code=moves[-1].community_code[:9],
        community_code=moves[-1].community_code,
        enrolled_on=enrolled_on,
        status_history=history,
        relapses=[_day(rng) for _ in range(rng.randrange(2))],
        helper_assignments=helpers,
        community_history=moves if rng.random() < 0.8 else [],
    )


def _holds(span: dict, day: dt.date) -> bool:  # type: ignore[type-arg]
    return bool(span["valid_from"] <= day and (span["valid_to"] is None or span["valid_to"] > day))


@pytest.mark.parametrize("seed", range(20))
def test_spans_answer_what_the_household_facts_answer_on_every_day(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20):
        household = random_household(rng)
        statuses, communities, helpers = (
            status_spans_of(household),
            community_spans_of(household),
            helper_spans_of(household),
        )
        for offset in range(-10, 420):
            day = dt.date(2025, 10, 1) + dt.timedelta(days=offset)
            status = [s for s in statuses if _holds(s, day)]
            change = household.change_on(day)
            if change is None:
                assert status == []
            else:
                assert [(s["status"], s["lifted"], s["monitoring_until"]) for s in status] == [
                    (change.status.value, change.is_lifted_exit, change.monitoring_until)
                ]
            assert [c["community_code"] for c in communities if _holds(c, day)] == [household.community_on(day)]
            helper = household.helper_on(day)
            assert [str(h["helper_id"]) for h in helpers if _holds(h, day)] == ([helper.helper_id] if helper else [])


class _Row:
    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)


def test_an_undo_removes_the_latest_exit_before_it_whatever_the_arrival_order() -> None:
    day = dt.date.fromisoformat
    rows = [
        _Row(seq=2, kind="exited", effective_on=day("2026-03-01"), status="exited", exit_reason="employment",
             monitoring_until=day("2029-03-01")),
        _Row(seq=3, kind="relapsed", effective_on=day("2026-05-01"), status="enrolled", exit_reason=None,
             monitoring_until=None),
        _Row(seq=4, kind="exited", effective_on=day("2026-06-01"), status="exited", exit_reason="other",
             monitoring_until=None),
        _Row(seq=5, kind="exit_undone", effective_on=day("2026-06-10"), status="enrolled", exit_reason=None,
             monitoring_until=None),
    ]  # fmt: skip
    history, relapses = status_history(rows)
    assert [(c.effective_on, c.status) for c in history] == [
        (day("2026-03-01"), HouseholdStatus.EXITED),
        (day("2026-05-01"), HouseholdStatus.ENROLLED),
    ]
    assert relapses == [day("2026-05-01")]


def test_a_new_assignment_ends_the_open_one_and_a_release_ends_its_helper() -> None:
    day = dt.date.fromisoformat
    first, second = UUID(int=1), UUID(int=2)
    rows = [
        _Row(
            seq=1, action="assigned", helper_kind="cadre", helper_id=first, department_code="D1", on=day("2026-01-05")
        ),
        _Row(
            seq=2, action="assigned", helper_kind="branch", helper_id=second, department_code=None, on=day("2026-02-01")
        ),
        _Row(
            seq=3, action="released", helper_kind="branch", helper_id=second, department_code=None, on=day("2026-03-01")
        ),
    ]
    assignments = helper_assignments(rows)
    assert [(a.helper_id, a.assigned_on, a.released_on) for a in assignments] == [
        (str(first), day("2026-01-05"), day("2026-02-01")),
        (str(second), day("2026-02-01"), day("2026-03-01")),
    ]


def random_facts(rng: random.Random, households: int = 60) -> Facts:
    members = [random_household(rng) for _ in range(households)]
    ids = [h.household_id for h in members]
    return Facts(
        households=members,
        placements=[
            Placement(_id(rng), _id(rng), rng.choice(ids), _day(rng), _day(rng) if rng.random() < 0.4 else None)
            for _ in range(30)
        ],
        visits=[
            Visit(_id(rng), rng.choice(ids), rng.choice([*DEPARTMENTS, None]), _day(rng), rng.choice([None, 2, 4, 5]))
            for _ in range(80)
        ],
        measures=[
            Measure(
                _id(rng), rng.choice(ids), rng.choice(DEPARTMENTS), _day(rng), _day(rng) if rng.random() < 0.5 else None
            )
            for _ in range(30)
        ],
        claims=[
            Claim(
                _id(rng),
                rng.choice([*ids, None, _id(rng)]),
                None,
                rng.choice(COMMUNITIES),
                _day(rng),
                2026,
                rng.choice([True, False, None]),
                reversed=rng.random() < 0.1,
            )
            for _ in range(30)
        ],
    )


@pytest.mark.parametrize("seed", range(5))
def test_facts_split_by_scope_give_the_same_indicators_and_assessments(seed: int) -> None:
    rng = random.Random(seed)
    facts = random_facts(rng)
    split = FactsByScope(facts)
    scopes: list[Scope] = [
        *(parse_scope(code) for code in ["420102001", "420102002", "420102003", *COMMUNITIES]),
        *(Scope.department(code) for code in DEPARTMENTS),
    ]
    for period in (parse_period("2026-Q1"), parse_period("2026-05"), parse_period("2025-11-15..2026-04-30")):
        for scope in scopes:
            for name in INDICATORS:
                if name == "supplementary_fund_used":
                    continue
                assert compute_indicator(name, split.for_scope(scope), scope, period) == compute_indicator(
                    name, facts, scope, period
                ), f"{name} {scope} {period}"
        assert assess_streets_by_scope(split, period, DEFAULT_WEIGHTS) == assess_streets(facts, period)
        assert assess_departments_by_scope(split, period, DEFAULT_WEIGHTS) == assess_departments(facts, period)
