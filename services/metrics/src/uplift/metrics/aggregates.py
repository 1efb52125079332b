"""Pre-aggregated counts for the dashboard: `household_counts` and `fact_coverage`, kept with the spans.

The household-based indicators ask, for a scope and a day D, how many households were in a state at the end of
D (enrolled, lifted, in the programme, paired, both, under monitoring), each household placed by its community
at the end of D. Counting that over every household's spans costs a scan of the district; instead every
household contributes *changes*: +1 on the day it enters a state, -1 on the day it leaves it, under the
community it is in meanwhile. The count at the end of D is then the sum of the changes on or before D, over a
few hundred rows of a scope.

- `household_counts` (scope, cohort, day): the state changes, and the visits of the day with a satisfaction
  (`rated`, `satisfied`, placed by the household's community on the visit day; every cohort only).
- `fact_coverage` (kind, scope, cohort, fact date, day): the same changes for the households in a state, under
  the date of a fact that changes as days pass: paired by their latest visit so far (`visit`); in the programme
  by their next hire (`hire`); under monitoring by their next relapse (`relapse`). Summing over `day <= D` and
  a range of fact dates counts "paired at D and visited within the interval", "in the programme at the eve and
  hired in the period", "monitored at the eve and relapsed in the period", whatever the interval or period.
- Each change is stored under '' (the district: every household) and under the household's community code
  (a street or community scope sums the codes that start with its own), and under '' (every cohort) and the
  household's cohort.
- `household_contributions` keeps what each household added (before that split), so that when an event
  changes a household its old contribution is taken away exactly and its new one added, in the transaction of
  the event (`refresh_derived`). A rebuild computes them all again; both give the same rows, since the tables
  are sums of the same contributions (rows that sum to zero are deleted).

The contributions are computed from the spans (`spans`), which answer as the domain's `HouseholdFacts` do, and
from the household's visits, hires and relapses, so the counts are what the reference functions count. The code
is synchronous (it runs through `run_sync` in the service, and as it is in a migration).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from json import dumps as json_dumps
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as UUIDType
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from uplift.metrics import models as m
from uplift.metrics.domain.facts import HouseholdFacts
from uplift.metrics.domain.indicators import SATISFIED_FROM
from uplift.metrics.facts_queries import any_of_ids, load_households_sync
from uplift.metrics.spans import BEFORE_ANY_DATE, community_spans_of, helper_spans_of, status_spans_of

EVERY = ""  # the scope code of the district (every household) and the cohort of every cohort
IN_PROGRAMME = ("enrolled", "transition")
STATE_COUNTERS = ("enrolled", "lifted", "in_programme", "paired", "covered", "monitored")
VISIT_COUNTERS = ("rated", "satisfied")
COUNTERS = STATE_COUNTERS + VISIT_COUNTERS
# Two-key advisory locks (a space apart from the one-key projection lock): one household refreshed at a time.
HOUSEHOLD_LOCK_SPACE = 0x6D657472
_ROWS_PER_STATEMENT = 5000

Vector = tuple[int, ...]  # one value per COUNTERS
CountKey = tuple[str, str, dt.date]  # scope_code, cohort, day
CoverageKey = tuple[str, str, str, dt.date, dt.date]  # kind, scope_code, cohort, fact_on, day
VISIT, HIRE, RELAPSE = "visit", "hire", "relapse"


@dataclass(frozen=True)
class VisitFact:
    visited_on: dt.date
    satisfaction: int | None


@dataclass(frozen=True)
class Contribution:
    """What one household adds to the counts, by its community (None: a household the projection does not know)."""

    cohort: str | None
    counts: tuple[tuple[str | None, dt.date, Vector], ...] = ()
    coverage: tuple[tuple[str, str, dt.date, dt.date, int], ...] = ()  # kind, community, day, fact_on, households

    def row(self, household_id: UUID) -> dict[str, Any]:
        return {
            "household_id": household_id,
            "cohort": self.cohort,
            "counts": [[community, day.isoformat(), *vector] for community, day, vector in self.counts],
            "coverage": [
                [kind, community, day.isoformat(), fact_on.isoformat(), households]
                for kind, community, day, fact_on, households in self.coverage
            ],
        }

    @classmethod
    def of_row(cls, row: Any) -> Contribution:
        day = dt.date.fromisoformat
        return cls(
            row.cohort,
            tuple((c[0], day(c[1]), tuple(c[2:])) for c in row.counts),
            tuple((c[0], c[1], day(c[2]), day(c[3]), c[4]) for c in row.coverage),
        )

    def __bool__(self) -> bool:
        return bool(self.counts or self.coverage)


# --- what a household contributes


def _covering(spans: Sequence[Mapping[str, Any]], day: dt.date) -> Mapping[str, Any] | None:
    for span in spans:
        if span["valid_from"] <= day and (span["valid_to"] is None or span["valid_to"] > day):
            return span
    return None


def _boundaries(spans: Iterable[Mapping[str, Any]]) -> set[dt.date]:
    days = set()
    for span in spans:
        days.add(span["valid_from"])
        if span["valid_to"] is not None:
            days.add(span["valid_to"])
    return days


def _state(status: Mapping[str, Any] | None, helper: Mapping[str, Any] | None, day: dt.date) -> Vector:
    """The state counters of a household at the end of `day`, as the indicators' definitions read the spans."""
    enrolled = status is not None
    lifted = status is not None and bool(status["lifted"])
    in_programme = status is not None and status["status"] in IN_PROGRAMME
    paired = helper is not None
    monitoring_until = status["monitoring_until"] if status is not None else None
    monitored = lifted and monitoring_until is not None and day <= monitoring_until
    flags = (enrolled, lifted, in_programme, paired, in_programme and paired, monitored)
    return (*(int(flag) for flag in flags), 0, 0)


