"""The household lifecycle against the database: decisions of `domain.lifecycle` applied to a household row,
with their history row and event; the operators' actions; the daily jobs (transition ends, exit rewards,
monitoring ends).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common import contracts
from uplift.common.errors import Conflict, NotFound, Unprocessable
from uplift.common.unit_of_work import UnitOfWork
from uplift.registry.domain import lifecycle as domain
from uplift.registry.domain.lifecycle import (
    ExitReason,
    ExitRecord,
    HouseholdFacts,
    HouseholdLifecycle,
    HouseholdStatus,
    IllegalTransition,
    IncomeRecord,
    InvalidDecision,
    LifecycleDecision,
    StatusChange,
    TransitionPeriod,
)
from uplift.registry.domain.months import add_years
from uplift.registry.models.households import (
    Household,
    IncomeRecordRow,
    PlacementRow,
    RewardRow,
    StatusChangeRow,
)
from uplift.registry.service import audit
from uplift.registry.service.parameters import parameter_history
from uplift.registry.service.snapshots import helper_of, household_snapshot

households = cast(sa.Table, Household.__table__)
history_table = cast(sa.Table, StatusChangeRow.__table__)
placements = cast(sa.Table, PlacementRow.__table__)
rewards_table = cast(sa.Table, RewardRow.__table__)
incomes = cast(sa.Table, IncomeRecordRow.__table__)

SCHEDULER = "scheduler"


def lifecycle_of(household: Household) -> HouseholdLifecycle:
    """The household's place in the lifecycle, from its columns."""
    status = HouseholdStatus(household.status)
    transition = (
        TransitionPeriod(household.transition_starts_on, household.transition_ends_on)
        if household.transition_starts_on is not None and household.transition_ends_on is not None
        else None
    )
    exit_record = None
    if status is HouseholdStatus.EXITED and household.exit_reason is not None and household.exited_on is not None:
        previous_transition = (
            TransitionPeriod(household.exit_previous_transition_starts_on, household.exit_previous_transition_ends_on)
            if household.exit_previous_transition_starts_on is not None
            and household.exit_previous_transition_ends_on is not None
            else None
        )
        exit_record = ExitRecord(
            reason=ExitReason(household.exit_reason),
            exited_on=household.exited_on,
            monitoring_until=household.monitoring_until,
            employed_person_ids=tuple(str(person_id) for person_id in household.exit_employed_person_ids),
            previous_status=HouseholdStatus(household.exit_previous_status or HouseholdStatus.ENROLLED),
            previous_transition=previous_transition,
        )
    return HouseholdLifecycle(
        status=status, transition=transition, exit_record=exit_record, relapsed=household.relapsed
    )


def _store_state(household: Household, state: HouseholdLifecycle) -> None:
    household.status = state.status.value
    household.transition_starts_on = state.transition.starts_on if state.transition else None
    household.transition_ends_on = state.transition.ends_on if state.transition else None
    household.relapsed = state.relapsed
    record = state.exit_record
    household.exit_reason = record.reason.value if record else None
    household.exited_on = record.exited_on if record else None
    household.monitoring_until = record.monitoring_until if record else None
    household.exit_employed_person_ids = [uuid.UUID(pid) for pid in record.employed_person_ids] if record else []
    household.exit_previous_status = record.previous_status.value if record else None
    previous = record.previous_transition if record else None
    household.exit_previous_transition_starts_on = previous.starts_on if previous else None
    household.exit_previous_transition_ends_on = previous.ends_on if previous else None


def _payload(household: Household, decision: LifecycleDecision, helper: contracts.Helper | None) -> Any:
    snapshot = household_snapshot(household, helper)
    event = decision.event
    if isinstance(event, domain.TransitionStarted):
        return contracts.HouseholdTransitionStarted(
            household=snapshot, starts_on=event.starts_on, ends_on=event.ends_on
        )
    if isinstance(event, domain.TransitionCancelled):
        return contracts.HouseholdTransitionCancelled(
            household=snapshot, cancelled_on=event.cancelled_on, reason=event.reason
        )
    if isinstance(event, domain.HouseholdExited):
        return contracts.HouseholdExited(
            household=snapshot,
            reason=event.reason.value,
            exited_on=event.exited_on,
            monitoring_until=event.monitoring_until,
            employed_person_ids=[uuid.UUID(pid) for pid in event.employed_person_ids],
        )
    if isinstance(event, domain.ExitUndone):
        return contracts.HouseholdExitUndone(household=snapshot, undone_on=event.undone_on)
    return contracts.HouseholdRelapsed(
        household=snapshot,
        cause=event.cause,
        relapsed_on=event.relapsed_on,
    )


def add_history(
    session: AsyncSession, household_id: uuid.UUID, change: StatusChange, *, actor: str, note: str | None = None
) -> None:
    session.add(
        StatusChangeRow(
            household_id=household_id,
            on=change.on,
            action=change.action.value,
            from_status=change.from_status.value if change.from_status else None,
            to_status=change.to_status.value,
            reason=str(change.reason) if change.reason is not None else None,
            note=note,
            actor=actor,
        )
    )


