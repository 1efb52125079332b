"""Dynamic monitoring (动态监测): raising, acknowledging and resolving alerts.

At most one unresolved alert per (household, kind): a new trigger updates the facts (and severity) of the one
that is open or acknowledged, in one `INSERT … ON CONFLICT` on the partial unique index, so two triggers at
once cannot make two alerts. `registry.alert.raised` is emitted when an alert is first raised, `resolved` when
an operator (or the rule that no longer holds, e.g. a visit) resolves it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.contracts import AlertKind as AlertKindName
from uplift.common.contracts import AlertRaised, AlertResolved
from uplift.common.db import new_id, utcnow
from uplift.common.errors import Conflict, FieldError, NotFound
from uplift.common.unit_of_work import UnitOfWork
from uplift.registry.domain.alerts import (
    RELAPSE_SIGNALS,
    AlertKind,
    AlertTrigger,
    HouseholdStanding,
    PensionFacts,
    Severity,
    pension_gap,
    relapse_risk,
    visit_overdue,
)
from uplift.registry.domain.lifecycle import HouseholdStatus
from uplift.registry.domain.months import add_years
from uplift.registry.domain.parameters import Sex
from uplift.registry.models.households import Household, Person
from uplift.registry.models.support import Alert, Pairing, Visit
from uplift.registry.service.pairings import assign_seqs
from uplift.registry.service.parameters import parameters_in_force

ALERT_STATUSES = ("open", "acknowledged", "resolved")
UNRESOLVED = sa.text("status <> 'resolved'")
BULK_CHUNK = 1000


async def household_standing(session: AsyncSession, household_id: uuid.UUID) -> HouseholdStanding | None:
    row = (
        await session.execute(
            sa.select(Household.status, Household.monitoring_until).where(Household.id == household_id)
        )
    ).first()
    return None if row is None else HouseholdStanding(HouseholdStatus(row.status), row.monitoring_until)


def _upsert(rows: list[dict[str, Any]]) -> Any:
    insert = pg_insert(Alert).values(rows)
    return insert.on_conflict_do_update(
        index_elements=[Alert.household_id, Alert.kind],
        index_where=UNRESOLVED,
        set_={
            "facts": insert.excluded.facts,
            "severity": insert.excluded.severity,
            "last_triggered_on": insert.excluded.last_triggered_on,
            "triggers": Alert.triggers + 1,
            "updated_at": sa.func.now(),
        },
    ).returning(Alert.id, Alert.household_id, Alert.kind, Alert.severity, (sa.literal_column("xmax") == 0))


def _row(household_id: uuid.UUID, kind: str, severity: str, facts: dict[str, Any], on: dt.date) -> dict[str, Any]:
    return {
        "id": new_id(),
        "household_id": household_id,
        "kind": kind,
        "severity": severity,
        "facts": facts,
        "status": "open",
        "raised_on": on,
        "last_triggered_on": on,
        "triggers": 1,
    }


async def _raise_many(uow: UnitOfWork, rows: list[dict[str, Any]], on: dt.date) -> int:
    """Upsert alerts; emit `alert.raised` for those newly raised. Returns how many were new."""
    raised = 0
    for start in range(0, len(rows), BULK_CHUNK):
        result = await uow.session.execute(_upsert(rows[start : start + BULK_CHUNK]))
        new_alerts = [
            (alert_id, household_id, kind, severity)
            for alert_id, household_id, kind, severity, inserted in result
            if inserted
        ]
        seqs = await assign_seqs(uow, "alert", [str(alert_id) for alert_id, *_ in new_alerts])
        for alert_id, household_id, kind, severity in new_alerts:
            payload = AlertRaised(
                alert_id=alert_id,
                household_id=household_id,
                kind=cast(AlertKindName, kind),
                severity=severity,
                on=on,
            )
            uow.emit(AlertRaised.event_type, subject=alert_id, data=payload, seq=seqs[str(alert_id)])
        raised += len(new_alerts)
    return raised


async def raise_alert(
    uow: UnitOfWork,
    household_id: uuid.UUID,
    *,
    kind: str,
    severity: str,
    facts: dict[str, Any],
    on: dt.date,
    standing: HouseholdStanding | None = None,
) -> None:
    """Raise (or refresh the facts of) the household's alert of `kind`; a relapse signal on a household under
    monitoring also raises `relapse_risk` (返贫风险). `standing` is read from the household when not given."""
    AlertKind(kind)
    Severity(severity)
    rows = [_row(household_id, kind, severity, facts, on)]
    if kind in RELAPSE_SIGNALS:
        standing = standing or await household_standing(uow.session, household_id)
        # The open relapse_risk alert keeps every signal that fed it, not only the latest.
        signals = [AlertTrigger(AlertKind(kind), Severity(severity), facts)]
        signals += [
            AlertTrigger(AlertKind(earlier), Severity.HIGH, {})
            for earlier in await _open_risk_signals(uow.session, household_id)
        ]
        risk = relapse_risk(standing, signals, on) if standing is not None else None
        if risk is not None:
            rows.append(_row(household_id, risk.kind, risk.severity, risk.facts, on))
    await _raise_many(uow, rows, on)


async def _open_risk_signals(session: AsyncSession, household_id: uuid.UUID) -> list[str]:
    facts = await session.scalar(
        sa.select(Alert.facts).where(
            Alert.household_id == household_id, Alert.kind == AlertKind.RELAPSE_RISK, Alert.status != "resolved"
        )
    )
    signals = facts.get("signals", []) if isinstance(facts, dict) else []
    return [signal for signal in signals if signal in RELAPSE_SIGNALS]


async def raise_triggers(uow: UnitOfWork, triggers: Sequence[tuple[uuid.UUID, AlertTrigger]], on: dt.date) -> int:
    """Raise many alerts at once (the daily rules); returns how many were newly raised."""
    rows = [_row(household_id, trigger.kind, trigger.severity, trigger.facts, on) for household_id, trigger in triggers]
    return await _raise_many(uow, rows, on)


# --------------------------------------------------------------------------------------------- lifecycle


async def get_alert(session: AsyncSession, alert_id: uuid.UUID, *, for_update: bool = False) -> Alert:
    stmt = sa.select(Alert).where(Alert.id == alert_id)
    alert = (await session.execute(stmt.with_for_update() if for_update else stmt)).scalar()
    if alert is None:
        raise NotFound("No such alert.")
    return alert


def _illegal(alert: Alert, action: str, allowed_from: Sequence[str]) -> Conflict:
    return Conflict(
        f"An alert that is {alert.status} cannot be {action}.",
        errors=[FieldError("status", f"is {alert.status}; {action} needs {' or '.join(allowed_from)}")],
        status_now=alert.status,
        allowed=_allowed_actions(alert.status),
    )


def _allowed_actions(status: str) -> list[str]:
    return {"open": ["acknowledge", "resolve"], "acknowledged": ["resolve"]}.get(status, [])


async def acknowledge_alert(uow: UnitOfWork, alert: Alert, *, by: str) -> Alert:
    """open → acknowledged."""
    if alert.status != "open":
        raise _illegal(alert, "acknowledged", ["open"])
    alert.status = "acknowledged"
    alert.acknowledged_at = utcnow()
    alert.acknowledged_by = by
    await uow.session.flush()
    await uow.session.refresh(alert)  # server-set updated_at
    return alert


async def resolve_alert(uow: UnitOfWork, alert: Alert, *, by: str, on: dt.date, note: str | None) -> Alert:
    """open or acknowledged → resolved; emits `registry.alert.resolved`."""
    if alert.status == "resolved":
        raise _illegal(alert, "resolved", ["open", "acknowledged"])
    alert.status = "resolved"
    alert.resolved_on = on
    alert.resolved_at = utcnow()
    alert.resolved_by = by
    alert.resolution_note = note
    await uow.session.flush()
    await uow.session.refresh(alert)  # server-set updated_at
    _emit_resolved(uow, alert.id, alert.household_id, alert.kind, alert.severity, on)
    return alert


async def resolve_open(uow: UnitOfWork, household_id: uuid.UUID, kind: str, *, on: dt.date, by: str) -> bool:
    """Resolve the household's unresolved alert of `kind`, if any (its cause went away)."""
    row = (
        await uow.session.execute(
            sa.update(Alert)
            .where(Alert.household_id == household_id, Alert.kind == kind, Alert.status != "resolved")
            .values(
                status="resolved", resolved_on=on, resolved_at=sa.func.now(), resolved_by=by, updated_at=sa.func.now()
            )
            .returning(Alert.id, Alert.severity)
        )
    ).first()
    if row is None:
        return False
    _emit_resolved(uow, row.id, household_id, kind, row.severity, on)
    return True


