"""Projectors: how each event of EVENTS.md lands in the metrics projections.

A projector turns one event into rows for a few prepared upserts (`Write`s); `apply_events` groups the rows
of many events by upsert and runs each upsert once for all of them, which is what lets the consumers and the
rebuild keep up with the streams. Every write is idempotent on its own (besides the consumer's inbox):
- snapshots are upserted by `seq` (the newest wins);
- history rows are keyed by (aggregate id, `seq`) and inserted once;
- rows that several event types fill in (a placement: hired, retained, ended) take each type's own columns.
So the rows of one aggregate can arrive in any order, twice, or in one batch: the result is the same, and the
readers (`facts_queries`) resolve histories by `seq` and date. That is also why a rebuild by replaying the
streams gives the same rows.

Dates are the business dates the payloads carry. The one change without a business date is a community move
(`registry.household.updated` with `changes.community_code`): it takes effect on the date of the envelope's
`time` in the district's time zone (Asia/Shanghai).
`registry.household.exit_undone` is kept as a row of its own; the reader removes the mistaken exit (the latest
exit before the undo, by `seq`) from the status history, so the household returns to its previous status.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common import contracts as c
from uplift.common.consumer import ConsumerSpec, Handler
from uplift.common.db import advisory_key
from uplift.common.envelope import Envelope
from uplift.common.unit_of_work import UnitOfWork
from uplift.metrics import models as m
from uplift.metrics.aggregates import refresh_derived
from uplift.metrics.facts_queries import any_of_ids

DISTRICT_TIMEZONE = ZoneInfo("Asia/Shanghai")
# Consumers hold it shared while they write; a rebuild holds it exclusively while it refills.
PROJECTION_LOCK = advisory_key("metrics:projections")
SOURCE_STREAMS = ("REGISTRY", "MATCHING", "MEDICAL")

Row = dict[str, Any]


@dataclass(frozen=True, eq=False)
class Write:
    """One prepared upsert into a projection table, run with many rows at once.

    `keep` says which of several rows with the same key in one batch stands for them all, so that a batch
    gives what applying its events one by one would: the `first` (insert once), the `newest` by `seq`
    (snapshots), or the `last` (columns an event type sets).
    """

    table: sa.Table
    key: tuple[str, ...]
    keep: Literal["first", "newest", "last"]
    update: Callable[[Insert], Mapping[str, Any]] | None = None  # None: ON CONFLICT DO NOTHING
    newer_only: bool = False  # update only when the row carries a greater `seq`

    @cached_property
    def statement(self) -> Insert:
        insert = pg_insert(self.table)
        if self.update is None:
            return insert.on_conflict_do_nothing(index_elements=list(self.key))
        where = self.table.c.seq < insert.excluded.seq if self.newer_only else None
        return insert.on_conflict_do_update(index_elements=list(self.key), set_=dict(self.update(insert)), where=where)

    def representatives(self, rows: Sequence[Row]) -> list[Row]:
        chosen: dict[tuple[Any, ...], Row] = {}
        for row in rows:
            key = tuple(row[k] for k in self.key)
            held = chosen.get(key)
            if held is None or self.keep == "last" or (self.keep == "newest" and row["seq"] > held["seq"]):
                chosen[key] = row
        return list(chosen.values())


def _snapshot(table: sa.Table, key: tuple[str, ...]) -> Write:
    """The newest snapshot wins (by `seq`)."""
    others = [column.name for column in table.columns if column.name not in key]
    return Write(table, key, "newest", lambda insert: {name: insert.excluded[name] for name in others}, newer_only=True)


def _once(table: sa.Table, key: tuple[str, ...]) -> Write:
    return Write(table, key, "first")


def _columns(table: sa.Table, key: tuple[str, ...], columns: Sequence[str]) -> Write:
    """Create the row if needed and set `columns` (what one event type knows about the row)."""
    return Write(table, key, "last", lambda insert: {name: insert.excluded[name] for name in columns})


def _alert_update(insert: Insert) -> Mapping[str, Any]:
    table = m.alerts
    newer = insert.excluded.seq > table.c.seq
    return {
        # Each event keeps its own date; the newest event says the status and severity.
        "raised_on": sa.func.coalesce(insert.excluded.raised_on, table.c.raised_on),
        "resolved_on": sa.func.coalesce(insert.excluded.resolved_on, table.c.resolved_on),
        "status": sa.case((newer, insert.excluded.status), else_=table.c.status),
        "severity": sa.case((newer, insert.excluded.severity), else_=table.c.severity),
        "seq": sa.func.greatest(table.c.seq, insert.excluded.seq),
    }


HOUSEHOLD = _snapshot(m.households, ("household_id",))
STATUS_EVENT = _once(m.household_status_events, ("household_id", "seq"))
COMMUNITY = _once(m.household_communities, ("household_id", "seq"))
PAIRING_EVENT = _once(m.pairing_events, ("household_id", "seq"))
PERSON = _snapshot(m.persons, ("person_id",))
VISIT = _snapshot(m.visits, ("visit_id",))
MEASURE = _snapshot(m.measures, ("measure_id",))
# Two writes, so that a raise and its resolution in one batch both keep their dates.
ALERT_RAISED = Write(m.alerts, ("alert_id",), "newest", _alert_update)
ALERT_RESOLVED = Write(m.alerts, ("alert_id",), "newest", _alert_update)
REWARD = _snapshot(m.rewards, ("household_id", "year_index"))
VISIT_INTERVAL = _snapshot(m.visit_intervals, ("effective_from",))
_HIRE_COLUMNS = ("posting_id", "monthly_wage", "public_welfare", "remote", "started_on")
PLACEMENT_HIRED = _columns(m.placements, ("placement_id",), _HIRE_COLUMNS)
PLACEMENT_RETAINED = {
    3: _columns(m.placements, ("placement_id",), ("retained_3m_on",)),
    6: _columns(m.placements, ("placement_id",), ("retained_6m_on",)),
}
PLACEMENT_ENDED = _columns(m.placements, ("placement_id",), ("ended_on", "end_reason"))
TRAINING = _snapshot(m.trainings_completed, ("training_id", "person_id"))
FUND_BUDGET = _snapshot(m.fund_budgets, ("policy_year",))
# A reversal that came first already holds the claim (reversed): the settlement then adds nothing.
CLAIM_SETTLED = _once(m.claims, ("claim_id",))
CLAIM_REVERSED = _columns(m.claims, ("claim_id",), ("reversed", "reversed_on"))
FUND_LOW = _once(m.fund_low_events, ("policy_year", "fund", "seq"))

# The order writes run in within a batch (any order gives the same rows; a fixed one keeps lock order fixed).
WRITE_ORDER: tuple[Write, ...] = (
    HOUSEHOLD,
    STATUS_EVENT,
    COMMUNITY,
    PAIRING_EVENT,
    PERSON,
    VISIT,
    MEASURE,
    ALERT_RAISED,
    ALERT_RESOLVED,
    REWARD,
    VISIT_INTERVAL,
    PLACEMENT_HIRED,
    PLACEMENT_RETAINED[3],
    PLACEMENT_RETAINED[6],
    PLACEMENT_ENDED,
    TRAINING,
    FUND_BUDGET,
    CLAIM_SETTLED,
    CLAIM_REVERSED,
    FUND_LOW,
)

Rows = list[tuple[Write, Row]]
Projector = Callable[[Any, Envelope], Rows]


def business_date_of(envelope: Envelope) -> dt.date:
    """The envelope's recording time as a business date (for the rare change without one in the payload)."""
    time = envelope.time if envelope.time.tzinfo else envelope.time.replace(tzinfo=dt.UTC)
    return time.astimezone(DISTRICT_TIMEZONE).date()


