"""Reading the projections back as the domain's `Facts`: one query per kind of fact, filtered by scope.

The SQL filters only narrow the rows down to a superset of what a scope and its periods need (households that
ever lived in the scope's communities or were ever paired with the department, facts dated inside the
periods' windows); the domain's indicator functions then apply the exact definitions to them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.metrics import models as m
from uplift.metrics.domain.facts import (
    DEFAULT_VISIT_INTERVAL_DAYS,
    Claim,
    CommunityChange,
    ExitReason,
    Facts,
    FundBudget,
    HelperAssignment,
    HelperKind,
    HouseholdFacts,
    HouseholdStatus,
    Measure,
    Placement,
    StatusChange,
    Visit,
    VisitIntervalVersion,
)
from uplift.metrics.domain.indicators import RETENTION_MONTHS
from uplift.metrics.domain.periods import Period, add_months
from uplift.metrics.domain.scopes import Scope, ScopeKind


@dataclass(frozen=True)
class FactWindow:
    """The dates a set of periods needs facts for."""

    start: dt.date
    end: dt.date
    years: frozenset[int]

    @classmethod
    def of(cls, periods: Sequence[Period]) -> FactWindow:
        return cls(
            min(p.start for p in periods),
            max(p.end for p in periods),
            frozenset(year for p in periods for year in range(p.start.year, p.end.year + 1)),
        )


def _prefix(code: str) -> str:
    return code + "%"  # org codes are digits: no LIKE wildcards to escape


def household_ids_in_scope(scope: Scope, window: FactWindow, cohort: str | None) -> sa.Select[Any] | None:
    """Ids of the households a scope may hold over the window (a superset), or None for all of them."""
    h = m.households
    conditions: list[sa.ColumnElement[bool]] = []
    if cohort is not None:
        conditions.append(h.c.cohort == cohort)
    if scope.kind in (ScopeKind.STREET, ScopeKind.COMMUNITY):
        moved_here = sa.select(m.household_communities.c.household_id).where(
            m.household_communities.c.community_code.like(_prefix(scope.code))
        )
        conditions.append(sa.or_(h.c.community_code.like(_prefix(scope.code)), h.c.household_id.in_(moved_here)))
    elif scope.kind is ScopeKind.DEPARTMENT:
        p = m.pairing_events
        paired = sa.select(p.c.household_id).where(p.c.department_code == scope.code, p.c.on <= window.end)
        conditions.append(h.c.household_id.in_(paired))
    if not conditions:
        return None
    return sa.select(h.c.household_id).where(*conditions)


def _where_household(
    column: sa.ColumnElement[Any], ids: sa.Select[Any] | Sequence[Any] | None
) -> sa.ColumnElement[bool]:
    if ids is None:
        return sa.true()
    if isinstance(ids, sa.Select):
        return column.in_(ids)
    return column == any_of_ids(ids)


def any_of_ids(ids: Sequence[Any]) -> sa.ColumnElement[Any]:
    """`ANY(:ids)` with the ids as one array parameter (a statement that caches, unlike a long IN list)."""
    return sa.any_(sa.literal(list(ids), ARRAY(UUID(as_uuid=True))))


async def load_facts(
    session: AsyncSession, scope: Scope, periods: Sequence[Period], cohort: str | None = None
) -> Facts:
    """Everything the indicators need for `scope` over `periods`, as the domain's in-memory facts."""
    window = FactWindow.of(periods)
    ids = household_ids_in_scope(scope, window, cohort)
    visit_intervals = await _visit_intervals(session)
    households = await load_households(session, ids)
    longest_interval = max([DEFAULT_VISIT_INTERVAL_DAYS, *(v.visit_interval_days for v in visit_intervals)])
    return Facts(
        households=households,
        placements=await _placements(session, ids, window),
        visits=await _visits(session, scope, ids, window, longest_interval),
        measures=await _measures(session, scope, ids, window),
        claims=await _claims(session, scope, ids, window),
        fund_budgets=await _fund_budgets(session),
        visit_intervals=visit_intervals,
    )


async def load_households(session: AsyncSession, ids: sa.Select[Any] | Sequence[Any] | None) -> list[HouseholdFacts]:
    """The households with these ids (a query or a list; None: all), each with its histories."""
    results = [(await session.execute(statement)).all() for statement in household_statements(ids)]
    return assemble_households(*results)


def load_households_sync(connection: sa.Connection, ids: Sequence[Any] | None) -> list[HouseholdFacts]:
    """`load_households` on a synchronous connection (for code run through `run_sync`, and migrations)."""
    results = [connection.execute(statement).all() for statement in household_statements(ids)]
    return assemble_households(*results)