def _add(target: dict[Any, list[int]], key: Any, vector: Sequence[int], sign: int = 1) -> None:
    held = target.get(key)
    if held is None:
        target[key] = [value * sign for value in vector]
    else:
        for i, value in enumerate(vector):
            held[i] += sign * value


SpanRows = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]  # status, community, helper


def spans_of(household: HouseholdFacts) -> SpanRows:
    return status_spans_of(household), community_spans_of(household), helper_spans_of(household)


def contribution_of(
    household: HouseholdFacts | None,
    visits: Sequence[VisitFact],
    hires: Collection[dt.date] = (),
    spans: SpanRows | None = None,
) -> Contribution:
    """The changes one household adds (its visits only, to the district, when the projection does not know it).

    `spans` are the household's, when the caller has them already."""
    counts: dict[tuple[str | None, dt.date], list[int]] = {}
    coverage: dict[tuple[str, str, dt.date, dt.date], list[int]] = {}

    def rated(community: str | None, visit: VisitFact) -> None:
        if visit.satisfaction is not None:
            satisfied = int(visit.satisfaction >= SATISFIED_FROM)
            _add(counts, (community, visit.visited_on), (0,) * len(STATE_COUNTERS) + (1, satisfied))

    if household is None:
        for visit in visits:
            rated(None, visit)
        return _contribution(None, counts, coverage)

    statuses, communities, helpers = spans or spans_of(household)
    # States: constant between the span boundaries and the day after each end of monitoring.
    state_days = _boundaries([*statuses, *communities, *helpers]) | {BEFORE_ANY_DATE}
    for status in statuses:
        until = status["monitoring_until"]
        if status["lifted"] and until is not None and until < dt.date.max:
            state_days.add(until + dt.timedelta(days=1))
    starts = sorted(state_days)
    vectors: list[Vector] = []
    places: list[str] = []  # the community of each range
    for i, start in enumerate(starts):
        vector = _state(_covering(statuses, start), _covering(helpers, start), start)
        community = _covering(communities, start)
        assert community is not None  # community spans cover every day
        vectors.append(vector)
        places.append(str(community["community_code"]))
        if any(vector):
            _add(counts, (places[i], start), vector)
            if i + 1 < len(starts):
                _add(counts, (places[i], starts[i + 1]), vector, -1)

    def cover(kind: str, state: int, fact_days: Collection[dt.date], latest: bool) -> None:
        """While in `state` (an index of STATE_COUNTERS): by the latest fact on or before the day, or the first
        one after it; each fact day and state change starts a new range."""
        ordered = sorted(set(fact_days))
        if not ordered:
            return
        points = sorted(state_days.union(ordered))
        for i, start in enumerate(points):
            at = bisect.bisect_right(starts, start) - 1
            if not vectors[at][state]:
                continue
            position = bisect.bisect_right(ordered, start)
            if latest and position > 0:
                fact_on = ordered[position - 1]
            elif not latest and position < len(ordered):
                fact_on = ordered[position]
            else:
                continue
            _add(coverage, (kind, places[at], start, fact_on), (1,))
            if i + 1 < len(points):
                _add(coverage, (kind, places[at], points[i + 1], fact_on), (1,), -1)

    cover(VISIT, STATE_COUNTERS.index("paired"), [visit.visited_on for visit in visits], latest=True)
    cover(HIRE, STATE_COUNTERS.index("in_programme"), hires, latest=False)
    cover(RELAPSE, STATE_COUNTERS.index("monitored"), household.relapses, latest=False)

    for visit in visits:
        rated(places[bisect.bisect_right(starts, visit.visited_on) - 1], visit)
    return _contribution(household.cohort, counts, coverage)


