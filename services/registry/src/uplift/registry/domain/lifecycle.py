"""The household lifecycle (enrolled → transition → exited, relapse, undo) and exit rewards, as pure rules.

Each action takes the current `HouseholdLifecycle` and returns a `LifecycleDecision`: the new state, the event
to publish and the history row to store. Nothing is written here; an action that the state does not allow
raises `IllegalTransition` naming the actions it does allow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import ClassVar

from uplift.registry.domain.months import add_months, add_years
from uplift.registry.domain.parameters import ParameterHistory, Parameters

CENT = Decimal("0.01")
REWARD_YEARS = (1, 2, 3)


class HouseholdStatus(StrEnum):
    ENROLLED = "enrolled"
    TRANSITION = "transition"  # 渐退期
    EXITED = "exited"


class ExitReason(StrEnum):
    EMPLOYMENT = "employment"  # 安置就业
    SUBSTITUTE_SUPPORT = "substitute_support"  # 替代帮扶
    POLICY_SUPPORT = "policy_support"  # 政策帮扶
    INCOME_ABOVE_LINE = "income_above_line"
    MOVED_AWAY = "moved_away"
    DECEASED = "deceased"
    OTHER = "other"

    @property
    def lifts_out_of_poverty(self) -> bool:
        """True for the 脱贫 reasons, which start monitoring and allow a relapse."""
        return self in LIFTED_OUT_REASONS


LIFTED_OUT_REASONS = frozenset(
    {
        ExitReason.EMPLOYMENT,
        ExitReason.SUBSTITUTE_SUPPORT,
        ExitReason.POLICY_SUPPORT,
        ExitReason.INCOME_ABOVE_LINE,
    }
)


class LifecycleAction(StrEnum):
    ENROL = "enrol"
    START_TRANSITION = "start_transition"
    CANCEL_TRANSITION = "cancel_transition"
    END_TRANSITION = "end_transition"
    EXIT = "exit"
    UNDO_EXIT = "undo_exit"
    RELAPSE = "relapse"


ACTIONS_BY_STATUS: dict[HouseholdStatus, tuple[LifecycleAction, ...]] = {
    HouseholdStatus.ENROLLED: (LifecycleAction.START_TRANSITION, LifecycleAction.EXIT),
    HouseholdStatus.TRANSITION: (
        LifecycleAction.CANCEL_TRANSITION,
        LifecycleAction.END_TRANSITION,
        LifecycleAction.EXIT,
    ),
    HouseholdStatus.EXITED: (LifecycleAction.UNDO_EXIT, LifecycleAction.RELAPSE),
}


class IllegalTransition(Exception):
    """The action is not allowed for the household now (HTTP 409 naming `allowed_actions`)."""

    def __init__(
        self,
        current: HouseholdStatus,
        action: LifecycleAction,
        allowed_actions: Sequence[LifecycleAction],
        reason: str | None = None,
    ) -> None:
        self.current = current
        self.action = action
        self.allowed_actions = tuple(allowed_actions)
        self.reason = reason or f"a household in status {current} cannot {action}"
        allowed = ", ".join(self.allowed_actions) or "none"
        super().__init__(f"{self.reason} (allowed: {allowed})")


class InvalidDecision(ValueError):
    """The action is allowed but its data contradicts the household's dates (HTTP 422)."""


def per_capita_income(monthly_income: Decimal, active_members: int) -> Decimal:
    """Monthly income per active member, rounded half-up to 0.01."""
    if active_members <= 0:
        raise ValueError("per-capita income needs at least one active member")
    return (monthly_income / active_members).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class TransitionPeriod:
    starts_on: date
    ends_on: date


@dataclass(frozen=True)
class ExitRecord:
    reason: ExitReason
    exited_on: date
    monitoring_until: date | None  # None for an exit that is not 脱贫
    employed_person_ids: tuple[str, ...]
    # What the household was before, so that an exit recorded in error can be undone exactly.
    previous_status: HouseholdStatus
    previous_transition: TransitionPeriod | None

    def under_monitoring(self, on: date) -> bool:
        return self.monitoring_until is not None and self.exited_on <= on <= self.monitoring_until


@dataclass(frozen=True)
class HouseholdFacts:
    """What the transition rule looks at after income or membership changed."""

    monthly_income: Decimal
    active_members: int
    has_active_placement: bool


# Events: the payload beyond the household snapshot, as EVENTS.md lists it per type.