def _emit_resolved(
    uow: UnitOfWork, alert_id: uuid.UUID, household_id: uuid.UUID, kind: str, severity: str, on: dt.date
) -> None:
    payload = AlertResolved(
        alert_id=alert_id, household_id=household_id, kind=cast(AlertKindName, kind), severity=severity, on=on
    )
    uow.emit(AlertResolved.event_type, subject=alert_id, data=payload)


# ---------------------------------------------------------------------------------------- daily rules


async def _resolve_cleared(uow: UnitOfWork, kind: str, still_firing: set[uuid.UUID], on: dt.date) -> int:
    """Resolve the unresolved alerts of `kind` whose rule no longer fires (the cause went away)."""
    open_rows = (
        await uow.session.execute(
            sa.select(Alert.id, Alert.household_id).where(Alert.kind == kind, Alert.status != "resolved")
        )
    ).all()
    cleared = [alert_id for alert_id, household_id in open_rows if household_id not in still_firing]
    if not cleared:
        return 0
    rows = (
        await uow.session.execute(
            sa.update(Alert)
            .where(Alert.id.in_(cleared))
            .values(
                status="resolved",
                resolved_on=on,
                resolved_at=sa.func.now(),
                resolved_by="rule_cleared",
                updated_at=sa.func.now(),
            )
            .returning(Alert.id, Alert.household_id, Alert.severity)
        )
    ).all()
    seqs = await assign_seqs(uow, "alert", [str(row.id) for row in rows])
    for row in rows:
        payload = AlertResolved(
            alert_id=row.id, household_id=row.household_id, kind=cast(AlertKindName, kind), severity=row.severity, on=on
        )
        uow.emit(AlertResolved.event_type, subject=row.id, data=payload, seq=seqs[str(row.id)])
    return len(rows)