# --- registry: households


def _household(payload: c.HouseholdEvent) -> tuple[Write, Row]:
    h = payload.household
    return HOUSEHOLD, {
        "household_id": h.household_id,
        "seq": h.seq,
        "status": h.status,
        "category": h.category,
        "street_code": h.street_code,
        "community_code": h.community_code,
        "cohort": h.cohort,
        "enrolled_on": h.enrolled_on,
        "size": h.size,
        "monthly_income": h.monthly_income,
        "relapsed": h.relapsed,
        "zero_employment": h.zero_employment,
    }


def _status(
    payload: c.HouseholdEvent,
    kind: str,
    effective_on: dt.date,
    status: str,
    exit_reason: str | None = None,
    monitoring_until: dt.date | None = None,
) -> tuple[Write, Row]:
    return STATUS_EVENT, {
        "household_id": payload.household.household_id,
        "seq": payload.household.seq,
        "kind": kind,
        "effective_on": effective_on,
        "status": status,
        "exit_reason": exit_reason,
        "monitoring_until": monitoring_until,
    }


def _community(payload: c.HouseholdEvent, effective_on: dt.date, code: str) -> tuple[Write, Row]:
    return COMMUNITY, {
        "household_id": payload.household.household_id,
        "seq": payload.household.seq,
        "effective_on": effective_on,
        "community_code": code,
    }


