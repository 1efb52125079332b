"""Reporting periods: `YYYY`, `YYYY-Qn`, `YYYY-MM` and `from..to`, in business dates, inclusive at both ends.

"At the period end" is the state at the end of `Period.end`; "at the period start" is the state at the end of
`Period.eve`, the day before the first day (DOMAIN.md section 10).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from uplift.metrics.domain.errors import PeriodError

# Periods before the programme's era are almost certainly typos; the bound also keeps `eve` and `previous()`
# clear of `date.min`.
MIN_YEAR = 1900
MAX_YEAR = 9999
MAX_SERIES_POINTS = 600

# [0-9], not \d: \d also matches other scripts' digits.
_YEAR = re.compile(r"([0-9]{4})")
_QUARTER = re.compile(r"([0-9]{4})-[Qq]([0-9]+)")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_RANGE = re.compile(r"(.*)\.\.(.*)")

EXPECTED_FORMATS = "YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD..YYYY-MM-DD"


class PeriodKind(StrEnum):
    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"
    RANGE = "range"


SERIES_STEPS = (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR)


def add_months(day: date, months: int) -> date:
    """`day` shifted by whole months; a day that does not exist in the target month becomes its last day."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    if not 1 <= year <= MAX_YEAR:
        raise PeriodError(f"{day.isoformat()} shifted by {months} months leaves the calendar")
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last_day))


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(f"year {year} is outside {MIN_YEAR}..{MAX_YEAR}")


@dataclass(frozen=True)
class Period:
    """An inclusive span of business dates with the label it is reported under."""

    start: date
    end: date
    label: str
    kind: PeriodKind

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise PeriodError(f"period start {self.start.isoformat()} is after its end {self.end.isoformat()}")

    # --- construction -------------------------------------------------------------------------------------

    @classmethod
    def year(cls, year: int) -> Period:
        _check_year(year)
        return cls(date(year, 1, 1), date(year, 12, 31), f"{year:04d}", PeriodKind.YEAR)

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        _check_year(year)
        if not 1 <= quarter <= 4:
            raise PeriodError(f"quarter must be 1 to 4, not {quarter}")
        first_month = 3 * (quarter - 1) + 1
        start = date(year, first_month, 1)
        end = add_months(start, 3) - timedelta(days=1)
        return cls(start, end, f"{year:04d}-Q{quarter}", PeriodKind.QUARTER)

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        _check_year(year)
        if not 1 <= month <= 12:
            raise PeriodError(f"month must be 01 to 12, not {month:02d}")
        last_day = calendar.monthrange(year, month)[1]
        return cls(date(year, month, 1), date(year, month, last_day), f"{year:04d}-{month:02d}", PeriodKind.MONTH)

    @classmethod
    def between(cls, start: date, end: date) -> Period:
        """The range `start..end`, both days included."""
        _check_year(start.year)
        _check_year(end.year)
        if start > end:
            raise PeriodError(f"from {start.isoformat()} is after to {end.isoformat()}")
        return cls(start, end, f"{start.isoformat()}..{end.isoformat()}", PeriodKind.RANGE)

    @classmethod
    def containing(cls, day: date, kind: PeriodKind) -> Period:
        """The year, quarter or month that contains `day`."""
        if kind is PeriodKind.YEAR:
            return cls.year(day.year)
        if kind is PeriodKind.QUARTER:
            return cls.quarter(day.year, (day.month - 1) // 3 + 1)
        if kind is PeriodKind.MONTH:
            return cls.month(day.year, day.month)
        raise PeriodError("a range is not a calendar period; use year, quarter or month")

    # --- facts about the period ---------------------------------------------------------------------------

    @property
    def eve(self) -> date:
        """The day before the first day: "at the period start" is the state at the end of this day."""
        return self.start - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def previous(self) -> Period:
        """The period of the same kind and length just before this one (a range: as many days)."""
        if self.kind is PeriodKind.RANGE:
            end = self.eve
            return Period.between(end - timedelta(days=self.days - 1), end)
        return Period.containing(self.eve, self.kind)

    def following(self) -> Period:
        """The period of the same kind and length just after this one."""
        if self.kind is PeriodKind.RANGE:
            start = self.end + timedelta(days=1)
            return Period.between(start, start + timedelta(days=self.days - 1))
        return Period.containing(self.end + timedelta(days=1), self.kind)

    def __str__(self) -> str:
        return self.label


def parse_date(text: str, *, what: str = "date") -> date:
    """A strict ISO date `YYYY-MM-DD`."""
    if not _DATE.fullmatch(text):
        raise PeriodError(f"{what} {text!r} is not an ISO date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{what} {text!r} is not a valid date") from None


def parse_period(text: str) -> Period:
    """Parse `YYYY`, `YYYY-Qn`, `YYYY-MM` or `from..to` (ISO dates, inclusive)."""
    if match := _YEAR.fullmatch(text):
        return Period.year(int(match[1]))
    if match := _QUARTER.fullmatch(text):
        return Period.quarter(int(match[1]), int(match[2]))
    if match := _MONTH.fullmatch(text):
        return Period.month(int(match[1]), int(match[2]))
    if match := _RANGE.fullmatch(text):
        start = parse_date(match[1], what="from")
        end = parse_date(match[2], what="to")
        return Period.between(start, end)
    raise PeriodError(f"period {text!r} is not one of {EXPECTED_FORMATS}")


def _bound(value: date | str, *, first: bool) -> date:
    """A series bound: a date, an ISO date, or a period label (its first day for `from`, last for `to`)."""
    if isinstance(value, date):
        return value
    if _DATE.fullmatch(value):
        return parse_date(value, what="from" if first else "to")
    period = parse_period(value)
    return period.start if first else period.end


def series(
    start: date | str,
    end: date | str,
    step: PeriodKind | str = PeriodKind.MONTH,
    *,
    max_points: int = MAX_SERIES_POINTS,
) -> list[Period]:
    """The consecutive months, quarters or years from the one containing `start` to the one with `end`."""
    try:
        kind = PeriodKind(step)
    except ValueError:
        kind = PeriodKind.RANGE
    if kind not in SERIES_STEPS:
        raise PeriodError(f"step must be month, quarter or year, not {step!r}", field="step")
    first_day = _bound(start, first=True)
    last_day = _bound(end, first=False)
    if first_day > last_day:
        raise PeriodError(f"from {first_day.isoformat()} is after to {last_day.isoformat()}", field="from")
    periods = [Period.containing(first_day, kind)]
    while periods[-1].end < last_day:
        if len(periods) >= max_points:
            raise PeriodError(f"the series would have more than {max_points} points; narrow from..to", field="to")
        periods.append(periods[-1].following())
    return periods
