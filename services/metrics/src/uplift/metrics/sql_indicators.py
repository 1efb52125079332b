"""The indicators of DOMAIN.md section 10 as SQL over the projections and the spans, for the district, street
and community scopes (a department scope goes through the reference functions over loaded facts).

Each function mirrors its reference in `domain.indicators` clause by clause (the reference is the definition;
the service tests compare the two on the same data), with the household-based ones counted in one pass over
the households. "At the end of day D" is a span that covers D: `valid_from <= D < valid_to`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.metrics import models as m
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


def _covers(span: sa.FromClause, day: dt.date) -> sa.ColumnElement[bool]:
    """The span holds at the end of `day`."""
    return sa.and_(span.c.valid_from <= day, sa.or_(span.c.valid_to.is_(None), span.c.valid_to > day))


def _value(name: str, scope: Scope, period: Period, numerator: Any, denominator: Any, reason: str) -> IndicatorValue:
    if denominator == 0:
        return IndicatorValue(name, str(scope), period.label, None, numerator, denominator, reason)
    return IndicatorValue(name, str(scope), period.label, ratio(numerator, denominator), numerator, denominator)


def _in_scope_at(scope: Scope, household_id: sa.ColumnElement[Any], day: dt.date) -> sa.ColumnElement[bool]:
    """The household's community at the end of `day` is in the (street or community) scope."""
    spans = m.community_spans
    return sa.exists().where(
        spans.c.household_id == household_id,
        _covers(spans, day),
        spans.c.community_code.like(scope.code + "%"),
    )


def _known_household_in_scope(
    scope: Scope, household_id: sa.ColumnElement[Any], day: dt.date
) -> sa.ColumnElement[bool]:
    """For facts attached to a household: the district holds them all, a place its households at `day`."""
    return sa.true() if scope.kind is ScopeKind.DISTRICT else _in_scope_at(scope, household_id, day)


async def visit_interval_on(session: AsyncSession, day: dt.date) -> int:
    v = m.visit_intervals
    found = (
        await session.execute(
            sa.select(v.c.visit_interval_days)
            .where(v.c.effective_from <= day)
            .order_by(v.c.effective_from.desc(), v.c.seq.desc())
            .limit(1)
        )
    ).scalar()
    return int(found) if found is not None else DEFAULT_VISIT_INTERVAL_DAYS


