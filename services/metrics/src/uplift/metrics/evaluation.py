"""Indicators, dashboards, series, assessments and report tables over the projections.

Two paths to one answer:
- district, street and community scopes: `sql_indicators`, one statement over the pre-aggregated counts, the
  spans and the period's facts (the hot path: dashboards, single indicators, series);
- department scopes, assessments and reports: the facts of the scope loaded into the domain's `Facts`
  (`facts_queries`) and the domain's reference functions run on them (`FactsByScope` splits the district's
  facts so that many scopes cost about one).
The service tests compare both with the reference functions on the same data.

Answers are cached in process, keyed by the projection version (the sum of the writers' counters, bumped with
every projected batch and every rebuild): a cached answer is served only while nothing it was computed from has
changed, so caching never delays an event's visibility.

Org units: the street and department lists of assessments and reports are those the projections know, as the
domain lists them by default: the streets of the households enrolled by the period end (by their community at
the period end), and the departments whose helpers were paired with a household on or before the period end.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.metrics import models as m
from uplift.metrics import sql_indicators
from uplift.metrics.domain.assessment import (
    Assessment,
    AssessmentKind,
    Weights,
    assess_departments,
    assess_streets,
    rank_rows,
)
from uplift.metrics.domain.facts import Facts
from uplift.metrics.domain.indicators import INDICATORS, IndicatorValue, compute_indicator
from uplift.metrics.domain.periods import Period, series
from uplift.metrics.domain.scopes import Scope, ScopeKind, parse_scope
from uplift.metrics.facts_queries import load_facts

T = TypeVar("T")
DISTRICT_WIDE = Scope(ScopeKind.DISTRICT, "000000")  # every household the projections hold


class ResultCache:
    """A small LRU of computed answers, valid for one projection version."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._version: int | None = None

    async def get_or_compute(self, version: int, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        if version != self._version:
            self._entries.clear()
            self._version = version
        if key in self._entries:
            self._entries.move_to_end(key)
            value: T = self._entries[key]
            return value
        value = await compute()
        if self._version == version:
            self._entries[key] = value
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return value


async def projection_version(session: AsyncSession) -> int:
    v = m.projection_versions
    return int((await session.execute(sa.select(sa.func.coalesce(sa.func.sum(v.c.version), 0)))).scalar_one())


@dataclass(frozen=True)
class DashboardEntry:
    name: str
    label_zh: str
    current: IndicatorValue
    previous: IndicatorValue


@dataclass(frozen=True)
class Dashboard:
    scope: str
    period: Period
    previous_period: Period
    entries: tuple[DashboardEntry, ...]


class Evaluator:
    """The read side of the metrics service for one request (a session and the app's cache)."""

    def __init__(self, session: AsyncSession, cache: ResultCache) -> None:
        self.session = session
        self.cache = cache
        self._version: int | None = None

    async def _cached(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        if self._version is None:
            self._version = await projection_version(self.session)
        return await self.cache.get_or_compute(self._version, key, compute)

    async def facts(self, scope: Scope, periods: Sequence[Period], cohort: str | None = None) -> Facts:
        return await load_facts(self.session, scope, periods, cohort)

    async def indicator(self, name: str, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
        async def compute() -> IndicatorValue:
            if sql_indicators.answers(scope):
                return await sql_indicators.indicator(self.session, name, scope, period, cohort)
            # compute_indicator first checks the name and cohort cheaply (an empty Facts), then on the real ones.
            compute_indicator(name, Facts(), scope, period, cohort)
            return compute_indicator(name, await self.facts(scope, [period], cohort), scope, period, cohort)

        return await self._cached(("indicator", name, str(scope), period.label, cohort), compute)

    async def series(
        self, name: str, scope: Scope, start: str, end: str, step: str, cohort: str | None = None
    ) -> list[IndicatorValue]:
        periods = series(start, end, step)

        async def compute() -> list[IndicatorValue]:
            compute_indicator(name, Facts(), scope, periods[0], cohort)
            if sql_indicators.answers(scope):
                return await sql_indicators.series(self.session, name, scope, periods, cohort)
            facts = await self.facts(scope, periods, cohort)
            return [compute_indicator(name, facts, scope, period, cohort) for period in periods]

        return await self._cached(("series", name, str(scope), start, end, step, cohort), compute)

    async def dashboard(self, scope: Scope, period: Period) -> Dashboard:
        previous = period.previous()

        async def compute() -> Dashboard:
            if sql_indicators.answers(scope):
                current, before = await sql_indicators.dashboards(self.session, scope, [period, previous])
                return Dashboard(
                    str(scope),
                    period,
                    previous,
                    tuple(
                        DashboardEntry(name, INDICATORS[name].label_zh, value, before[name])
                        for name, value in current.items()
                    ),
                )
            facts = await self.facts(scope, [previous, period])
            entries = tuple(
                DashboardEntry(
                    name,
                    definition.label_zh,
                    compute_indicator(name, facts, scope, period),
                    compute_indicator(name, facts, scope, previous),
                )
                for name, definition in INDICATORS.items()
                if definition.applies_to(scope, period)
            )
            return Dashboard(str(scope), period, previous, entries)

        return await self._cached(("dashboard", str(scope), period.label), compute)

    async def district_facts(self, period: Period) -> Facts:
        # Not cached itself (a district's facts are large): the answers computed from them are.
        return await self.facts(DISTRICT_WIDE, [period])

    async def street_assessment(self, period: Period, weights: Weights) -> Assessment:
        async def compute() -> Assessment:
            return assess_streets_by_scope(FactsByScope(await self.district_facts(period)), period, weights)

        return await self._cached(("streets", period.label, weights.model_dump_json()), compute)

    async def department_assessment(self, period: Period, weights: Weights) -> Assessment:
        async def compute() -> Assessment:
            return assess_departments_by_scope(FactsByScope(await self.district_facts(period)), period, weights)

        return await self._cached(("departments", period.label, weights.model_dump_json()), compute)

    async def report(self, period: Period, weights: Weights) -> Report:
        async def compute() -> Report:
            facts = await self.district_facts(period)
            return build_report(facts, period, weights)

        return await self._cached(("report", period.label, weights.model_dump_json()), compute)


# --- many scopes at once


class FactsByScope:
    """The district's facts split by scope: each scope's answer is computed over the households it may hold
    (a superset: every community they ever lived in, every department they were ever paired with) and the
    facts attached to them, so that many scopes cost about as much as one. The reference functions still
    decide what each scope holds."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self._by_community: dict[str, set[str]] = defaultdict(set)
        self._by_department: dict[str, set[str]] = defaultdict(set)
        for h in facts.households:
            for code in {h.community_code, *(c.community_code for c in h.community_history)}:
                self._by_community[code].add(h.household_id)
            for a in h.helper_assignments:
                if a.department_code is not None:
                    self._by_department[a.department_code].add(h.household_id)
        self._placements = _group(facts.placements, lambda p: p.household_id)
        self._visits = _group(facts.visits, lambda v: v.household_id)
        self._measures = _group(facts.measures, lambda me: me.household_id)
        self._claims = _group(facts.claims, lambda cl: cl.household_id)
        self._visits_by_department = _group(facts.visits, lambda v: v.helper_department_code)
        self._measures_by_department = _group(facts.measures, lambda me: me.department_code)
        known = {h.household_id for h in facts.households}
        self._claims_of_unknown = [cl for cl in facts.claims if cl.household_id not in known]

    def for_scope(self, scope: Scope) -> Facts:
        if scope.kind is ScopeKind.DISTRICT:
            return self.facts
        if scope.kind is ScopeKind.DEPARTMENT:
            ids = self._by_department.get(scope.code, set())
        else:
            ids = set().union(*(ids for code, ids in self._by_community.items() if code.startswith(scope.code)))
        facts = self.facts
        visits = {v.visit_id: v for i in ids for v in self._visits.get(i, ())}
        measures = {me.measure_id: me for i in ids for me in self._measures.get(i, ())}
        claims = [cl for i in ids for cl in self._claims.get(i, ())]
        if scope.kind is ScopeKind.DEPARTMENT:
            visits.update((v.visit_id, v) for v in self._visits_by_department.get(scope.code, ()))
            measures.update((me.measure_id, me) for me in self._measures_by_department.get(scope.code, ()))
        else:
            claims += [cl for cl in self._claims_of_unknown if (cl.community_code or "").startswith(scope.code)]
        return Facts(
            households=[h for h in facts.households if h.household_id in ids],
            placements=[p for i in ids for p in self._placements.get(i, ())],
            visits=list(visits.values()),
            measures=list(measures.values()),
            claims=claims,
            fund_budgets=facts.fund_budgets,
            visit_intervals=facts.visit_intervals,
        )


_Item = TypeVar("_Item")


def _group(items: Sequence[_Item], key: Callable[[_Item], str | None]) -> dict[str | None, list[_Item]]:
    grouped: dict[str | None, list[_Item]] = defaultdict(list)
    for item in items:
        grouped[key(item)].append(item)
    return grouped


def street_codes(facts: Facts, period: Period) -> list[str]:
    """The streets of the households enrolled by the period end (by their community then), as the domain lists
    them."""
    return sorted({h.community_on(period.end)[:9] for h in facts.households if h.enrolled_on <= period.end})


def department_codes(facts: Facts, period: Period) -> list[str]:
    """The departments whose helpers were paired with a household on or before the period end."""
    return sorted(
        {
            a.department_code
            for h in facts.households
            for a in h.helper_assignments
            if a.department_code is not None and a.assigned_on <= period.end
        }
    )


def assess_streets_by_scope(split: FactsByScope, period: Period, weights: Weights) -> Assessment:
    rows = [
        assess_streets(split.for_scope(parse_scope(code)), period, weights, [code]).rows[0]
        for code in street_codes(split.facts, period)
    ]
    return Assessment(AssessmentKind.STREET, period.label, rank_rows(rows))


def assess_departments_by_scope(split: FactsByScope, period: Period, weights: Weights) -> Assessment:
    rows = [
        assess_departments(split.for_scope(Scope.department(code)), period, weights, [code]).rows[0]
        for code in department_codes(split.facts, period)
    ]
    return Assessment(AssessmentKind.DEPARTMENT, period.label, rank_rows(rows))


# --- reports


@dataclass(frozen=True)
class ReportRow:
    level: str  # district | street | community | department
    code: str
    values: dict[str, IndicatorValue]
    score: Any = None  # Decimal | None for streets and departments
    rank: int | None = None


@dataclass(frozen=True)
class Report:
    period: Period
    rows: tuple[ReportRow, ...]


REPORT_LEVELS = ("district", "street", "community", "department")


def build_report(facts: Facts, period: Period, weights: Weights) -> Report:
    """Every indicator for the district, each street, community and department (their org units as the
    projections know them), with the streets' and departments' assessment scores and ranks."""
    split = FactsByScope(facts)
    streets = assess_streets_by_scope(split, period, weights)
    departments = assess_departments_by_scope(split, period, weights)
    communities = sorted({h.community_on(period.end) for h in facts.households if h.enrolled_on <= period.end})
    districts = sorted({h.street_code[:6] for h in facts.households})
    district_code = districts[0] if len(districts) == 1 else DISTRICT_WIDE.code
    district = Scope(ScopeKind.DISTRICT, district_code)
    rows: list[ReportRow] = [ReportRow("district", district_code, _indicators(facts, district, period))]
    for row in sorted(streets.rows, key=lambda r: r.code):
        scope = parse_scope(row.code)
        rows.append(
            ReportRow("street", row.code, _indicators(split.for_scope(scope), scope, period), row.score, row.rank)
        )
    for code in communities:
        scope = parse_scope(code)
        rows.append(ReportRow("community", code, _indicators(split.for_scope(scope), scope, period)))
    for row in sorted(departments.rows, key=lambda r: r.code):
        scope = Scope.department(row.code)
        values = _indicators(split.for_scope(scope), scope, period)
        rows.append(ReportRow("department", row.code, values, row.score, row.rank))
    return Report(period, tuple(rows))


def _indicators(facts: Facts, scope: Scope, period: Period) -> dict[str, IndicatorValue]:
    return {
        name: compute_indicator(name, facts, scope, period)
        for name, definition in INDICATORS.items()
        if definition.applies_to(scope, period)
    }
