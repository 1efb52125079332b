"""The pre-aggregated counts as the live consumers keep them: a random story of households (moves, undone exits,
relapses, transitions, pairings, visits before the enrolment, hires, claims also of households the projection
does not know) gives, through the SQL indicators, the reference functions' figures for every scope, past and
future periods and cohorts; and the counts equal those computed from scratch from the same projections."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
import sqlalchemy as sa
from nats.js import JetStreamContext

from uplift.common import contracts as c
from uplift.common.envelope import Envelope
from uplift.common.testkit import RunningService, eventually
from uplift.metrics import models as m
from uplift.metrics import sql_indicators
from uplift.metrics.aggregates import refresh_derived
from uplift.metrics.domain.indicators import INDICATORS, compute_indicator
from uplift.metrics.domain.periods import parse_period
from uplift.metrics.domain.scopes import Scope, ScopeKind, parse_scope
from uplift.metrics.facts_queries import load_facts
from uplift.metrics.projections import PROJECTION_LOCK
from uplift.metrics.sample_events import (
    Household,
    Org,
    Publisher,
    cadre,
    consumers_caught_up,
    hired,
    new_household,
    reversed_claim,
    settled,
    visit,
)

pytestmark = pytest.mark.integration

DERIVED = (m.household_contributions, m.household_counts, m.fact_coverage)
PERIODS = [
    "2025-06",
    "2025-Q4",
    "2026-Q1",
    "2026-02",
    "2026-Q2",
    "2026-05",
    "2026",
    "2025-12-15..2026-02-10",
    "2026-04-30..2026-05-01",
    "2027-Q1",
]


ACTIONS = ["pair", "release", "visit", "visit", "hire", "move", "exit", "undo", "relapse", "transition"]


def _at(day: dt.date) -> dt.datetime:
    """Noon in Asia/Shanghai on `day`: a move recorded then takes effect that day."""
    return dt.datetime(day.year, day.month, day.day, 4, 0, tzinfo=dt.UTC)


def _story(rng: random.Random, household: Household, communities: list[str], department: str) -> list[Envelope]:
    """One household's events in the order the registry and matching would send them."""
    day = household.enrolled_on
    events: list[Envelope] = []

    def later(most: int = 60) -> dt.date:
        nonlocal day
        day = day + dt.timedelta(days=rng.randrange(1, most))
        return day

    def add(payload: Any, at: dt.datetime | None = None) -> None:
        events.append(Publisher.envelope(payload, at=at))

    helper = cadre(department)
    if rng.random() < 0.2:  # a visit that arrives before the enrolment
        add(visit(household, helper, day - dt.timedelta(days=3), rng.choice([None, 2, 5])))
    add(household.enrolled())
    lifted_exit = False
    for _ in range(rng.randrange(7)):
        action = rng.choice(ACTIONS)
        if action == "pair":
            helper = cadre(department)
            add(household.paired(helper, later()))
        elif action == "release" and household.helper is not None:
            add(household.released(later()))
        elif action == "visit":
            add(visit(household, helper, later(30), rng.choice([None, 1, 3, 4, 5])))
        elif action == "hire":
            add(hired(household, later()))
        elif action == "move":
            on = later()
            add(household.moved(rng.choice(communities)), at=_at(on))
        elif action == "exit" and household.status != "exited":
            reason = rng.choice(["employment", "policy_support", "moved_away", "deceased"])
            lifted_exit = reason in {"employment", "policy_support"}
            add(household.exited(later(), reason))
            if lifted_exit and rng.random() < 0.4:
                add(household.relapsed_on(later(90)))
        elif action == "undo" and household.status == "exited":
            add(household.exit_undone(later(20)))
        elif action == "relapse" and household.status == "exited" and lifted_exit:
            add(household.relapsed_on(later()))
        elif action == "transition" and household.status == "enrolled":
            add(household.transition(later()))
    return events


async def _contents(session: Any) -> dict[str, list[tuple[Any, ...]]]:
    contents = {}
    for table in DERIVED:
        ordered = sa.select(table).order_by(*table.primary_key.columns)
        contents[table.name] = [tuple(row) for row in (await session.execute(ordered)).all()]
    return contents