def household_enrolled(payload: c.HouseholdEnrolled, envelope: Envelope) -> Rows:
    h = payload.household
    return [_household(payload), _community(payload, h.enrolled_on, h.community_code)]


def household_updated(payload: c.HouseholdUpdated, envelope: Envelope) -> Rows:
    rows = [_household(payload)]
    moved_to = payload.changes.get("community_code")
    if isinstance(moved_to, str):
        # A move carries no business date: the day it was recorded, in the district's time zone.
        rows.append(_community(payload, business_date_of(envelope), moved_to))
    return rows


def transition_started(payload: c.HouseholdTransitionStarted, envelope: Envelope) -> Rows:
    return [_household(payload), _status(payload, "transition_started", payload.starts_on, "transition")]


def transition_cancelled(payload: c.HouseholdTransitionCancelled, envelope: Envelope) -> Rows:
    return [_household(payload), _status(payload, "transition_cancelled", payload.cancelled_on, "enrolled")]


def household_exited(payload: c.HouseholdExited, envelope: Envelope) -> Rows:
    monitoring_until = payload.monitoring_until
    if monitoring_until is None and payload.household.exit is not None:
        monitoring_until = payload.household.exit.monitoring_until
    return [
        _household(payload),
        _status(payload, "exited", payload.exited_on, "exited", payload.reason, monitoring_until),
    ]


def exit_undone(payload: c.HouseholdExitUndone, envelope: Envelope) -> Rows:
    return [_household(payload), _status(payload, "exit_undone", payload.undone_on, payload.household.status)]


def household_relapsed(payload: c.HouseholdRelapsed, envelope: Envelope) -> Rows:
    return [_household(payload), _status(payload, "relapsed", payload.relapsed_on, "enrolled")]


# --- registry: persons, pairings, visits, measures, alerts, rewards, parameters


def person_snapshot(payload: c.PersonEvent, envelope: Envelope) -> Rows:
    p = payload.person
    return [
        (
            PERSON,
            {
                "person_id": p.person_id,
                "seq": p.seq,
                "household_id": p.household_id,
                "member_since": p.member_since,
                "birth_year": p.birth_year,
                "sex": p.sex,
                "work_ability": p.work_ability,
                "employment_status": p.employment_status,
                "disability_level": p.disability_level,
                "chronic_illness": p.chronic_illness,
                "education": p.education,
                "pension_insured": p.pension_insured,
                "medical_insured": p.medical_insured,
                "active": p.active,
            },
        )
    ]


