"""The projection facts the indicators count, as the metrics consumers store them from events.

Plain dataclasses; each question an indicator asks of a household ("status on D", "helper on D") is a
method here, so every indicator asks it the same way. A question "on D" means the state at the end of
day D: of the changes that took effect on or before D, the last one (changes of one day keep the order
they were stored in).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

# Built-in default before the first `registry.parameters.set` (DOMAIN.md section 5).
DEFAULT_VISIT_INTERVAL_DAYS = 30

_Dated = TypeVar("_Dated")


class HouseholdStatus(StrEnum):
    ENROLLED = "enrolled"
    TRANSITION = "transition"
    EXITED = "exited"


IN_PROGRAMME = frozenset({HouseholdStatus.ENROLLED, HouseholdStatus.TRANSITION})


class ExitReason(StrEnum):
    EMPLOYMENT = "employment"
    SUBSTITUTE_SUPPORT = "substitute_support"
    POLICY_SUPPORT = "policy_support"
    INCOME_ABOVE_LINE = "income_above_line"
    MOVED_AWAY = "moved_away"
    DECEASED = "deceased"
    OTHER = "other"


# 脱贫: the exit reasons that count as lifted out of poverty (DOMAIN.md section 3).
LIFTED_EXIT_REASONS = frozenset(
    {
        ExitReason.EMPLOYMENT,
        ExitReason.SUBSTITUTE_SUPPORT,
        ExitReason.POLICY_SUPPORT,
        ExitReason.INCOME_ABOVE_LINE,
    }
)


class HelperKind(StrEnum):
    CADRE = "cadre"
    BRANCH = "branch"


@dataclass(frozen=True)
class StatusChange:
    """The household's status from `effective_on` on; an exit carries its reason and end of monitoring."""

    effective_on: date
    status: HouseholdStatus
    exit_reason: ExitReason | None = None
    monitoring_until: date | None = None

    @property
    def is_lifted_exit(self) -> bool:
        return self.status is HouseholdStatus.EXITED and self.exit_reason in LIFTED_EXIT_REASONS


@dataclass(frozen=True)
class HelperAssignment:
    """A pairing: active from the end of `assigned_on` until `released_on` (inactive at that day's end)."""

    helper_kind: HelperKind
    helper_id: str
    department_code: str | None  # None for a party branch that belongs to a community
    assigned_on: date
    released_on: date | None = None

    def active_on(self, day: date) -> bool:
        return self.assigned_on <= day and (self.released_on is None or self.released_on > day)


@dataclass(frozen=True)
class CommunityChange:
    """The household lives in `community_code` from `effective_on` on."""

    effective_on: date
    community_code: str


def _by_date(items: Sequence[_Dated], key_name: str) -> tuple[_Dated, ...]:
    # A stable sort keeps same-day changes in the order they were stored (stream order).
    return tuple(sorted(items, key=lambda item: getattr(item, key_name)))


@dataclass(frozen=True)
class HouseholdFacts:
    """One household as the metrics projection holds it.

    `status_history` lists the changes after enrolment (an entry on `enrolled_on` itself is allowed and
    harmless): before its first change the household is `enrolled` from `enrolled_on`. A relapse appears
    twice, as a date in `relapses` and as the `enrolled` status change it causes. `community_history`
    lists every community the household lived in, the enrolment one first; empty means it never moved
    from `community_code`. `street_code` and `community_code` are the latest snapshot's.
    """

    household_id: str
    cohort: str | None
    street_code: str
    community_code: str
    enrolled_on: date
    status_history: Sequence[StatusChange] = ()
    relapses: Sequence[date] = ()
    helper_assignments: Sequence[HelperAssignment] = ()
    community_history: Sequence[CommunityChange] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "status_history", _by_date(self.status_history, "effective_on"))
        object.__setattr__(self, "relapses", tuple(sorted(self.relapses)))
        object.__setattr__(self, "helper_assignments", _by_date(self.helper_assignments, "assigned_on"))
        object.__setattr__(self, "community_history", _by_date(self.community_history, "effective_on"))

    def change_on(self, day: date) -> StatusChange | None:
        """The status change in force at the end of `day`; None before enrolment."""
        if day < self.enrolled_on:
            return None
        position = bisect.bisect_right([c.effective_on for c in self.status_history], day)
        if position == 0:
            return StatusChange(self.enrolled_on, HouseholdStatus.ENROLLED)
        return self.status_history[position - 1]

    def status_on(self, day: date) -> HouseholdStatus | None:
        change = self.change_on(day)
        return None if change is None else change.status

    def in_programme_on(self, day: date) -> bool:
        """`enrolled` or in `transition` at the end of `day`."""
        return self.status_on(day) in IN_PROGRAMME

    def exited_lifted_on(self, day: date) -> bool:
        """Exited with a 脱贫 reason (employment, substitute or policy support, income above the line)."""
        change = self.change_on(day)
        return change is not None and change.is_lifted_exit

    def under_monitoring_on(self, day: date) -> bool:
        """Exited with a 脱贫 reason and `day` on or before `monitoring_until` (its last monitored day)."""
        change = self.change_on(day)
        return (
            change is not None
            and change.is_lifted_exit
            and change.monitoring_until is not None
            and day <= change.monitoring_until
        )

    def relapsed_within(self, start: date, end: date) -> bool:
        return any(start <= relapsed_on <= end for relapsed_on in self.relapses)

    def helper_on(self, day: date) -> HelperAssignment | None:
        """The active helper at the end of `day` (the latest assignment if the stored history overlaps)."""
        active = [a for a in self.helper_assignments if a.active_on(day)]
        return active[-1] if active else None

    def paired_with_department_on(self, department_code: str, day: date) -> bool:
        helper = self.helper_on(day)
        return helper is not None and helper.department_code == department_code

    def ever_paired_with_department_by(self, department_code: str, day: date) -> bool:
        """Paired with one of the department's helpers at any time on or before `day`."""
        return any(a.department_code == department_code and a.assigned_on <= day for a in self.helper_assignments)

    def community_on(self, day: date) -> str:
        """The community at the end of `day` (before the first recorded one: the first recorded one)."""
        if not self.community_history:
            return self.community_code
        position = bisect.bisect_right([c.effective_on for c in self.community_history], day)
        return self.community_history[max(position - 1, 0)].community_code