@dataclass(frozen=True)
class TransitionStarted:
    type: ClassVar[str] = "registry.household.transition_started.v1"
    starts_on: date
    ends_on: date


@dataclass(frozen=True)
class TransitionCancelled:
    type: ClassVar[str] = "registry.household.transition_cancelled.v1"
    cancelled_on: date
    reason: str


@dataclass(frozen=True)
class HouseholdExited:
    type: ClassVar[str] = "registry.household.exited.v1"
    reason: ExitReason
    exited_on: date
    monitoring_until: date | None
    employed_person_ids: tuple[str, ...]


@dataclass(frozen=True)
class ExitUndone:
    type: ClassVar[str] = "registry.household.exit_undone.v1"
    undone_on: date


@dataclass(frozen=True)
class HouseholdRelapsed:
    type: ClassVar[str] = "registry.household.relapsed.v1"
    cause: str
    relapsed_on: date


LifecycleEvent = TransitionStarted | TransitionCancelled | HouseholdExited | ExitUndone | HouseholdRelapsed

# Reasons a transition is cancelled.
INCOME_AT_OR_BELOW_LINE = "income_at_or_below_line"
CANCELLED_BY_OPERATOR = "operator"


@dataclass(frozen=True)
class StatusChange:
    """One history row; the service adds who made it and when it was recorded."""

    on: date
    action: LifecycleAction
    from_status: HouseholdStatus | None  # None for the enrolment
    to_status: HouseholdStatus
    reason: str | None = None


def enrolment(enrolled_on: date) -> StatusChange:
    """The first history row of a household."""
    return StatusChange(enrolled_on, LifecycleAction.ENROL, None, HouseholdStatus.ENROLLED)


@dataclass(frozen=True)
class LifecycleDecision:
    state: HouseholdLifecycle
    event: LifecycleEvent
    change: StatusChange