def household_statements(
    ids: sa.Select[Any] | Sequence[Any] | None,
) -> tuple[sa.Select[Any], sa.Select[Any], sa.Select[Any], sa.Select[Any]]:
    """The four queries `assemble_households` reads: the snapshots, then the status, community and pairing
    histories."""
    h, s, cm, p = m.households, m.household_status_events, m.household_communities, m.pairing_events
    return (
        sa.select(h.c.household_id, h.c.cohort, h.c.street_code, h.c.community_code, h.c.enrolled_on).where(
            _where_household(h.c.household_id, ids)
        ),
        sa.select(
            s.c.household_id, s.c.seq, s.c.kind, s.c.effective_on, s.c.status, s.c.exit_reason, s.c.monitoring_until
        )
        .where(_where_household(s.c.household_id, ids))
        .order_by(s.c.household_id, s.c.seq),
        sa.select(cm.c.household_id, cm.c.seq, cm.c.effective_on, cm.c.community_code)
        .where(_where_household(cm.c.household_id, ids))
        .order_by(cm.c.household_id, cm.c.effective_on, cm.c.seq),
        sa.select(p.c.household_id, p.c.seq, p.c.action, p.c.helper_kind, p.c.helper_id, p.c.department_code, p.c.on)
        .where(_where_household(p.c.household_id, ids))
        .order_by(p.c.household_id, p.c.seq),
    )


def assemble_households(
    rows: Sequence[Any], status_rows: Sequence[Any], community_rows: Sequence[Any], pairing_rows: Sequence[Any]
) -> list[HouseholdFacts]:
    """`HouseholdFacts` from the rows of `household_statements`."""
    statuses: dict[Any, list[Any]] = defaultdict(list)
    for status_row in status_rows:
        statuses[status_row.household_id].append(status_row)
    communities: dict[Any, list[CommunityChange]] = defaultdict(list)
    for community_row in community_rows:
        communities[community_row.household_id].append(
            CommunityChange(community_row.effective_on, community_row.community_code)
        )
    pairings: dict[Any, list[Any]] = defaultdict(list)
    for pairing_row in pairing_rows:
        pairings[pairing_row.household_id].append(pairing_row)
    facts = []
    for row in rows:
        history, relapses = status_history(statuses.get(row.household_id, ()))
        facts.append(
            HouseholdFacts(
                household_id=str(row.household_id),
                cohort=row.cohort,
                street_code=row.street_code,
                community_code=row.community_code,
                enrolled_on=row.enrolled_on,
                status_history=history,
                relapses=relapses,
                helper_assignments=helper_assignments(pairings.get(row.household_id, ())),
                community_history=communities.get(row.household_id, ()),
            )
        )
    return facts


def status_history(rows: Iterable[Any]) -> tuple[list[StatusChange], list[dt.date]]:
    """The status changes (undone exits removed) in (date, seq) order, and the relapse dates.

    `rows` are one household's `household_status_events` in `seq` order. An `exit_undone` removes the latest
    exit recorded before it (by `seq`): that exit was a mistake, so the history reads as if it never happened.
    """
    kept: list[Any] = []
    for row in rows:
        if row.kind == "exit_undone":
            exits = [r for r in kept if r.kind == "exited" and r.seq < row.seq]
            if exits:
                kept.remove(exits[-1])
            continue
        kept.append(row)
    kept.sort(key=lambda r: (r.effective_on, r.seq))
    changes = [
        StatusChange(
            r.effective_on,
            HouseholdStatus(r.status),
            ExitReason(r.exit_reason) if r.exit_reason else None,
            r.monitoring_until,
        )
        for r in kept
    ]
    relapses = [r.effective_on for r in kept if r.kind == "relapsed"]
    return changes, relapses


def helper_assignments(rows: Iterable[Any]) -> list[HelperAssignment]:
    """Pairings from assigned/released events in `seq` order.

    A release ends the open assignment of that helper; an assignment while another is open ends the other on
    the same day (a household has at most one active helper).
    """
    assignments: list[HelperAssignment] = []

    def close(index: int, on: dt.date) -> None:
        a = assignments[index]
        assignments[index] = HelperAssignment(a.helper_kind, a.helper_id, a.department_code, a.assigned_on, on)

    for row in rows:
        open_indexes = [i for i, a in enumerate(assignments) if a.released_on is None]
        if row.action == "assigned":
            for index in open_indexes:
                close(index, row.on)
            assignments.append(
                HelperAssignment(HelperKind(row.helper_kind), str(row.helper_id), row.department_code, row.on)
            )
        else:
            same_helper = [i for i in open_indexes if assignments[i].helper_id == str(row.helper_id)]
            for index in same_helper or open_indexes[-1:]:
                close(index, row.on)
    return assignments


