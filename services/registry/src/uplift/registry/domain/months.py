"""Calendar arithmetic on business dates, with month-end clamping."""

from __future__ import annotations

import calendar
from datetime import date


def add_months(start: date, months: int) -> date:
    """`start` moved by `months`; a day that does not exist in the target month becomes its last day."""
    month_index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last_day))


def add_years(start: date, years: int) -> date:
    """`start` moved by `years`; 29 February becomes 28 February in a common year."""
    return add_months(start, 12 * years)


def completed_years(born_on: date, on: date) -> int:
    """Age in whole years on `on` (a 29 February birthday counts from 28 February in common years)."""
    years = on.year - born_on.year
    return years if add_years(born_on, years) <= on else years - 1