@dataclass(frozen=True)
class HouseholdLifecycle:
    """A household's place in the lifecycle."""

    status: HouseholdStatus = HouseholdStatus.ENROLLED
    transition: TransitionPeriod | None = None
    exit_record: ExitRecord | None = None
    relapsed: bool = False

    def __post_init__(self) -> None:
        if (self.status is HouseholdStatus.TRANSITION) != (self.transition is not None):
            raise ValueError("a household has a transition period exactly when it is in transition")
        if (self.status is HouseholdStatus.EXITED) != (self.exit_record is not None):
            raise ValueError("a household has an exit record exactly when it has exited")

    @property
    def allowed_actions(self) -> tuple[LifecycleAction, ...]:
        return ACTIONS_BY_STATUS[self.status]

    def under_monitoring(self, on: date) -> bool:
        """Exited with a 脱贫 reason and `on` within the monitoring period."""
        return self.exit_record is not None and self.exit_record.under_monitoring(on)

    def _refuse(self, action: LifecycleAction, reason: str | None = None) -> IllegalTransition:
        allowed = [candidate for candidate in self.allowed_actions if candidate is not action]
        return IllegalTransition(self.status, action, allowed, reason)

    def _require(self, action: LifecycleAction) -> None:
        if action not in self.allowed_actions:
            raise self._refuse(action)

    # 渐退期 -------------------------------------------------------------------------------------------

    def recheck_transition(
        self, facts: HouseholdFacts, params: Parameters, change_date: date
    ) -> LifecycleDecision | None:
        """Re-check the transition rule after income or membership changed on `change_date`.

        `params` are those in force on `change_date`. Returns None when nothing changes.
        """
        if self.status is HouseholdStatus.EXITED or facts.active_members <= 0:
            return None
        income = per_capita_income(facts.monthly_income, facts.active_members)
        above_line = income > params.dibao_line
        if self.status is HouseholdStatus.ENROLLED and above_line and facts.has_active_placement:
            return self._start_transition(change_date, params)
        if self.status is HouseholdStatus.TRANSITION and not above_line:
            return self.cancel_transition(change_date, INCOME_AT_OR_BELOW_LINE)
        return None

    def _start_transition(self, starts_on: date, params: Parameters) -> LifecycleDecision:
        period = TransitionPeriod(starts_on, add_months(starts_on, params.transition_months))
        return LifecycleDecision(
            state=replace(self, status=HouseholdStatus.TRANSITION, transition=period),
            event=TransitionStarted(period.starts_on, period.ends_on),
            change=StatusChange(starts_on, LifecycleAction.START_TRANSITION, self.status, HouseholdStatus.TRANSITION),
        )

    def cancel_transition(self, cancelled_on: date, reason: str = CANCELLED_BY_OPERATOR) -> LifecycleDecision:
        """Back to enrolled (`transition_cancelled`): income fell back, or an operator cancelled it."""
        self._require(LifecycleAction.CANCEL_TRANSITION)
        return LifecycleDecision(
            state=replace(self, status=HouseholdStatus.ENROLLED, transition=None),
            event=TransitionCancelled(cancelled_on, reason),
            change=StatusChange(
                cancelled_on,
                LifecycleAction.CANCEL_TRANSITION,
                HouseholdStatus.TRANSITION,
                HouseholdStatus.ENROLLED,
                reason,
            ),
        )

    def end_transition_if_due(
        self, today: date, params: Parameters, employed_person_ids: Iterable[str] = ()
    ) -> LifecycleDecision | None:
        """The scheduler's daily step: on `ends_on` (or later, if it missed a day) exit for employment.

        The exit is dated `ends_on` whatever day the scheduler runs; `params` are those in force on it.
        """
        if self.status is not HouseholdStatus.TRANSITION or self.transition is None:
            return None
        if today < self.transition.ends_on:
            return None
        return self.exit(ExitReason.EMPLOYMENT, self.transition.ends_on, employed_person_ids, params)

    # Exit, undo, relapse --------------------------------------------------------------------------------

    def exit(
        self,
        reason: ExitReason,
        exited_on: date,
        employed_person_ids: Iterable[str],
        params: Parameters,
    ) -> LifecycleDecision:
        """An exit decision from enrolled or transition; `params` are those in force on `exited_on`."""
        self._require(LifecycleAction.EXIT)
        reason = ExitReason(reason)
        monitoring_until = add_years(exited_on, params.monitoring_years) if reason.lifts_out_of_poverty else None
        record = ExitRecord(
            reason=reason,
            exited_on=exited_on,
            monitoring_until=monitoring_until,
            employed_person_ids=tuple(dict.fromkeys(employed_person_ids)),
            previous_status=self.status,
            previous_transition=self.transition,
        )
        return LifecycleDecision(
            state=replace(self, status=HouseholdStatus.EXITED, transition=None, exit_record=record),
            event=HouseholdExited(reason, exited_on, monitoring_until, record.employed_person_ids),
            change=StatusChange(exited_on, LifecycleAction.EXIT, self.status, HouseholdStatus.EXITED, reason),
        )

    def undo_exit(self, today: date, params: Parameters) -> LifecycleDecision:
        """Undo an exit recorded in error, within `undo_exit_days` of its date; back to the status before."""
        self._require(LifecycleAction.UNDO_EXIT)
        assert self.exit_record is not None
        exit_record = self.exit_record
        last_day = exit_record.exited_on + timedelta(days=params.undo_exit_days)
        if today > last_day:
            raise self._refuse(
                LifecycleAction.UNDO_EXIT,
                f"an exit can be undone for {params.undo_exit_days} days; this one until {last_day}",
            )
        if today < exit_record.exited_on:
            raise InvalidDecision("an exit cannot be undone before the date it takes effect")
        previous = exit_record.previous_status
        return LifecycleDecision(
            state=replace(self, status=previous, transition=exit_record.previous_transition, exit_record=None),
            event=ExitUndone(today),
            change=StatusChange(today, LifecycleAction.UNDO_EXIT, HouseholdStatus.EXITED, previous),
        )

    def relapse(self, cause: str, relapsed_on: date) -> LifecycleDecision:
        """返贫, an operator's decision: only after a 脱贫 exit and within monitoring; back to enrolled."""
        self._require(LifecycleAction.RELAPSE)
        assert self.exit_record is not None
        exit_record = self.exit_record
        if not exit_record.reason.lifts_out_of_poverty:
            raise self._refuse(
                LifecycleAction.RELAPSE,
                f"only a household lifted out of poverty can relapse; it exited for {exit_record.reason}",
            )
        if relapsed_on < exit_record.exited_on:
            raise InvalidDecision(f"relapsed_on {relapsed_on} is before the exit on {exit_record.exited_on}")
        if not exit_record.under_monitoring(relapsed_on):
            raise self._refuse(LifecycleAction.RELAPSE, f"monitoring ended on {exit_record.monitoring_until}")
        return LifecycleDecision(
            state=replace(self, status=HouseholdStatus.ENROLLED, exit_record=None, relapsed=True),
            event=HouseholdRelapsed(cause, relapsed_on),
            change=StatusChange(
                relapsed_on, LifecycleAction.RELAPSE, HouseholdStatus.EXITED, HouseholdStatus.ENROLLED, cause
            ),
        )