def _contribution(
    cohort: str | None,
    counts: dict[tuple[str | None, dt.date], list[int]],
    coverage: dict[tuple[str, str, dt.date, dt.date], list[int]],
) -> Contribution:
    return Contribution(
        cohort,
        tuple(
            (community, day, tuple(vector))
            for (community, day), vector in sorted(counts.items(), key=lambda item: (item[0][0] or "", item[0][1]))
            if any(vector)
        ),
        tuple(
            (kind, community, day, fact_on, vector[0])
            for (kind, community, day, fact_on), vector in sorted(coverage.items())
            if vector[0]
        ),
    )


# --- split by scope and cohort


def scope_codes(community: str | None) -> list[str]:
    """The scope codes a household in `community` counts under: '' (the district) and its community's code.

    A street or community scope holds the households whose community code starts with the scope's code: it sums
    the rows whose `scope_code` does (`LIKE code || '%'`), as the definitions place households.
    """
    return [EVERY, community] if community else [EVERY]


PreCountKey = tuple[str | None, str | None, dt.date]  # community, cohort, day
PreCoverageKey = tuple[str, str | None, str | None, dt.date, dt.date]  # kind, community, cohort, fact_on, day


class Changes:
    """Contributions added and taken away, summed by community and cohort first (many households share them),
    then split by scope and cohort once per sum."""

    def __init__(self) -> None:
        self.counts: dict[PreCountKey, list[int]] = {}
        self.coverage: dict[PreCoverageKey, int] = {}

    def add(self, contribution: Contribution, sign: int = 1) -> None:
        cohort = contribution.cohort
        for community, day, vector in contribution.counts:
            _add(self.counts, (community, cohort, day), vector, sign)
        coverage = self.coverage
        for kind, community, day, fact_on, households in contribution.coverage:
            key = (kind, community, cohort, fact_on, day)
            coverage[key] = coverage.get(key, 0) + sign * households

    def split(self) -> tuple[dict[CountKey, list[int]], dict[CoverageKey, list[int]]]:
        """The changes by scope and cohort, as the tables hold them."""
        counts: dict[CountKey, list[int]] = {}
        coverage: dict[CoverageKey, list[int]] = {}
        for (community, cohort, day), vector in self.counts.items():
            if not any(vector):
                continue
            states = vector[: len(STATE_COUNTERS)] + [0] * len(VISIT_COUNTERS)
            of_cohort = cohort is not None and any(states)
            for scope in scope_codes(community):
                _add(counts, (scope, EVERY, day), vector)
                if of_cohort:
                    _add(counts, (scope, cohort, day), states)
        for (kind, community, cohort, fact_on, day), households in self.coverage.items():
            if not households:
                continue
            for scope in scope_codes(community):
                for each in (EVERY,) if cohort is None else (EVERY, cohort):
                    _add(coverage, (kind, scope, each, fact_on, day), (households,))
        return counts, coverage


def add_split(
    contribution: Contribution,
    sign: int,
    counts: dict[CountKey, list[int]],
    coverage: dict[CoverageKey, list[int]],
) -> None:
    """Add (sign 1) or take away (-1) a contribution to the changes by scope and cohort."""
    changes = Changes()
    changes.add(contribution, sign)
    split_counts, split_coverage = changes.split()
    for count_key, vector in split_counts.items():
        _add(counts, count_key, vector)
    for coverage_key, households in split_coverage.items():
        _add(coverage, coverage_key, households)