async def visit_overdue_job(uow: UnitOfWork, day: dt.date) -> dict[str, Any]:
    """visit_overdue: paired households with no visit for longer than `visit_interval_days`."""
    params = await parameters_in_force(uow.session, day)
    last_visit = (
        sa.select(sa.func.max(Visit.visited_on))
        .where(Visit.household_id == Pairing.household_id, Visit.visited_on <= day)
        .scalar_subquery()
    )
    rows = (
        await uow.session.execute(
            sa.select(Pairing.household_id, Pairing.started_on, last_visit).where(
                Pairing.active, Pairing.started_on <= day
            )
        )
    ).all()
    triggers = []
    for household_id, paired_on, last_visited_on in rows:
        trigger = visit_overdue(paired_on, last_visited_on, day, params)
        if trigger is not None:
            triggers.append((household_id, trigger))
    raised = await raise_triggers(uow, triggers, day)
    resolved = await _resolve_cleared(uow, AlertKind.VISIT_OVERDUE, {household_id for household_id, _ in triggers}, day)
    return {"paired": len(rows), "overdue": len(triggers), "raised": raised, "resolved": resolved}


async def pension_gap_job(uow: UnitOfWork, day: dt.date) -> dict[str, Any]:
    """pension_gap (新"三无"): members within `pension_gap_years` of retirement age without pension insurance,
    in households in the programme or under monitoring."""
    params = await parameters_in_force(uow.session, day)
    oldest = add_years(day, -max(params.retirement_age.male, params.retirement_age.female))
    youngest = add_years(
        day,
        -(min(params.retirement_age.male, params.retirement_age.female) - params.alert_thresholds.pension_gap_years),
    )
    in_scope = sa.or_(
        Household.status.in_(("enrolled", "transition")),
        sa.and_(Household.status == "exited", Household.monitoring_until >= day),
    )
    rows = (
        await uow.session.execute(
            sa.select(Person.household_id, Person.id, Person.birth_date, Person.sex)
            .join(Household, Household.id == Person.household_id)
            .where(
                Person.active,
                sa.not_(Person.pension_insured),
                Person.birth_date >= oldest,
                Person.birth_date <= youngest,
                in_scope,
            )
        )
    ).all()
    members: dict[uuid.UUID, list[PensionFacts]] = {}
    for household_id, person_id, born_on, sex in rows:
        members.setdefault(household_id, []).append(PensionFacts(str(person_id), born_on, cast(Sex, sex), False))
    triggers = []
    for household_id, facts in sorted(members.items()):
        trigger = pension_gap(facts, day, params)
        if trigger is not None:
            triggers.append((household_id, trigger))
    raised = await raise_triggers(uow, triggers, day)
    resolved = await _resolve_cleared(uow, AlertKind.PENSION_GAP, {household_id for household_id, _ in triggers}, day)
    return {"households": len(triggers), "raised": raised, "resolved": resolved}