async def apply_decision(
    uow: UnitOfWork,
    household: Household,
    decision: LifecycleDecision,
    *,
    actor: str,
    note: str | None = None,
    helper: contracts.Helper | None = None,
) -> None:
    """Store the decision's state on the household, with its history row, event and audit entry."""
    if isinstance(decision.event, domain.HouseholdExited):
        from uplift.registry.service.pairings import release_pairings

        # 脱贫/exit: the household no longer needs a helper.
        await release_pairings(uow, household.id, on=decision.event.exited_on, reason="household_exited")
        helper = None
    elif helper is None:
        helper = await helper_of(uow.session, household.id)
    _store_state(household, decision.state)
    household.version += 1
    add_history(uow.session, household.id, decision.change, actor=actor, note=note)
    payload = _payload(household, decision, helper)
    uow.emit(payload.event_type, subject=household.id, data=payload)
    await audit.record(
        uow.session,
        actor=actor,
        action=f"household.{decision.change.action.value}",
        subject_type="household",
        subject_id=household.id,
        detail={"on": decision.change.on.isoformat(), "to_status": decision.change.to_status.value},
    )


async def has_active_placement(session: AsyncSession, household_id: uuid.UUID) -> bool:
    found = await session.scalar(
        sa.select(sa.literal(1)).where(placements.c.household_id == household_id, placements.c.active).limit(1)
    )
    return found is not None


async def employed_person_ids(session: AsyncSession, household_id: uuid.UUID) -> list[str]:
    """Members whose active placements lead to an employment exit."""
    rows = await session.scalars(
        sa.select(placements.c.person_id)
        .where(placements.c.household_id == household_id, placements.c.active)
        .order_by(placements.c.person_id)
    )
    return [str(person_id) for person_id in dict.fromkeys(rows)]


async def recheck_transition(
    uow: UnitOfWork, household: Household, *, on: dt.date, actor: str, helper: contracts.Helper | None = None
) -> LifecycleDecision | None:
    """渐退期: after income or membership changed on `on`, start or cancel the transition as the rule says."""
    params = (await parameter_history(uow.session)).in_force(on)
    facts = HouseholdFacts(
        monthly_income=household.monthly_income,
        active_members=household.size,
        has_active_placement=await has_active_placement(uow.session, household.id),
    )
    decision = lifecycle_of(household).recheck_transition(facts, params, on)
    if decision is not None:
        await apply_decision(uow, household, decision, actor=actor, helper=helper)
    return decision


# --- operators' actions ----------------------------------------------------------------------------------


def _conflict(error: IllegalTransition) -> Conflict:
    return Conflict(error.reason, current_status=error.current.value, allowed=[a.value for a in error.allowed_actions])


async def exit_household(
    uow: UnitOfWork,
    household: Household,
    *,
    reason: str,
    exited_on: dt.date,
    note: str | None,
    employed: Sequence[uuid.UUID] | None,
    actor: str,
) -> None:
    if exited_on < household.enrolled_on:
        raise Unprocessable(f"exited_on {exited_on} is before the enrolment on {household.enrolled_on}")
    params = (await parameter_history(uow.session)).in_force(exited_on)
    if employed is None:
        person_ids = await employed_person_ids(uow.session, household.id) if reason == "employment" else []
    else:
        person_ids = [str(person_id) for person_id in employed]
    try:
        decision = lifecycle_of(household).exit(ExitReason(reason), exited_on, person_ids, params)
    except IllegalTransition as error:
        raise _conflict(error) from None
    await apply_decision(uow, household, decision, actor=actor, note=note)


async def cancel_transition(uow: UnitOfWork, household: Household, *, on: dt.date, actor: str) -> None:
    try:
        decision = lifecycle_of(household).cancel_transition(on)
    except IllegalTransition as error:
        raise _conflict(error) from None
    await apply_decision(uow, household, decision, actor=actor)


async def undo_exit(uow: UnitOfWork, household: Household, *, today: dt.date, actor: str) -> None:
    lifecycle = lifecycle_of(household)
    on = lifecycle.exit_record.exited_on if lifecycle.exit_record else today
    params = (await parameter_history(uow.session)).in_force(on)
    try:
        decision = lifecycle.undo_exit(today, params)
    except IllegalTransition as error:
        raise _conflict(error) from None
    except InvalidDecision as error:
        raise Unprocessable(str(error)) from None
    await apply_decision(uow, household, decision, actor=actor)


async def relapse(
    uow: UnitOfWork, household: Household, *, cause: str, relapsed_on: dt.date, note: str | None, actor: str
) -> None:
    try:
        decision = lifecycle_of(household).relapse(cause, relapsed_on)
    except IllegalTransition as error:
        raise _conflict(error) from None
    except InvalidDecision as error:
        raise Unprocessable(str(error), errors=[]) from None
    await apply_decision(uow, household, decision, actor=actor, note=note)


# --- reads -------------------------------------------------------------------------------------------------