def _pairing(action: str) -> Projector:
    def project(payload: c.PairingAssigned, envelope: Envelope) -> Rows:
        return [
            (
                PAIRING_EVENT,
                {
                    "household_id": payload.household_id,
                    "seq": payload.aggregate_seq,
                    "action": action,
                    "helper_kind": payload.helper.kind,
                    "helper_id": payload.helper.id,
                    "department_code": payload.helper.department_code,
                    "street_code": payload.street_code,
                    "on": payload.on,
                },
            )
        ]

    return project


def visit_recorded(payload: c.VisitRecorded, envelope: Envelope) -> Rows:
    return [
        (
            VISIT,
            {
                "visit_id": payload.visit_id,
                "seq": payload.aggregate_seq,
                "household_id": payload.household_id,
                "helper_kind": payload.helper.kind,
                "helper_id": payload.helper.id,
                "department_code": payload.helper.department_code,
                "visited_on": payload.visited_on,
                "satisfaction": payload.satisfaction,
            },
        )
    ]


def measure_changed(payload: c.MeasurePlanned, envelope: Envelope) -> Rows:
    helper = payload.helper
    return [
        (
            MEASURE,
            {
                "measure_id": payload.measure_id,
                "seq": payload.aggregate_seq,
                "household_id": payload.household_id,
                "policy_code": payload.policy_code,
                "helper_kind": helper.kind if helper else None,
                "helper_id": helper.id if helper else None,
                "department_code": helper.department_code if helper else None,
                "due_on": payload.due_on,
                "completed_on": payload.completed_on,
            },
        )
    ]


def _alert(status: str) -> Projector:
    def project(payload: c.AlertRaised, envelope: Envelope) -> Rows:
        return [
            (
                ALERT_RAISED if status == "open" else ALERT_RESOLVED,
                {
                    "alert_id": payload.alert_id,
                    "seq": payload.aggregate_seq,
                    "household_id": payload.household_id,
                    "kind": payload.kind,
                    "severity": payload.severity,
                    "status": status,
                    "raised_on": payload.on if status == "open" else None,
                    "resolved_on": payload.on if status == "resolved" else None,
                },
            )
        ]

    return project


def reward_granted(payload: c.RewardGranted, envelope: Envelope) -> Rows:
    row = {
        "household_id": payload.household_id,
        "year_index": payload.year_index,
        "seq": payload.aggregate_seq,
        "amount": payload.amount,
        "granted_on": payload.on,
    }
    return [(REWARD, row)]


def parameters_set(payload: c.ParametersSet, envelope: Envelope) -> Rows:
    row = {
        "effective_from": payload.effective_from,
        "seq": payload.aggregate_seq,
        "visit_interval_days": payload.visit_interval_days,
    }
    return [(VISIT_INTERVAL, row)]


# --- matching


def _placement_row(payload: Any, **columns: Any) -> Row:
    return {
        "placement_id": payload.placement_id,
        "person_id": payload.person_id,
        "household_id": payload.household_id,
        **columns,
    }


def placement_hired(payload: c.PlacementHired, envelope: Envelope) -> Rows:
    row = _placement_row(
        payload,
        posting_id=payload.posting_id,
        monthly_wage=payload.monthly_wage,
        public_welfare=payload.public_welfare,
        remote=payload.remote,
        started_on=payload.started_on,
    )
    return [(PLACEMENT_HIRED, row)]


def placement_retained(payload: c.PlacementRetained, envelope: Envelope) -> Rows:
    row = _placement_row(payload, **{f"retained_{payload.months}m_on": payload.on})
    return [(PLACEMENT_RETAINED[payload.months], row)]


def placement_ended(payload: c.PlacementEnded, envelope: Envelope) -> Rows:
    return [(PLACEMENT_ENDED, _placement_row(payload, ended_on=payload.ended_on, end_reason=payload.reason))]