# --- reading and writing


def _lock_key(household_id: UUID) -> int:
    return int.from_bytes(household_id.bytes[-4:], "big", signed=True)


def lock_households(connection: sa.Connection, household_ids: Collection[UUID]) -> None:
    """Take the households' refresh locks (in one order, so two writers cannot deadlock on them)."""
    keys = sorted({_lock_key(household_id) for household_id in household_ids})
    connection.execute(
        sa.text("SELECT count(pg_advisory_xact_lock(:space, key)) FROM unnest(CAST(:keys AS integer[])) AS key"),
        {"space": HOUSEHOLD_LOCK_SPACE, "keys": keys},
    )


def load_facts(
    connection: sa.Connection, household_ids: Sequence[UUID] | None
) -> tuple[dict[UUID, list[VisitFact]], dict[UUID, list[dt.date]]]:
    """The households' visits, and the days their placements started (a placement known only by a retention or
    an end has none yet), in one query."""
    v, p = m.visits, m.placements
    visits_query = sa.select(v.c.household_id, v.c.visited_on.label("day"), v.c.satisfaction, sa.true().label("visit"))
    hires_query = sa.select(
        p.c.household_id, p.c.started_on, sa.null().cast(sa.SmallInteger), sa.false().label("visit")
    ).where(p.c.started_on.is_not(None))
    if household_ids is not None:
        visits_query = visits_query.where(v.c.household_id == any_of_ids(household_ids))
        hires_query = hires_query.where(p.c.household_id == any_of_ids(household_ids))
    visits: dict[UUID, list[VisitFact]] = defaultdict(list)
    hires: dict[UUID, list[dt.date]] = defaultdict(list)
    for row in connection.execute(sa.union_all(visits_query, hires_query)):
        if row.visit:
            visits[row.household_id].append(VisitFact(row.day, row.satisfaction))
        else:
            hires[row.household_id].append(row.day)
    return visits, hires


def _array_type(column: sa.Column[Any]) -> str:
    """The PostgreSQL type of an array of the column's values (JSON documents travel as text)."""
    kind = column.type
    if isinstance(kind, sa.Date):
        return "date"
    if isinstance(kind, sa.Boolean):
        return "boolean"
    if isinstance(kind, sa.SmallInteger):
        return "smallint"
    if isinstance(kind, sa.BigInteger):
        return "bigint"
    if isinstance(kind, sa.Integer):
        return "integer"
    if isinstance(kind, UUIDType):
        return "uuid"
    return "text"


