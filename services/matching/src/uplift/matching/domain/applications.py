"""The application / placement pipeline (DOMAIN.md §8).

    recommended → applied → interviewed → hired → retained_3m → retained_6m

An application ends as `rejected` or `withdrawn` before a hire, or as `left` once hired (the placement ended,
from hired or either retention step). Retention steps are recorded by an operator on or after 3 and 6 months
from the placement's `started_on`. An illegal transition is a 409 naming the allowed ones.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Mapping
from datetime import date
from enum import StrEnum


class ApplicationStatus(StrEnum):
    RECOMMENDED = "recommended"
    APPLIED = "applied"
    INTERVIEWED = "interviewed"
    HIRED = "hired"
    RETAINED_3M = "retained_3m"
    RETAINED_6M = "retained_6m"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    LEFT = "left"


_S = ApplicationStatus  # short for the table below
_BEFORE_HIRE_ENDINGS = (_S.REJECTED, _S.WITHDRAWN)

ALLOWED_TRANSITIONS: Mapping[ApplicationStatus, tuple[ApplicationStatus, ...]] = {
    _S.RECOMMENDED: (_S.APPLIED, *_BEFORE_HIRE_ENDINGS),
    _S.APPLIED: (_S.INTERVIEWED, *_BEFORE_HIRE_ENDINGS),
    _S.INTERVIEWED: (_S.HIRED, *_BEFORE_HIRE_ENDINGS),
    _S.HIRED: (_S.RETAINED_3M, _S.LEFT),
    _S.RETAINED_3M: (_S.RETAINED_6M, _S.LEFT),
    _S.RETAINED_6M: (_S.LEFT,),
    _S.REJECTED: (),
    _S.WITHDRAWN: (),
    _S.LEFT: (),
}

RETENTION_MONTHS: Mapping[ApplicationStatus, int] = {_S.RETAINED_3M: 3, _S.RETAINED_6M: 6}
TERMINAL_STATUSES: frozenset[ApplicationStatus] = frozenset(s for s, nxt in ALLOWED_TRANSITIONS.items() if not nxt)


class IllegalTransition(Exception):
    """The application cannot move from `current` to `to`; `allowed` names where it can go (409)."""

    def __init__(
        self, current: ApplicationStatus, to: ApplicationStatus, allowed: tuple[ApplicationStatus, ...]
    ) -> None:
        self.current = current
        self.to = to
        self.allowed = allowed
        names = ", ".join(allowed) if allowed else "none: the application is closed"
        super().__init__(f"an application cannot go from {current} to {to}; allowed: {names}")


class RetentionNotDue(IllegalTransition):
    """A retention step recorded before it is due (3 or 6 months after the placement started)."""

    def __init__(
        self,
        current: ApplicationStatus,
        to: ApplicationStatus,
        allowed: tuple[ApplicationStatus, ...],
        due_on: date,
    ) -> None:
        super().__init__(current, to, allowed)
        self.due_on = due_on
        self.args = (f"{to} can be recorded on or after {due_on.isoformat()}; allowed now: {', '.join(allowed)}",)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (2026-08-31 + 3 months = 2026-11-30)."""
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def retention_due_on(started_on: date, step: ApplicationStatus) -> date:
    return add_months(started_on, RETENTION_MONTHS[step])


def allowed_transitions(
    current: ApplicationStatus, on: date | None = None, started_on: date | None = None
) -> tuple[ApplicationStatus, ...]:
    """Where the application can go from `current`; with `on` and `started_on`, only the retention steps due."""
    allowed = ALLOWED_TRANSITIONS[current]
    if on is None or started_on is None:
        return allowed
    return tuple(s for s in allowed if s not in RETENTION_MONTHS or on >= retention_due_on(started_on, s))


def transition(
    current: ApplicationStatus | str,
    to: ApplicationStatus | str,
    on: date,
    started_on: date | None = None,
) -> ApplicationStatus:
    """Check the move `current → to` on date `on` and return the new status.

    `started_on` is the placement's start date: required for the retention steps and for `left`.
    Raises `IllegalTransition` (or its `RetentionNotDue`) naming the allowed statuses, and `ValueError` for an
    unknown status name or a missing or inconsistent start date.
    """
    current, to = ApplicationStatus(current), ApplicationStatus(to)
    allowed = ALLOWED_TRANSITIONS[current]
    if to not in allowed:
        raise IllegalTransition(current, to, allowed)
    if to in RETENTION_MONTHS or to == _S.LEFT:
        if started_on is None:
            raise ValueError(f"{to} needs the placement's start date (started_on)")
        if on < started_on:
            raise ValueError(f"{to} on {on.isoformat()} is before the placement started ({started_on.isoformat()})")
    if to in RETENTION_MONTHS:
        assert started_on is not None
        due_on = retention_due_on(started_on, to)
        if on < due_on:
            raise RetentionNotDue(current, to, allowed_transitions(current, on, started_on), due_on)
    return to