@dataclass(frozen=True)
class Placement:
    """A hire (`matching.placement.hired`) with its 6-month retention and end, if recorded."""

    placement_id: str
    person_id: str
    household_id: str
    started_on: date
    retained_6m_on: date | None = None
    ended_on: date | None = None


@dataclass(frozen=True)
class Visit:
    visit_id: str
    household_id: str
    helper_department_code: str | None
    visited_on: date
    satisfaction: int | None = None  # 1-5


@dataclass(frozen=True)
class Measure:
    """A measure of an assistance plan, with the department of its responsible helper."""

    measure_id: str
    household_id: str
    department_code: str | None
    due_on: date
    completed_on: date | None = None


@dataclass(frozen=True)
class Claim:
    """A settled medical claim; `street_code`/`community_code` are as the claim carried them at settlement."""

    claim_id: str
    household_id: str | None
    street_code: str | None
    community_code: str | None
    discharged_on: date
    policy_year: int
    cap_met: bool | None
    supplementary: Decimal = Decimal("0.00")
    reversed: bool = False


@dataclass(frozen=True)
class FundBudget:
    """A policy year's fund budgets (`medical.policy_year.set`); a charity budget of None is unlimited."""

    policy_year: int
    supplementary_budget: Decimal
    charity_budget: Decimal | None = None


@dataclass(frozen=True)
class VisitIntervalVersion:
    """`visit_interval_days` in force from `effective_from` (`registry.parameters.set`)."""

    effective_from: date
    visit_interval_days: int

    def __post_init__(self) -> None:
        if self.visit_interval_days < 1:
            raise ValueError(f"visit_interval_days must be at least 1, not {self.visit_interval_days}")


@dataclass(frozen=True)
class Facts:
    """Everything the indicators count, as one in-memory snapshot of the projections."""

    households: Sequence[HouseholdFacts] = ()
    placements: Sequence[Placement] = ()
    visits: Sequence[Visit] = ()
    measures: Sequence[Measure] = ()
    claims: Sequence[Claim] = ()
    fund_budgets: Sequence[FundBudget] = ()
    visit_intervals: Sequence[VisitIntervalVersion] = ()
    _households_by_id: dict[str, HouseholdFacts] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_households_by_id", {h.household_id: h for h in self.households})
        object.__setattr__(self, "visit_intervals", _by_date(self.visit_intervals, "effective_from"))

    def household(self, household_id: str | None) -> HouseholdFacts | None:
        return None if household_id is None else self._households_by_id.get(household_id)

    def visit_interval_on(self, day: date) -> int:
        """The visit interval in force on `day`; the built-in default before the first stored version."""
        in_force = [v for v in self.visit_intervals if v.effective_from <= day]
        return in_force[-1].visit_interval_days if in_force else DEFAULT_VISIT_INTERVAL_DAYS

    def supplementary_budget(self, policy_year: int) -> Decimal | None:
        """The year's supplementary budget, None when no `medical.policy_year.set` was seen for it."""
        budgets = [b.supplementary_budget for b in self.fund_budgets if b.policy_year == policy_year]
        return budgets[-1] if budgets else None