class _Statement:
    """Several writes run as one statement (each a data-modifying `WITH` part, all of which PostgreSQL runs),
    rows passed as one array per column (`unnest`): a round trip for them all, and far less work than many-row
    VALUES lists. The parts must not touch the same rows."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: dict[str, Any] = {}

    def _arrays(self, table: sa.Table, columns: Sequence[str], values: Mapping[str, list[Any]]) -> str:
        prefix = f"p{len(self.parts)}_"
        for name in columns:
            self.params[prefix + name] = values[name]
        return ", ".join(f"CAST(:{prefix}{name} AS {_array_type(table.c[name])}[])" for name in columns)

    def insert(self, table: sa.Table, rows: Sequence[Mapping[str, Any]], on_conflict: str = "") -> None:
        if not rows:
            return
        names = [c.name for c in table.columns]
        json = {c.name for c in table.columns if isinstance(c.type, JSONB)}
        values = {name: [json_dumps(row[name]) if name in json else row[name] for row in rows] for name in names}
        quoted = ", ".join(f'"{name}"' for name in names)
        selected = ", ".join(f'"{name}"::jsonb' if name in json else f'"{name}"' for name in names)
        arrays = self._arrays(table, names, values)
        self.parts.append(
            f"INSERT INTO {table.fullname} ({quoted}) SELECT {selected} FROM unnest({arrays}) AS t({quoted}) "  # noqa: S608
            + on_conflict
        )

    def add_changes(self, table: sa.Table, key: Sequence[str], changes: Mapping[Any, list[int]]) -> None:
        """Add the changes to the table's counters, creating the rows that do not exist; says (`empty`) which rows
        are left at zero everywhere."""
        columns = [c.name for c in table.columns if c.name not in key]
        rows = sorted((k, v) for k, v in changes.items() if any(v))  # one order: writers wait, never deadlock
        if not rows:
            return
        values = {name: [k[i] for k, _ in rows] for i, name in enumerate(key)}
        values |= {name: [v[i] for _, v in rows] for i, name in enumerate(columns)}
        arrays = self._arrays(table, [*key, *columns], values)
        zero = " AND ".join(f"t.{name} = 0" for name in columns)
        self.parts.append(
            f"INSERT INTO {table.fullname} AS t ({', '.join([*key, *columns])}) SELECT * FROM unnest({arrays}) "  # noqa: S608
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
            + ", ".join(f"{name} = t.{name} + excluded.{name}" for name in columns)
            + f" RETURNING ({zero}) AS empty"
        )

    def delete_empty(self, table: sa.Table, key: Sequence[str], keys: Collection[Any]) -> None:
        """Delete those of the rows with these keys left at zero everywhere."""
        if not keys:
            return
        columns = [c.name for c in table.columns if c.name not in key]
        arrays = self._arrays(table, key, {name: [k[i] for k in keys] for i, name in enumerate(key)})
        zero = " AND ".join(f"t.{name} = 0" for name in columns)
        self.parts.append(
            f"DELETE FROM {table.fullname} AS t WHERE ({', '.join(f't.{name}' for name in key)}) IN "  # noqa: S608
            f"(SELECT * FROM unnest({arrays})) AND {zero}"
        )

    def delete(self, table: sa.Table, household_ids: Sequence[UUID] | None) -> None:
        """Delete the households' rows (None: every row)."""
        if household_ids is None:
            self.parts.append(f"DELETE FROM {table.fullname}")  # noqa: S608
        elif household_ids:
            arrays = self._arrays(table, ["household_id"], {"household_id": list(household_ids)})
            self.parts.append(f"DELETE FROM {table.fullname} WHERE household_id = ANY({arrays})")  # noqa: S608

    def run(self, connection: sa.Connection, then: str = "SELECT 1") -> Any:
        """Run the parts, then `then` (which may read the parts' RETURNING as w0, w1, …); its first value."""
        if not self.parts:
            return None
        parts = ", ".join(f"w{n} AS ({part})" for n, part in enumerate(self.parts))
        return connection.execute(sa.text(f"WITH {parts} {then}"), self.params).scalar()


SPAN_TABLES = (m.status_spans, m.community_spans, m.helper_spans)
COUNT_KEY = ("scope_code", "cohort", "day")
COVERAGE_KEY = ("kind", "scope_code", "cohort", "fact_on", "day")


def refresh_derived_sync(
    connection: sa.Connection,
    span_household_ids: Collection[UUID] | None,
    fact_household_ids: Collection[UUID] = (),
) -> int:
    """Recompute the spans of `span_household_ids` (None: of every household, and everything derived from
    scratch) and the contributions of those and of `fact_household_ids` (households with a visit or a hire
    written), and move the counts by the difference. Returns how many households were refreshed."""
    if span_household_ids is None:
        return _refill(connection)
    ids = sorted(set(span_household_ids) | set(fact_household_ids))
    if not ids:
        return 0
    lock_households(connection, ids)
    households = {UUID(h.household_id): h for h in load_households_sync(connection, ids)}
    spans = {household_id: spans_of(household) for household_id, household in households.items()}
    visits, hires = load_facts(connection, ids)
    # The old spans go, and the old contributions are read, in one statement.
    span_ids = sorted(set(span_household_ids))
    cleared = _Statement()
    for table in SPAN_TABLES:
        cleared.delete(table, span_ids)
    hc = m.household_contributions
    old = {row.household_id: Contribution.of_row(row) for row in _old_contributions(connection, cleared, ids)}

    changes = Changes()
    changed: list[tuple[UUID, Contribution]] = []
    for household_id in ids:
        new = contribution_of(
            households.get(household_id),
            visits.get(household_id, ()),
            hires.get(household_id, ()),
            spans.get(household_id),
        )
        before = old.get(household_id, Contribution(None))
        if new == before or (not new and not before):
            continue
        changes.add(before, -1)
        changes.add(new)
        changed.append((household_id, new))
    counts, coverage = changes.split()

    # The new spans, contributions and counts in one statement.
    writes = _Statement()
    for n, table in enumerate(SPAN_TABLES):
        writes.insert(table, [row for i in span_ids if i in spans for row in spans[i][n]])
    writes.delete(hc, [household_id for household_id, new in changed if not new])
    replace = "ON CONFLICT (household_id) DO UPDATE SET " + ", ".join(
        f"{name} = excluded.{name}" for name in ("cohort", "counts", "coverage")
    )
    writes.insert(hc, [new.row(household_id) for household_id, new in changed if new], replace)
    first_count = len(writes.parts)
    writes.add_changes(m.household_counts, COUNT_KEY, counts)
    writes.add_changes(m.fact_coverage, COVERAGE_KEY, coverage)
    counted = [f"(SELECT count(*) FROM w{n} WHERE empty)" for n in range(first_count, len(writes.parts))]  # noqa: S608
    emptied = writes.run(connection, f"SELECT {' + '.join(counted) or '0'}")
    if emptied:
        empties = _Statement()
        empties.delete_empty(m.household_counts, COUNT_KEY, [k for k, v in counts.items() if any(v)])
        empties.delete_empty(m.fact_coverage, COVERAGE_KEY, [k for k, v in coverage.items() if any(v)])
        empties.run(connection)
    return len(ids)