async def _visit_intervals(session: AsyncSession) -> list[VisitIntervalVersion]:
    v = m.visit_intervals
    rows = (await session.execute(sa.select(v.c.effective_from, v.c.visit_interval_days))).all()
    return [VisitIntervalVersion(r.effective_from, r.visit_interval_days) for r in rows]


async def _fund_budgets(session: AsyncSession) -> list[FundBudget]:
    f = m.fund_budgets
    rows = (await session.execute(sa.select(f.c.policy_year, f.c.supplementary_budget, f.c.charity_budget))).all()
    return [FundBudget(r.policy_year, r.supplementary_budget, r.charity_budget) for r in rows]


async def _placements(session: AsyncSession, ids: sa.Select[Any] | None, window: FactWindow) -> list[Placement]:
    p = m.placements
    rows = (
        await session.execute(
            sa.select(
                p.c.placement_id, p.c.person_id, p.c.household_id, p.c.started_on, p.c.retained_6m_on, p.c.ended_on
            )
            .where(
                p.c.started_on.between(add_months(window.start, -RETENTION_MONTHS), window.end),
                _where_household(p.c.household_id, ids),
            )
            .order_by(p.c.placement_id)
        )
    ).all()
    return [
        Placement(
            str(r.placement_id), str(r.person_id), str(r.household_id), r.started_on, r.retained_6m_on, r.ended_on
        )
        for r in rows
    ]


def _department_or_households(
    scope: Scope, department_column: sa.ColumnElement[Any], household_column: sa.ColumnElement[Any], ids: Any
) -> sa.ColumnElement[bool]:
    if scope.kind is ScopeKind.DEPARTMENT:
        return sa.or_(department_column == scope.code, household_column.in_(ids))
    return _where_household(household_column, ids)


async def _visits(
    session: AsyncSession, scope: Scope, ids: sa.Select[Any] | None, window: FactWindow, longest_interval: int
) -> list[Visit]:
    v = m.visits
    earliest = min(window.start, window.end - dt.timedelta(days=longest_interval))
    rows = (
        await session.execute(
            sa.select(v.c.visit_id, v.c.household_id, v.c.department_code, v.c.visited_on, v.c.satisfaction)
            .where(
                v.c.visited_on.between(earliest, window.end),
                _department_or_households(scope, v.c.department_code, v.c.household_id, ids),
            )
            .order_by(v.c.visit_id)
        )
    ).all()
    return [Visit(str(r.visit_id), str(r.household_id), r.department_code, r.visited_on, r.satisfaction) for r in rows]


async def _measures(
    session: AsyncSession, scope: Scope, ids: sa.Select[Any] | None, window: FactWindow
) -> list[Measure]:
    me = m.measures
    rows = (
        await session.execute(
            sa.select(me.c.measure_id, me.c.household_id, me.c.department_code, me.c.due_on, me.c.completed_on)
            .where(
                me.c.due_on.between(window.start, window.end),
                _department_or_households(scope, me.c.department_code, me.c.household_id, ids),
            )
            .order_by(me.c.measure_id)
        )
    ).all()
    return [Measure(str(r.measure_id), str(r.household_id), r.department_code, r.due_on, r.completed_on) for r in rows]


async def _claims(session: AsyncSession, scope: Scope, ids: sa.Select[Any] | None, window: FactWindow) -> list[Claim]:
    cl, h = m.claims, m.households
    in_window = sa.or_(cl.c.discharged_on.between(window.start, window.end), cl.c.policy_year.in_(sorted(window.years)))
    if scope.kind is ScopeKind.DISTRICT:
        in_scope: sa.ColumnElement[bool] = _where_household(cl.c.household_id, ids)
    else:
        assert ids is not None
        # A claim of a household the projection does not know is placed by the community it carried.
        unknown_household = sa.or_(
            cl.c.household_id.is_(None), ~sa.exists().where(h.c.household_id == cl.c.household_id)
        )
        by_community = (
            sa.and_(unknown_household, cl.c.community_code.like(_prefix(scope.code)))
            if scope.kind is not ScopeKind.DEPARTMENT
            else sa.false()
        )
        in_scope = sa.or_(cl.c.household_id.in_(ids), by_community)
    rows = (
        await session.execute(
            sa.select(
                cl.c.claim_id,
                cl.c.household_id,
                cl.c.street_code,
                cl.c.community_code,
                cl.c.discharged_on,
                cl.c.policy_year,
                cl.c.cap_met,
                cl.c.supplementary,
                cl.c.reversed,
            )
            .where(in_window, in_scope)
            .order_by(cl.c.claim_id)
        )
    ).all()
    return [
        Claim(
            str(r.claim_id),
            None if r.household_id is None else str(r.household_id),
            r.street_code,
            r.community_code,
            r.discharged_on,
            r.policy_year,
            r.cap_met,
            Decimal(r.supplementary),
            r.reversed,
        )
        for r in rows
    ]