def status_on(changes: Sequence[StatusChange], on: date) -> HouseholdStatus | None:
    """The status on a date from the history rows in the order they were recorded (None before enrolment).

    Rows of the same date apply in recorded order, so the last one of the day wins.
    """
    status: HouseholdStatus | None = None
    for change in sorted(enumerate(changes), key=lambda indexed: (indexed[1].on, indexed[0])):
        if change[1].on > on:
            break
        status = change[1].to_status
    return status


# 脱贫激励 -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncomeRecord:
    """A per-capita income as recorded on a date (it stands until the next record)."""

    recorded_on: date
    per_capita_income: Decimal


@dataclass(frozen=True)
class RewardDue:
    year_index: int
    due_on: date  # the anniversary of the exit
    amount: Decimal


@dataclass(frozen=True)
class RewardCheck:
    """Why reward k is or is not due, for the scheduler's log and the API."""

    year_index: int
    due_on: date
    granted: bool
    reason: str
    amount: Decimal | None = None
    failures: tuple[IncomeRecord, ...] = field(default=())


def rewards_due(
    exit_record: ExitRecord,
    incomes: Sequence[IncomeRecord],
    relapse_dates: Iterable[date],
    today: date,
    params: ParameterHistory,
    already_granted: Iterable[int] = (),
) -> list[RewardDue]:
    """Exit rewards to grant today: reward k at the k-th anniversary of an employment exit (k = 1, 2, 3).

    Reward k is due when its anniversary has come (a missed day is caught up), it was not granted before,
    the household has not relapsed since the exit, and its per-capita income stayed above the dibao line
    throughout year k: the income standing at the start of the year and every income recorded during it,
    each compared with every line in force while it stood.
    """
    return [
        RewardDue(check.year_index, check.due_on, check.amount)
        for check in reward_checks(exit_record, incomes, relapse_dates, today, params, already_granted)
        if check.granted and check.amount is not None
    ]


def reward_checks(
    exit_record: ExitRecord,
    incomes: Sequence[IncomeRecord],
    relapse_dates: Iterable[date],
    today: date,
    params: ParameterHistory,
    already_granted: Iterable[int] = (),
) -> list[RewardCheck]:
    """The decision on each reward whose anniversary has come, with its reason."""
    if exit_record.reason is not ExitReason.EMPLOYMENT:
        return []
    granted_before = set(already_granted)
    relapses = sorted(day for day in relapse_dates if day >= exit_record.exited_on)
    ordered = sorted(incomes, key=lambda record: record.recorded_on)
    checks: list[RewardCheck] = []
    for year_index in REWARD_YEARS:
        year_start = add_years(exit_record.exited_on, year_index - 1)
        due_on = add_years(exit_record.exited_on, year_index)
        if due_on > today:
            break
        if year_index in granted_before:
            continue
        if relapses and relapses[0] <= due_on:
            checks.append(RewardCheck(year_index, due_on, False, f"relapsed on {relapses[0]}"))
            continue
        last_day = due_on - timedelta(days=1)
        failures = _incomes_at_or_below_line(ordered, year_start, last_day, params)
        if failures:
            checks.append(
                RewardCheck(year_index, due_on, False, "per-capita income at or below the line", None, failures)
            )
            continue
        amount = params.in_force(due_on).reward_amount(year_index)
        checks.append(RewardCheck(year_index, due_on, True, "income stayed above the line", amount))
    return checks


def _incomes_at_or_below_line(
    ordered: Sequence[IncomeRecord], first_day: date, last_day: date, params: ParameterHistory
) -> tuple[IncomeRecord, ...]:
    failures: list[IncomeRecord] = []
    standing = [record for record in ordered if record.recorded_on < first_day][-1:]
    during = [record for record in ordered if first_day <= record.recorded_on <= last_day]
    segments = standing + during
    for position, record in enumerate(segments):
        stands_from = max(record.recorded_on, first_day)
        next_record = segments[position + 1] if position + 1 < len(segments) else None
        stands_until = next_record.recorded_on - timedelta(days=1) if next_record else last_day
        # A record replaced the same day still counts, against the line of its own day.
        stands_until = max(stands_until, stands_from)
        lines = (version.dibao_line for _, _, version in params.periods(stands_from, stands_until))
        if any(record.per_capita_income <= line for line in lines):
            failures.append(record)
    return tuple(failures)