def _old_contributions(connection: sa.Connection, deletes: _Statement, ids: Sequence[UUID]) -> list[Any]:
    """The households' stored contributions, read in the statement that runs `deletes`."""
    hc = m.household_contributions
    if not deletes.parts:
        return list(connection.execute(sa.select(hc).where(hc.c.household_id == any_of_ids(ids))))
    parts = ", ".join(f"w{n} AS ({part})" for n, part in enumerate(deletes.parts))
    statement = sa.text(
        f"WITH {parts} SELECT household_id, cohort, counts, coverage FROM {hc.fullname} "  # noqa: S608
        "WHERE household_id = ANY(CAST(:contributors AS uuid[]))"
    ).columns(household_id=UUIDType(as_uuid=True), cohort=sa.Text, counts=JSONB, coverage=JSONB)
    return list(connection.execute(statement, {**deletes.params, "contributors": list(ids)}))


def _refill(connection: sa.Connection) -> int:
    """Every household's spans and contributions, and the counts, from scratch."""
    cleared = _Statement()
    for table in (*SPAN_TABLES, m.household_contributions, m.household_counts, m.fact_coverage):
        cleared.delete(table, None)
    cleared.run(connection)
    households = load_households_sync(connection, None)
    spans = {UUID(household.household_id): spans_of(household) for household in households}
    visits, hires = load_facts(connection, None)
    changes = Changes()
    rows = []
    known = {UUID(h.household_id): h for h in households}
    for household_id in sorted(known.keys() | visits.keys()):
        contribution = contribution_of(
            known.get(household_id), visits.get(household_id, ()), hires.get(household_id, ()), spans.get(household_id)
        )
        if contribution:
            changes.add(contribution)
            rows.append(contribution.row(household_id))
    counts, coverage = changes.split()
    # Table by table, in slices: statements of a bounded size.
    for n, table in enumerate(SPAN_TABLES):
        _in_slices(connection, table, [row for rows_of in spans.values() for row in rows_of[n]])
    _in_slices(connection, m.household_contributions, rows)
    split: tuple[tuple[sa.Table, tuple[str, ...], Mapping[Any, list[int]]], ...] = (
        (m.household_counts, COUNT_KEY, counts),
        (m.fact_coverage, COVERAGE_KEY, coverage),
    )
    for table, key, by_key in split:
        items = sorted(by_key.items())
        for start in range(0, len(items), _ROWS_PER_STATEMENT):
            statement = _Statement()
            statement.add_changes(table, key, dict(items[start : start + _ROWS_PER_STATEMENT]))
            statement.run(connection)
    return len(households)


def _in_slices(connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        statement = _Statement()
        statement.insert(table, rows[start : start + _ROWS_PER_STATEMENT])
        statement.run(connection)


async def refresh_derived(
    session: AsyncSession,
    span_household_ids: Collection[UUID] | None = None,
    fact_household_ids: Collection[UUID] = (),
) -> int:
    """`refresh_derived_sync` in the session's transaction."""

    def run(sync_session: Session) -> int:
        return refresh_derived_sync(sync_session.connection(), span_household_ids, fact_household_ids)

    return await session.run_sync(run)
