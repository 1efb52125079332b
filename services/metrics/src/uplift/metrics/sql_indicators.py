"""The indicators of DOMAIN.md section 10 as SQL over the projections, the spans and the pre-aggregated counts,
for the district, street and community scopes (a department scope goes through the reference functions over
loaded facts).

Each part mirrors its reference in `domain.indicators` (the reference is the definition; the service tests
compare the two on the same data):
- the household-based indicators and satisfaction_rate come from the counts (`aggregates`): a few hundred rows
  of a scope rather than every household. The counts place a household by its community on the day counted;
  the definitions place it by its community at the period end, so the households that moved during the period
  (few) are counted again from their spans and the difference added;
- the other indicators count the period's placements and claims (few), each placed by its household's
  community at the period end.
Every part is a one-row query; `indicators` runs all the parts of several periods as one statement.
"At the end of day D" is a span that covers D: `valid_from <= D < valid_to`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.metrics import models as m
from uplift.metrics.aggregates import EVERY, HIRE, RELAPSE, VISIT
from uplift.metrics.domain.facts import DEFAULT_VISIT_INTERVAL_DAYS, Facts
from uplift.metrics.domain.indicators import (
    CENTS,
    INDICATORS,
    RETENTION_MONTHS,
    SATISFIED_FROM,
    IndicatorValue,
    compute_indicator,
    ratio,
)
from uplift.metrics.domain.periods import Period, add_months
from uplift.metrics.domain.scopes import Scope, ScopeKind

IN_PROGRAMME = ("enrolled", "transition")
HOUSEHOLD_INDICATORS = ("exit_rate", "employment_gain_rate", "pairing_coverage", "visit_compliance", "relapse_rate")
COUNTED = (*HOUSEHOLD_INDICATORS, "satisfaction_rate")  # the indicators the counts answer

Row = Any  # a result row: columns by label
Query = sa.Select[*tuple[Any, ...]]  # a query of any columns


@dataclass(frozen=True)
class _Part:
    """One-row queries (their columns labelled `prefix_…`) and what they say."""

    queries: tuple[Query, ...]
    values: Callable[[Row], dict[str, IndicatorValue]]


def _covers(span: sa.FromClause, day: dt.date) -> sa.ColumnElement[bool]:
    """The span holds at the end of `day`."""
    return sa.and_(span.c.valid_from <= day, sa.or_(span.c.valid_to.is_(None), span.c.valid_to > day))


def _value(name: str, scope: Scope, period: Period, numerator: Any, denominator: Any, reason: str) -> IndicatorValue:
    if denominator == 0:
        return IndicatorValue(name, str(scope), period.label, None, numerator, denominator, reason)
    return IndicatorValue(name, str(scope), period.label, ratio(numerator, denominator), numerator, denominator)


def _in_scope(scope_code: sa.ColumnElement[str], scope: Scope) -> sa.ColumnElement[bool]:
    """The rows of the counts a scope sums: '' for the district (every household), else the communities whose
    code starts with the street's or community's."""
    if scope.kind is ScopeKind.DISTRICT:
        return scope_code == EVERY
    return scope_code.like(scope.code + "%")


def _cohort_key(cohort: str | None) -> str | None:
    """The `cohort` of the counts: '' for every cohort (None); an empty cohort holds no household (null)."""
    if cohort is None:
        return EVERY
    return cohort or None


def _sum(column: sa.ColumnElement[int], *conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    total = sa.func.sum(column).filter(sa.and_(*conditions)) if conditions else sa.func.sum(column)
    return sa.func.coalesce(total, 0)


def _count(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.count().filter(sa.and_(*conditions))


def _households_at(scope: Scope, day: dt.date) -> Query:
    """The households the (street or community) scope holds at the end of `day`: those whose community then has
    the scope's code as prefix (found through the community code's index; a period's facts are then matched
    against this set rather than looked up one by one)."""
    spans = m.community_spans
    return sa.select(spans.c.household_id).where(_covers(spans, day), spans.c.community_code.like(scope.code + "%"))


def _known_household_in_scope(
    scope: Scope, household_id: sa.ColumnElement[Any], day: dt.date
) -> sa.ColumnElement[bool]:
    """For facts attached to a household: the district holds them all, a place its households at `day`."""
    if scope.kind is ScopeKind.DISTRICT:
        return sa.true()
    return household_id.in_(_households_at(scope, day))


def _moved_ids(eve: dt.date, end: dt.date) -> sa.Select[Any]:
    """Households whose community changed after `eve`, up to `end`: placed by one community on a day of the
    period and by another at its end."""
    moves = m.community_spans
    return sa.select(moves.c.household_id).where(moves.c.valid_from > eve, moves.c.valid_from <= end)


# --- the parts


def _counted(scope: Scope, period: Period, cohort: str | None, prefix: str) -> _Part:
    """The household-based indicators (and satisfaction_rate, without a cohort) from the counts."""
    end, eve, start = period.end, period.eve, period.start
    cohort_key = _cohort_key(cohort)
    counts, coverage, intervals = m.household_counts, m.fact_coverage, m.visit_intervals
    interval = sa.func.coalesce(
        sa.select(intervals.c.visit_interval_days)
        .where(intervals.c.effective_from <= end)
        .order_by(intervals.c.effective_from.desc(), intervals.c.seq.desc())
        .limit(1)
        .scalar_subquery(),
        DEFAULT_VISIT_INTERVAL_DAYS,
    )

    def covered(kind: str, first: Any, last: dt.date, day: dt.date) -> sa.ScalarSelect[Any]:
        return (
            sa.select(_sum(coverage.c.households))
            .where(
                coverage.c.kind == kind,
                _in_scope(coverage.c.scope_code, scope),
                coverage.c.cohort == cohort_key,
                coverage.c.fact_on.between(first, last),
                coverage.c.day <= day,
            )
            .scalar_subquery()
        )

    visits_from = sa.cast(sa.literal(end), sa.Date) - (interval - 1)
    columns = {
        "enrolled": _sum(counts.c.enrolled),
        "lifted": _sum(counts.c.lifted),
        "in_programme": _sum(counts.c.in_programme),
        "covered": _sum(counts.c.covered),
        "paired": _sum(counts.c.paired),
        "in_programme_eve": _sum(counts.c.in_programme, counts.c.day <= eve),
        "monitored_eve": _sum(counts.c.monitored, counts.c.day <= eve),
        "rated": _sum(counts.c.rated, counts.c.day >= start),
        "satisfied": _sum(counts.c.satisfied, counts.c.day >= start),
        "visited": covered(VISIT, visits_from, end, end),
        "hired": covered(HIRE, start, end, eve),
        "relapsed": covered(RELAPSE, start, end, eve),
    }
    queries: list[Query] = [
        sa.select(*(column.label(f"{prefix}_{name}") for name, column in columns.items())).where(
            _in_scope(counts.c.scope_code, scope), counts.c.cohort == cohort_key, counts.c.day <= end
        )
    ]
    moved = scope.kind is not ScopeKind.DISTRICT
    if moved:
        queries.append(_moved_households(scope, period, cohort, prefix))
        queries.append(_moved_visits(scope, period, prefix))

    def values(row: Row) -> dict[str, IndicatorValue]:
        def n(name: str) -> int:
            total = int(getattr(row, f"{prefix}_{name}"))
            return total + int(getattr(row, f"{prefix}_moved_{name}")) if moved and name in _MOVED else total

        found = {
            "exit_rate": _value(
                "exit_rate", scope, period, n("lifted"), n("enrolled"),
                f"no households enrolled on or before {end.isoformat()} in this scope",
            ),
            "employment_gain_rate": _value(
                "employment_gain_rate", scope, period, n("hired"), n("in_programme_eve"),
                f"no households enrolled or in transition at the end of {eve.isoformat()} in this scope",
            ),
            "pairing_coverage": _value(
                "pairing_coverage", scope, period, n("covered"), n("in_programme"),
                f"no households enrolled or in transition on {end.isoformat()} in this scope",
            ),
            "visit_compliance": _value(
                "visit_compliance", scope, period, n("visited"), n("paired"),
                f"no households paired on {end.isoformat()} in this scope",
            ),
            "relapse_rate": _value(
                "relapse_rate", scope, period, n("relapsed"), n("monitored_eve"),
                f"no households under monitoring after a 脱贫 exit at the end of {eve.isoformat()} in this scope",
            ),
        }  # fmt: skip
        if cohort is None:  # visits are counted for every cohort only
            found["satisfaction_rate"] = _value(
                "satisfaction_rate", scope, period, n("satisfied"), n("rated"),
                "no visits with a satisfaction in the period",
            )  # fmt: skip
        return found

    return _Part(tuple(queries), values)


# The counts the movers correct: those at the eve (placed by the community then) and the visits (by the
# community on the visit day). The states at the end are counted by the community at the end already.
_MOVED = ("in_programme_eve", "monitored_eve", "hired", "relapsed", "rated", "satisfied")


def _moved_households(scope: Scope, period: Period, cohort: str | None, prefix: str) -> Query:
    """For the households that moved during the period: what they add to the counts at the eve placed by their
    community at the end, less what they add placed by their community at the eve."""
    end, eve, start = period.end, period.eve, period.start
    h, s_eve = m.households, m.status_spans.alias("s_eve")
    c_end, c_eve = m.community_spans.alias("c_end"), m.community_spans.alias("c_eve")
    p, st = m.placements, m.household_status_events
    at_end, at_eve = c_end.c.community_code.like(scope.code + "%"), c_eve.c.community_code.like(scope.code + "%")
    in_programme = s_eve.c.status.in_(IN_PROGRAMME)
    monitored = sa.and_(s_eve.c.lifted, s_eve.c.monitoring_until >= eve)
    hired = sa.exists().where(p.c.household_id == h.c.household_id, p.c.started_on.between(start, end))
    relapsed = sa.exists().where(
        st.c.household_id == h.c.household_id, st.c.kind == "relapsed", st.c.effective_on.between(start, end)
    )
    states = {
        "in_programme_eve": (in_programme,),
        "monitored_eve": (monitored,),
        "hired": (in_programme, hired),
        "relapsed": (monitored, relapsed),
    }
    query = (
        sa.select(
            *(
                (_count(*state, at_end) - _count(*state, at_eve)).label(f"{prefix}_moved_{name}")
                for name, state in states.items()
            )
        )
        .select_from(h)
        .join(c_end, sa.and_(c_end.c.household_id == h.c.household_id, _covers(c_end, end)))
        .join(c_eve, sa.and_(c_eve.c.household_id == h.c.household_id, _covers(c_eve, eve)))
        .join(s_eve, sa.and_(s_eve.c.household_id == h.c.household_id, _covers(s_eve, eve)))
        .where(h.c.household_id.in_(_moved_ids(eve, end)))
    )
    return query.where(h.c.cohort == cohort) if cohort is not None else query


def _moved_visits(scope: Scope, period: Period, prefix: str) -> Query:
    """For the visits of the period to households that moved during it: placed by the household's community at
    the end, less placed by its community on the visit day."""
    v = m.visits
    c_end, c_visit = m.community_spans.alias("c_end"), m.community_spans.alias("c_visit")
    at_end, on_visit = c_end.c.community_code.like(scope.code + "%"), c_visit.c.community_code.like(scope.code + "%")
    happy = v.c.satisfaction >= SATISFIED_FROM
    return (
        sa.select(
            (_count(at_end) - _count(on_visit)).label(f"{prefix}_moved_rated"),
            (_count(happy, at_end) - _count(happy, on_visit)).label(f"{prefix}_moved_satisfied"),
        )
        .select_from(v)
        .join(c_end, sa.and_(c_end.c.household_id == v.c.household_id, _covers(c_end, period.end)))
        .join(
            c_visit,
            sa.and_(
                c_visit.c.household_id == v.c.household_id,
                c_visit.c.valid_from <= v.c.visited_on,
                sa.or_(c_visit.c.valid_to.is_(None), c_visit.c.valid_to > v.c.visited_on),
            ),
        )
        .where(
            v.c.visited_on.between(period.start, period.end),
            v.c.satisfaction.is_not(None),
            v.c.household_id.in_(_moved_ids(period.eve, period.end)),
        )
    )


def _persons_employed(scope: Scope, period: Period, prefix: str) -> _Part:
    p = m.placements
    query = sa.select(sa.func.count(sa.distinct(p.c.person_id)).label(f"{prefix}_persons")).where(
        p.c.started_on.between(period.start, period.end),
        _known_household_in_scope(scope, p.c.household_id, period.end),
    )

    def values(row: Row) -> dict[str, IndicatorValue]:
        persons = int(getattr(row, f"{prefix}_persons"))
        value = IndicatorValue("persons_employed", str(scope), period.label, Decimal(persons), persons, None)
        return {"persons_employed": value}

    return _Part((query,), values)


def _retention_6m(scope: Scope, period: Period, prefix: str) -> _Part:
    p = m.placements
    earliest_start = add_months(period.start, -RETENTION_MONTHS)
    latest_start = add_months(period.end, -RETENTION_MONTHS)
    query = sa.select(
        _count(p.c.retained_6m_on <= period.end).label(f"{prefix}_retained"), sa.func.count().label(f"{prefix}_due")
    ).where(
        p.c.started_on.between(earliest_start, latest_start),
        _known_household_in_scope(scope, p.c.household_id, period.end),
    )

    def values(row: Row) -> dict[str, IndicatorValue]:
        return {
            "retention_6m": _value(
                "retention_6m", scope, period, getattr(row, f"{prefix}_retained"), getattr(row, f"{prefix}_due"),
                f"no placements started from {earliest_start.isoformat()} to {latest_start.isoformat()} in this scope",
            )
        }  # fmt: skip

    return _Part((query,), values)


def _medical_cap_rate(scope: Scope, period: Period, prefix: str) -> _Part:
    cl = m.claims
    conditions = [cl.c.discharged_on.between(period.start, period.end), ~cl.c.reversed, cl.c.cap_met.is_not(None)]
    if scope.kind is not ScopeKind.DISTRICT:
        # A claim of a household the projection does not know is placed by the community it carried (a household
        # the projection knows has community spans over every day, written with it; one it does not has none).
        spans = m.community_spans
        unknown = ~sa.exists().where(spans.c.household_id == cl.c.household_id)
        conditions.append(
            sa.or_(
                cl.c.household_id.in_(_households_at(scope, period.end)),
                sa.and_(cl.c.community_code.like(scope.code + "%"), unknown),
            )
        )
    query = sa.select(
        _count(cl.c.cap_met.is_(True)).label(f"{prefix}_met"), sa.func.count().label(f"{prefix}_claims")
    ).where(*conditions)

    def values(row: Row) -> dict[str, IndicatorValue]:
        return {
            "medical_cap_rate": _value(
                "medical_cap_rate", scope, period, getattr(row, f"{prefix}_met"), getattr(row, f"{prefix}_claims"),
                "no claims discharged in the period with cap_met known in this scope",
            )
        }  # fmt: skip

    return _Part((query,), values)


def _supplementary_fund_used(scope: Scope, period: Period, prefix: str) -> _Part:
    compute_indicator("supplementary_fund_used", Facts(), scope, period)  # the scope and period rules
    year = period.start.year
    cl, f = m.claims, m.fund_budgets
    used = (
        sa.select(sa.func.coalesce(sa.func.sum(cl.c.supplementary), 0))
        .where(cl.c.policy_year == year, ~cl.c.reversed, cl.c.street_code.startswith(scope.code, autoescape=True))
        .scalar_subquery()
    )
    budget = sa.select(f.c.supplementary_budget).where(f.c.policy_year == year).scalar_subquery()
    query = sa.select(used.label(f"{prefix}_used"), budget.label(f"{prefix}_budget"))

    def values(row: Row) -> dict[str, IndicatorValue]:
        spent = Decimal(getattr(row, f"{prefix}_used")).quantize(CENTS)
        budget = getattr(row, f"{prefix}_budget")
        if budget is None:
            value = IndicatorValue(
                "supplementary_fund_used", str(scope), period.label, None, spent, None,
                f"no supplementary budget recorded for {year}",
            )  # fmt: skip
        else:
            value = _value(
                "supplementary_fund_used", scope, period, spent, budget, f"the supplementary budget for {year} is 0.00"
            )
        return {"supplementary_fund_used": value}

    return _Part((query,), values)


_SINGLE: dict[str, Callable[[Scope, Period, str], _Part]] = {
    "persons_employed": _persons_employed,
    "retention_6m": _retention_6m,
    "medical_cap_rate": _medical_cap_rate,
    "supplementary_fund_used": _supplementary_fund_used,
}


# --- running them


def answers(scope: Scope) -> bool:
    """Whether this module answers for `scope` (departments go through the reference functions)."""
    return scope.kind is not ScopeKind.DEPARTMENT


def _parts(scope: Scope, period: Period, names: Sequence[str], cohort: str | None, prefix: str) -> list[_Part]:
    parts = []
    if any(name in COUNTED for name in names):
        parts.append(_counted(scope, period, cohort, f"{prefix}c"))
    parts += [_SINGLE[name](scope, period, f"{prefix}{i}") for i, name in enumerate(names) if name in _SINGLE]
    return parts


@functools.lru_cache(maxsize=256)
def _statement(
    scope: Scope, periods: tuple[Period, ...], names: tuple[str, ...], cohort: str | None
) -> tuple[Query | str, tuple[tuple[_Part, ...], ...]]:
    """The one statement for these indicators and periods, and the parts of each period. It depends on the
    question only (the data are read when it runs), so the same question reuses it.

    Without a cohort every value in it is a validated scope code (digits), a date of the periods or a constant:
    it is rendered with them as literals, so that PostgreSQL plans it for them (with parameters, a prepared
    statement turns to a generic plan after a few runs, and `LIKE $1` cannot use an index). A cohort is free
    text: with one, the values stay parameters."""
    by_period = tuple(tuple(_parts(scope, period, names, cohort, f"p{n}_")) for n, period in enumerate(periods))
    subqueries = [query.subquery() for parts in by_period for part in parts for query in part.queries]
    joined: sa.FromClause = subqueries[0]
    for subquery in subqueries[1:]:
        joined = joined.join(subquery, sa.true())  # one row each: side by side
    statement = sa.select(*subqueries).select_from(joined)
    if cohort is not None:
        return statement, by_period
    rendered = statement.compile(dialect=asyncpg.dialect(), compile_kwargs={"literal_binds": True})
    return str(rendered), by_period


async def indicators(
    session: AsyncSession, scope: Scope, periods: Sequence[Period], names: Sequence[str], cohort: str | None = None
) -> list[dict[str, IndicatorValue]]:
    """The named indicators for each period, in one statement (each part a one-row subquery of it)."""
    statement, by_period = _statement(scope, tuple(periods), tuple(names), cohort)
    if isinstance(statement, str):
        row = (await (await session.connection()).exec_driver_sql(statement)).one()
    else:
        row = (await session.execute(statement)).one()
    answers: list[dict[str, IndicatorValue]] = []
    for parts in by_period:
        found: dict[str, IndicatorValue] = {}
        for part in parts:
            found.update(part.values(row))
        answers.append({name: found[name] for name in names})
    return answers


async def indicator(
    session: AsyncSession, name: str, scope: Scope, period: Period, cohort: str | None = None
) -> IndicatorValue:
    """One indicator by name (its name, cohort and applicability checked as the reference checks them)."""
    return (await series(session, name, scope, [period], cohort))[0]


async def series(
    session: AsyncSession, name: str, scope: Scope, periods: Sequence[Period], cohort: str | None = None
) -> list[IndicatorValue]:
    """One indicator over several periods, in one statement."""
    for period in periods:
        compute_indicator(name, Facts(), scope, period, cohort)  # raises what the reference raises
    return [values[name] for values in await indicators(session, scope, periods, [name], cohort)]


def applicable(scope: Scope, period: Period) -> list[str]:
    """Every indicator that applies to the scope and period, in the catalogue's order."""
    return [name for name, definition in INDICATORS.items() if definition.applies_to(scope, period)]


async def all_indicators(session: AsyncSession, scope: Scope, period: Period) -> dict[str, IndicatorValue]:
    """Every indicator that applies to the scope and period, in the catalogue's order."""
    return (await dashboards(session, scope, [period]))[0]


async def dashboards(session: AsyncSession, scope: Scope, periods: Sequence[Period]) -> list[dict[str, IndicatorValue]]:
    """Every indicator that applies, for each period (a dashboard's current and previous), in one statement."""
    by_period = [applicable(scope, period) for period in periods]
    if all(names == by_period[0] for names in by_period):
        return await indicators(session, scope, periods, by_period[0])
    return [
        (await indicators(session, scope, [period], names))[0] for period, names in zip(periods, by_period, strict=True)
    ]