async def test_counts_kept_by_the_consumers_give_the_reference_figures_and_equal_a_refill(
    metrics: RunningService, publisher: Publisher, jetstream: JetStreamContext
) -> None:
    rng = random.Random(20261127)
    first, second = Org.fresh(communities=2), Org.fresh(communities=2)
    communities = first.communities + second.communities
    households = []
    for n in range(48):
        org = first if n % 2 else second
        enrolled_on = dt.date(2025, 10, 1) + dt.timedelta(days=rng.randrange(200))
        household = new_household(org, community=rng.randrange(2), enrolled_on=enrolled_on)
        household.cohort = rng.choice([first.cohort, second.cohort])
        households.append(household)
    stories = [_story(rng, h, communities, first.department) for h in households]
    # Interleave the stories, each in its own order.
    envelopes: list[Envelope] = []
    while any(stories):
        story = rng.choice([s for s in stories if s])
        envelopes.append(story.pop(0))
    # The story exercises what the counts must get right.
    assert {
        c.HouseholdUpdated.event_type,  # moves
        c.HouseholdExitUndone.event_type,
        c.HouseholdRelapsed.event_type,
        c.HouseholdTransitionStarted.event_type,
        c.PairingReleased.event_type,
        c.PlacementHired.event_type,
        c.VisitRecorded.event_type,
    } <= {e.type for e in envelopes}
    await publisher.publish(envelopes)
    await eventually(lambda: consumers_caught_up(jetstream), timeout=30, what="the consumers caught up")
    # Then hires and visits of households already projected, on the edges of the periods and of the visit
    # windows (30 days by default, 20 where another test set the parameter): hires for some households, and
    # for paired ones visits all on one kind of edge each.
    periods = [parse_period(label) for label in PERIODS]
    edges = [period.start for period in periods] + [period.end for period in periods]
    paired = [h for h in households if h.helper is not None]
    unpaired = [h for h in households if h.helper is None]
    assert len(paired) >= 6 and len(unpaired) >= 8
    more: list[c.EventPayload] = [hired(h, rng.choice(edges)) for h in unpaired[:8] for _ in range(2)]
    # Claims, of known households and of households the projection never hears of (placed by the community
    # the claim carried), some reversed.
    strangers = [new_household(first if n % 2 else second, community=n % 2) for n in range(4)]
    for household in [*rng.sample(households, 8), *strangers]:
        claim = settled(household, rng.choice(edges), cap_met=rng.choice([True, False, None]))
        more += [claim, reversed_claim(claim, claim.discharged_on)] if rng.random() < 0.2 else [claim]
    for household, days_before_end in zip(paired, (-1, 0, 19, 20, 29, 30), strict=False):
        assert household.helper is not None
        more += [
            visit(household, household.helper, period.end - dt.timedelta(days=days_before_end), 4) for period in periods
        ]
    await publisher.publish(more)
    await eventually(lambda: consumers_caught_up(jetstream), timeout=30, what="the consumers caught up again")

    scopes = [
        parse_scope(first.district),  # the district scope holds every household of the projection
        parse_scope(first.street),
        parse_scope(second.street),
        *(parse_scope(code) for code in communities),
    ]
    compared = 0
    async with metrics.runtime.sessions() as session:
        # One snapshot for both sides (other tests' events may still be landing).
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        for scope in scopes:
            for cohort in (None, first.cohort):
                names = [
                    name
                    for name, definition in INDICATORS.items()
                    if (cohort is None or definition.household_based) and name != "supplementary_fund_used"
                ]
                facts = await load_facts(session, scope, periods, cohort)
                got = await sql_indicators.indicators(session, scope, periods, names, cohort)
                for period, values in zip(periods, got, strict=True):
                    for name in names:
                        expected = compute_indicator(name, facts, scope, period, cohort)
                        assert values[name] == expected, f"{name} {scope} {period.label} {cohort}"
                        compared += 1
        # The dashboard's own path, both periods in one statement.
        for scope in scopes[1:]:
            current, previous = await sql_indicators.dashboards(session, scope, [periods[4], periods[2]])
            facts = await load_facts(session, scope, [periods[4], periods[2]])
            assert current == {name: compute_indicator(name, facts, scope, periods[4]) for name in current}
            assert previous == {name: compute_indicator(name, facts, scope, periods[2]) for name in previous}
    assert compared > 800

    # Some of it matters: households moved, exits were undone, relapses and visits counted in these scopes.
    async with metrics.runtime.sessions() as session:
        street = Scope(ScopeKind.STREET, first.street)
        year = (await sql_indicators.indicators(session, street, [parse_period("2026")], list(INDICATORS)[:7]))[0]
        assert year["exit_rate"].denominator > 0 and year["satisfaction_rate"].denominator > 0

    # Kept batch by batch, the counts are what computing them from scratch over the same projections gives.
    async with metrics.runtime.sessions() as session:
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(PROJECTION_LOCK)))  # no consumer writes now
        kept = await _contents(session)
        await refresh_derived(session)
        assert await _contents(session) == kept
        await session.rollback()