async def household_indicators(
    session: AsyncSession, scope: Scope, period: Period, cohort: str | None = None
) -> dict[str, IndicatorValue]:
    """exit_rate, employment_gain_rate, pairing_coverage, visit_compliance and relapse_rate in one pass."""
    h, s_end, s_eve, helper = (
        m.households,
        m.status_spans.alias("s_end"),
        m.status_spans.alias("s_eve"),
        m.helper_spans.alias("helper"),
    )
    end, eve, start = period.end, period.eve, period.start
    interval = await visit_interval_on(session, end)
    p, v, st = m.placements, m.visits, m.household_status_events
    # Uncorrelated IN (…): PostgreSQL hashes each subquery once instead of probing an index per household.
    hired_in_period = h.c.household_id.in_(sa.select(p.c.household_id).where(p.c.started_on.between(start, end)))
    visited = h.c.household_id.in_(
        sa.select(v.c.household_id).where(v.c.visited_on.between(end - dt.timedelta(days=interval - 1), end))
    )
    relapsed = h.c.household_id.in_(
        sa.select(st.c.household_id).where(st.c.kind == "relapsed", st.c.effective_on.between(start, end))
    )
    in_programme_at_end = s_end.c.status.in_(IN_PROGRAMME)
    in_programme_at_eve = s_eve.c.status.in_(IN_PROGRAMME)
    paired_at_end = helper.c.household_id.is_not(None)
    monitored_at_eve = sa.and_(s_eve.c.lifted, s_eve.c.monitoring_until >= eve)
    enrolled_by_end = h.c.enrolled_on <= end

    def count(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.count().filter(sa.and_(*conditions))

    query = (
        sa.select(
            count(enrolled_by_end).label("enrolled_by_end"),
            count(enrolled_by_end, s_end.c.lifted).label("exited_lifted"),
            count(in_programme_at_eve).label("in_programme_at_eve"),
            count(in_programme_at_eve, hired_in_period).label("hired"),
            count(in_programme_at_end).label("in_programme_at_end"),
            count(in_programme_at_end, paired_at_end).label("covered"),
            count(paired_at_end).label("paired"),
            count(paired_at_end, visited).label("visited"),
            count(monitored_at_eve).label("monitored"),
            count(monitored_at_eve, relapsed).label("relapsed"),
        )
        .select_from(h)
        .outerjoin(s_end, sa.and_(s_end.c.household_id == h.c.household_id, _covers(s_end, end)))
        .outerjoin(s_eve, sa.and_(s_eve.c.household_id == h.c.household_id, _covers(s_eve, eve)))
        .outerjoin(helper, sa.and_(helper.c.household_id == h.c.household_id, _covers(helper, end)))
    )
    if scope.kind is not ScopeKind.DISTRICT:
        query = query.where(_in_scope_at(scope, h.c.household_id, end))
    if cohort is not None:
        query = query.where(h.c.cohort == cohort)
    row = (await session.execute(query)).one()
    return {
        "exit_rate": _value(
            "exit_rate", scope, period, row.exited_lifted, row.enrolled_by_end,
            f"no households enrolled on or before {end.isoformat()} in this scope",
        ),
        "employment_gain_rate": _value(
            "employment_gain_rate", scope, period, row.hired, row.in_programme_at_eve,
            f"no households enrolled or in transition at the end of {eve.isoformat()} in this scope",
        ),
        "pairing_coverage": _value(
            "pairing_coverage", scope, period, row.covered, row.in_programme_at_end,
            f"no households enrolled or in transition on {end.isoformat()} in this scope",
        ),
        "visit_compliance": _value(
            "visit_compliance", scope, period, row.visited, row.paired,
            f"no households paired on {end.isoformat()} in this scope",
        ),
        "relapse_rate": _value(
            "relapse_rate", scope, period, row.relapsed, row.monitored,
            f"no households under monitoring after a 脱贫 exit at the end of {eve.isoformat()} in this scope",
        ),
    }  # fmt: skip


async def persons_employed(session: AsyncSession, scope: Scope, period: Period) -> IndicatorValue:
    p = m.placements
    query = sa.select(sa.func.count(sa.distinct(p.c.person_id))).where(
        p.c.started_on.between(period.start, period.end),
        _known_household_in_scope(scope, p.c.household_id, period.end),
    )
    persons = int((await session.execute(query)).scalar_one())
    return IndicatorValue("persons_employed", str(scope), period.label, Decimal(persons), persons, None)


async def satisfaction_rate(session: AsyncSession, scope: Scope, period: Period) -> IndicatorValue:
    v = m.visits
    query = sa.select(sa.func.count().filter(v.c.satisfaction >= SATISFIED_FROM), sa.func.count()).where(
        v.c.visited_on.between(period.start, period.end),
        v.c.satisfaction.is_not(None),
        _known_household_in_scope(scope, v.c.household_id, period.end),
    )
    satisfied, rated = (await session.execute(query)).one()
    return _value("satisfaction_rate", scope, period, satisfied, rated, "no visits with a satisfaction in the period")


async def retention_6m(session: AsyncSession, scope: Scope, period: Period) -> IndicatorValue:
    p = m.placements
    earliest_start = add_months(period.start, -RETENTION_MONTHS)
    latest_start = add_months(period.end, -RETENTION_MONTHS)
    query = sa.select(sa.func.count().filter(p.c.retained_6m_on <= period.end), sa.func.count()).where(
        p.c.started_on.between(earliest_start, latest_start),
        _known_household_in_scope(scope, p.c.household_id, period.end),
    )
    retained, due = (await session.execute(query)).one()
    return _value(
        "retention_6m", scope, period, retained, due,
        f"no placements started from {earliest_start.isoformat()} to {latest_start.isoformat()} in this scope",
    )  # fmt: skip


async def medical_cap_rate(session: AsyncSession, scope: Scope, period: Period) -> IndicatorValue:
    cl, h = m.claims, m.households
    conditions = [cl.c.discharged_on.between(period.start, period.end), ~cl.c.reversed, cl.c.cap_met.is_not(None)]
    if scope.kind is not ScopeKind.DISTRICT:
        known = sa.exists().where(h.c.household_id == cl.c.household_id)
        # A claim of a household the projection does not know is placed by the community it carried.
        conditions.append(
            sa.or_(
                sa.and_(known, _in_scope_at(scope, cl.c.household_id, period.end)),
                sa.and_(~known, cl.c.community_code.like(scope.code + "%")),
            )
        )
    query = sa.select(sa.func.count().filter(cl.c.cap_met.is_(True)), sa.func.count()).where(*conditions)
    met, known_claims = (await session.execute(query)).one()
    return _value(
        "medical_cap_rate", scope, period, met, known_claims,
        "no claims discharged in the period with cap_met known in this scope",
    )  # fmt: skip


async def supplementary_fund_used(session: AsyncSession, scope: Scope, period: Period) -> IndicatorValue:
    compute_indicator("supplementary_fund_used", Facts(), scope, period)  # the scope and period rules
    year = period.start.year
    cl, f = m.claims, m.fund_budgets
    used = (
        await session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(cl.c.supplementary), 0)).where(
                cl.c.policy_year == year, ~cl.c.reversed, cl.c.street_code.startswith(scope.code, autoescape=True)
            )
        )
    ).scalar_one()
    used = Decimal(used).quantize(CENTS)
    budget = (await session.execute(sa.select(f.c.supplementary_budget).where(f.c.policy_year == year))).scalar()
    if budget is None:
        return IndicatorValue(
            "supplementary_fund_used", str(scope), period.label, None, used, None,
            f"no supplementary budget recorded for {year}",
        )  # fmt: skip
    return _value(
        "supplementary_fund_used", scope, period, used, budget, f"the supplementary budget for {year} is 0.00"
    )