def training_completed(payload: c.TrainingCompleted, envelope: Envelope) -> Rows:
    row = {
        "training_id": payload.training_id,
        "person_id": payload.person_id,
        "seq": payload.aggregate_seq,
        "household_id": payload.household_id,
        "skills": list(payload.skills),
        "completed_on": payload.completed_on,
    }
    return [(TRAINING, row)]


# --- medical


def policy_year_set(payload: c.PolicyYearSet, envelope: Envelope) -> Rows:
    row = {
        "policy_year": payload.policy_year,
        "seq": payload.aggregate_seq,
        "supplementary_budget": payload.supplementary_budget,
        "charity_budget": payload.charity_budget,
    }
    return [(FUND_BUDGET, row)]


def _claim_row(payload: c.ClaimSettled, *, reversed_on: dt.date | None) -> Row:
    return {
        "claim_id": payload.claim_id,
        "person_id": payload.person_id,
        "household_id": payload.household_id,
        "category": payload.category,
        "street_code": payload.street_code,
        "community_code": payload.community_code,
        "policy_year": payload.policy_year,
        "discharged_on": payload.discharged_on,
        "total": payload.total,
        "in_policy": payload.in_policy,
        "supplementary": payload.lines.supplementary,
        "charity": payload.lines.charity,
        "out_of_pocket": payload.out_of_pocket,
        "cap_met": payload.cap_met,
        "reversed": reversed_on is not None,
        "reversed_on": reversed_on,
    }


def claim_settled(payload: c.ClaimSettled, envelope: Envelope) -> Rows:
    return [(CLAIM_SETTLED, _claim_row(payload, reversed_on=None))]


def claim_reversed(payload: c.ClaimReversed, envelope: Envelope) -> Rows:
    return [(CLAIM_REVERSED, _claim_row(payload, reversed_on=payload.reversed_on))]


def fund_low(payload: c.FundLow, envelope: Envelope) -> Rows:
    row = {
        "policy_year": payload.policy_year,
        "fund": payload.fund,
        "seq": payload.aggregate_seq,
        "remaining": payload.remaining,
        "budget": payload.budget,
    }
    return [(FUND_LOW, row)]


PROJECTORS: Mapping[str, Projector] = {
    c.HouseholdEnrolled.event_type: household_enrolled,
    c.HouseholdUpdated.event_type: household_updated,
    c.HouseholdTransitionStarted.event_type: transition_started,
    c.HouseholdTransitionCancelled.event_type: transition_cancelled,
    c.HouseholdExited.event_type: household_exited,
    c.HouseholdExitUndone.event_type: exit_undone,
    c.HouseholdRelapsed.event_type: household_relapsed,
    c.PersonAdded.event_type: person_snapshot,
    c.PersonUpdated.event_type: person_snapshot,
    c.PersonRemoved.event_type: person_snapshot,
    c.PairingAssigned.event_type: _pairing("assigned"),
    c.PairingReleased.event_type: _pairing("released"),
    c.VisitRecorded.event_type: visit_recorded,
    c.MeasurePlanned.event_type: measure_changed,
    c.MeasureCompleted.event_type: measure_changed,
    c.AlertRaised.event_type: _alert("open"),
    c.AlertResolved.event_type: _alert("resolved"),
    c.RewardGranted.event_type: reward_granted,
    c.ParametersSet.event_type: parameters_set,
    c.PlacementHired.event_type: placement_hired,
    c.PlacementRetained.event_type: placement_retained,
    c.PlacementEnded.event_type: placement_ended,
    c.TrainingCompleted.event_type: training_completed,
    c.PolicyYearSet.event_type: policy_year_set,
    c.ClaimSettled.event_type: claim_settled,
    c.ClaimReversed.event_type: claim_reversed,
    c.FundLow.event_type: fund_low,
}