async def history_of(session: AsyncSession, household_id: uuid.UUID) -> list[sa.Row[Any]]:
    stmt = (
        sa.select(history_table)
        .where(history_table.c.household_id == household_id)
        .order_by(history_table.c.on, history_table.c.recorded_at, history_table.c.id)
    )
    return list((await session.execute(stmt)).all())


_ACTIONS = {action.value: action for action in domain.LifecycleAction}


def status_as_of(rows: Iterable[sa.Row[Any]], as_of: dt.date) -> str | None:
    """The status on `as_of` from the history rows (monitoring-end rows keep the status as it was)."""
    changes = [
        StatusChange(
            on=row.on,
            action=_ACTIONS.get(row.action, domain.LifecycleAction.ENROL),
            from_status=HouseholdStatus(row.from_status) if row.from_status else None,
            to_status=HouseholdStatus(row.to_status),
        )
        for row in rows
    ]
    status = domain.status_on(changes, as_of)
    return status.value if status else None


async def rewards_of(session: AsyncSession, household_id: uuid.UUID) -> list[sa.Row[Any]]:
    stmt = (
        sa.select(rewards_table)
        .where(rewards_table.c.household_id == household_id)
        .order_by(rewards_table.c.exited_on, rewards_table.c.year_index)
    )
    return list((await session.execute(stmt)).all())


async def load_for_update(session: AsyncSession, household_id: uuid.UUID) -> Household:
    household = await session.get(Household, household_id, with_for_update=True)
    if household is None:
        raise NotFound(f"household {household_id} not found")
    return household


# --- the scheduler's daily jobs ----------------------------------------------------------------------------


async def end_due_transitions(uow: UnitOfWork, day: dt.date) -> dict[str, Any]:
    """渐退期 ends: on `ends_on` (or later, if a day was missed) the household exits for employment."""
    session = uow.session
    ids = list(
        await session.scalars(
            sa.select(households.c.id).where(
                households.c.status == "transition", households.c.transition_ends_on <= day
            )
        )
    )
    history = await parameter_history(session)
    exited = 0
    for household_id in ids:
        household = await load_for_update(session, household_id)
        lifecycle = lifecycle_of(household)
        if lifecycle.transition is None:
            continue
        params = history.in_force(lifecycle.transition.ends_on)
        person_ids = await employed_person_ids(session, household.id)
        decision = lifecycle.end_transition_if_due(day, params, person_ids)
        if decision is not None:
            await apply_decision(uow, household, decision, actor=SCHEDULER)
            exited += 1
    return {"exited": exited}


async def grant_exit_rewards(uow: UnitOfWork, day: dt.date) -> dict[str, Any]:
    """脱贫激励: reward k at the k-th anniversary of an employment exit, if income stayed above the line."""
    session = uow.session
    rows = (
        await session.execute(
            sa.select(households.c.id, households.c.exited_on).where(
                households.c.status == "exited",
                households.c.exit_reason == "employment",
                households.c.exited_on <= add_years(day, -1),
            )
        )
    ).all()
    history = await parameter_history(session)
    granted = 0
    for household_id, _ in rows:
        household = await load_for_update(session, household_id)
        record = lifecycle_of(household).exit_record
        if record is None:
            continue
        income_rows = await session.execute(
            sa.select(incomes.c.recorded_on, incomes.c.per_capita_income)
            .where(incomes.c.household_id == household_id)
            .order_by(incomes.c.recorded_on, incomes.c.id)
        )
        income_records = [IncomeRecord(row.recorded_on, row.per_capita_income) for row in income_rows]
        already = set(
            await session.scalars(
                sa.select(rewards_table.c.year_index).where(
                    rewards_table.c.household_id == household_id, rewards_table.c.exited_on == record.exited_on
                )
            )
        )
        for reward in domain.rewards_due(record, income_records, (), day, history, already):
            await session.execute(
                sa.insert(rewards_table).values(
                    household_id=household_id,
                    exited_on=record.exited_on,
                    year_index=reward.year_index,
                    amount=reward.amount,
                    granted_on=reward.due_on,
                )
            )
            payload = contracts.RewardGranted(
                household_id=household_id, year_index=reward.year_index, amount=reward.amount, on=reward.due_on
            )
            uow.emit(payload.event_type, subject=payload.aggregate_id, data=payload)
            granted += 1
    return {"granted": granted}


async def end_monitoring(uow: UnitOfWork, day: dt.date) -> dict[str, Any]:
    """Monitoring ends `monitoring_years` after a 脱贫 exit: a history row marks it (relapse is closed after)."""
    session = uow.session
    already = sa.select(history_table.c.household_id).where(history_table.c.action == "end_monitoring")
    rows = (
        await session.execute(
            sa.select(households.c.id, households.c.monitoring_until).where(
                households.c.status == "exited",
                households.c.monitoring_until < day,
                households.c.id.not_in(already),
            )
        )
    ).all()
    for household_id, monitoring_until in rows:
        session.add(
            StatusChangeRow(
                household_id=household_id,
                on=monitoring_until,
                action="end_monitoring",
                from_status="exited",
                to_status="exited",
                reason="monitoring_period_over",
                actor=SCHEDULER,
            )
        )
    return {"monitoring_ended": len(rows)}