Single = Callable[[AsyncSession, Scope, Period], Any]
_SINGLE: Mapping[str, Single] = {
    "persons_employed": persons_employed,
    "satisfaction_rate": satisfaction_rate,
    "retention_6m": retention_6m,
    "medical_cap_rate": medical_cap_rate,
    "supplementary_fund_used": supplementary_fund_used,
}


def answers(scope: Scope) -> bool:
    """Whether this module answers for `scope` (departments go through the reference functions)."""
    return scope.kind is not ScopeKind.DEPARTMENT


async def indicator(
    session: AsyncSession, name: str, scope: Scope, period: Period, cohort: str | None = None
) -> IndicatorValue:
    """One indicator by name (its name, cohort and applicability checked as the reference checks them)."""
    compute_indicator(name, Facts(), scope, period, cohort)  # raises what the reference raises
    if name in HOUSEHOLD_INDICATORS:
        return (await household_indicators(session, scope, period, cohort))[name]
    value: IndicatorValue = await _SINGLE[name](session, scope, period)
    return value


async def all_indicators(session: AsyncSession, scope: Scope, period: Period) -> dict[str, IndicatorValue]:
    """Every indicator that applies to the scope and period, in the catalogue's order."""
    values = await household_indicators(session, scope, period)
    for name, definition in INDICATORS.items():
        if name not in values and definition.applies_to(scope, period):
            values[name] = await _SINGLE[name](session, scope, period)
    return {name: values[name] for name in INDICATORS if name in values}