def rows_of(envelope: Envelope) -> Rows | None:
    """The rows one event projects to; None for a type the metrics service does not project.

    A payload that does not validate raises `ValueError` (pydantic's `ValidationError` is one).
    """
    projector = PROJECTORS.get(envelope.type)
    if projector is None:
        return None
    payload = c.parse_payload(envelope.type, envelope.data)
    return projector(payload, envelope)


# The writes that change what a household's spans are computed from.
_SPAN_SOURCES = frozenset({HOUSEHOLD, STATUS_EVENT, COMMUNITY, PAIRING_EVENT})


async def write_rows(session: AsyncSession, rows: Iterable[tuple[Write, Row]], *, spans: bool = True) -> set[Any]:
    """Run each write once for all its rows (one representative per key, as `Write.keep` says), then refresh
    the spans of the households whose histories changed, and the counts of those and of the households with a
    visit or a hire written (unless `spans` is False: the caller will).

    Returns the ids of the households whose histories changed.
    """
    grouped: dict[Write, list[Row]] = {}
    for write, row in rows:
        grouped.setdefault(write, []).append(row)
    with_facts = {row["household_id"] for write in (VISIT, PLACEMENT_HIRED) for row in grouped.get(write, ())}
    if spans and VISIT in grouped:
        # A visit rewritten to another household (a newer snapshot) leaves the old one's counts too.
        v = m.visits
        earlier = sa.select(v.c.household_id).where(v.c.visit_id == any_of_ids([r["visit_id"] for r in grouped[VISIT]]))
        with_facts |= set((await session.execute(earlier)).scalars())
    for write in WRITE_ORDER:
        if write in grouped:
            await session.execute(write.statement, write.representatives(grouped[write]))
    touched = {row["household_id"] for write in _SPAN_SOURCES for row in grouped.get(write, ())}
    if spans and (touched or with_facts):
        await refresh_derived(session, touched, with_facts)
    return touched


async def apply_events(session: AsyncSession, envelopes: Iterable[Envelope]) -> int:
    """Project events (in stream order) with one statement per kind of write; returns how many were projected."""
    rows: Rows = []
    projected = 0
    for envelope in envelopes:
        event_rows = rows_of(envelope)
        if event_rows is not None:
            rows += event_rows
            projected += 1
    await write_rows(session, rows)
    return projected


async def bump_projection_version(session: AsyncSession, writer: str) -> None:
    table = m.projection_versions
    insert = pg_insert(table).values(writer=writer, version=1)
    await session.execute(
        insert.on_conflict_do_update(index_elements=[table.c.writer], set_={"version": table.c.version + 1})
    )


async def hold_projections_shared(session: AsyncSession, *, writer: str) -> None:
    """Before writing projections in a transaction: the shared projection lock, and the writer's version bump.

    Shared with the other consumers, exclusive for a rebuild: a consumer never writes into a refill in
    progress, and taking this lock before any projection table keeps it from deadlocking with the rebuild's
    TRUNCATE.
    """
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(PROJECTION_LOCK)))
    await bump_projection_version(session, writer)


def _consumer_handler(stream: str) -> Handler:
    """The per-event handler (the platform's path: fallback of the batch fast path, dead-letter retries)."""
    writer = f"consumer:{stream.lower()}"

    async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
        rows = rows_of(envelope)  # validate before taking any lock
        if rows is None:
            return
        await hold_projections_shared(uow.session, writer=writer)
        await write_rows(uow.session, rows)

    return handle


def consumer_specs() -> list[ConsumerSpec]:
    """One consumer per source stream, each with a handler for every type it projects."""
    specs = []
    for stream in SOURCE_STREAMS:
        prefix = stream.lower() + "."
        handler = _consumer_handler(stream)
        specs.append(
            ConsumerSpec(
                stream=stream,
                handlers={event_type: handler for event_type in PROJECTORS if event_type.startswith(prefix)},
            )
        )
    return specs
