from datetime import date

import pytest

from uplift.metrics.domain.errors import MetricsRequestError, PeriodError, ScopeError
from uplift.metrics.domain.periods import Period, PeriodKind, add_months, parse_period, series
from uplift.metrics.domain.scopes import Scope, ScopeKind, parse_scope


def test_a_year_covers_january_first_to_december_thirty_first() -> None:
    period = parse_period("2026")
    assert (period.start, period.end, period.label, period.kind) == (
        date(2026, 1, 1),
        date(2026, 12, 31),
        "2026",
        PeriodKind.YEAR,
    )
    assert period.days == 365


def test_a_quarter_covers_its_three_months() -> None:
    period = parse_period("2026-Q2")
    assert (period.start, period.end, period.label) == (date(2026, 4, 1), date(2026, 6, 30), "2026-Q2")
    assert parse_period("2026-q4").label == "2026-Q4"
    assert parse_period("2026-Q4").end == date(2026, 12, 31)


def test_a_month_ends_on_its_last_day_in_leap_years_too() -> None:
    assert parse_period("2024-02").end == date(2024, 2, 29)
    assert parse_period("2026-02").end == date(2026, 2, 28)
    assert parse_period("2026-02").kind is PeriodKind.MONTH


def test_a_range_is_inclusive_at_both_ends() -> None:
    period = parse_period("2026-03-15..2026-04-14")
    assert (period.start, period.end, period.kind) == (date(2026, 3, 15), date(2026, 4, 14), PeriodKind.RANGE)
    assert period.days == 31
    assert period.contains(date(2026, 3, 15)) and period.contains(date(2026, 4, 14))
    assert not period.contains(date(2026, 4, 15))
    assert parse_period("2026-05-01..2026-05-01").days == 1


def test_the_period_start_state_is_read_at_the_end_of_the_day_before() -> None:
    assert parse_period("2026-Q2").eve == date(2026, 3, 31)
    assert parse_period("2026").eve == date(2025, 12, 31)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-Q5", "quarter must be 1 to 4, not 5"),
        ("2026-Q0", "quarter must be 1 to 4, not 0"),
        ("2026-13", "month must be 01 to 12, not 13"),
        ("2026-00", "month must be 01 to 12, not 00"),
        ("2026-05-01..2026-04-30", "from 2026-05-01 is after to 2026-04-30"),
        ("2026-02-30..2026-03-01", "from '2026-02-30' is not a valid date"),
        ("2026-01-01..tomorrow", "to 'tomorrow' is not an ISO date YYYY-MM-DD"),
        ("0999", "year 999 is outside 1900..9999"),
        ("26-01", "is not one of YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD..YYYY-MM-DD"),
        ("2026/01", "is not one of"),
        ("2026-1", "is not one of"),
        ("", "is not one of"),
        ("٢٠٢٦", "is not one of"),  # Arabic-Indic digits are not a year here
    ],
)
def test_bad_periods_are_rejected_with_a_message_that_says_why(text: str, message: str) -> None:
    with pytest.raises(PeriodError) as raised:
        parse_period(text)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert raised.value.field == "period"


def test_previous_is_the_period_of_the_same_kind_just_before() -> None:
    assert parse_period("2026").previous().label == "2025"
    assert parse_period("2026-Q1").previous().label == "2025-Q4"
    assert parse_period("2026-Q3").previous().label == "2026-Q2"
    assert parse_period("2026-01").previous().label == "2025-12"
    assert parse_period("2026-03").previous().label == "2026-02"


def test_previous_of_a_range_is_the_range_of_the_same_length_just_before() -> None:
    previous = parse_period("2026-03-15..2026-04-14").previous()
    assert (previous.start, previous.end) == (date(2026, 2, 12), date(2026, 3, 14))
    assert previous.days == 31
    assert previous.label == "2026-02-12..2026-03-14"
    assert parse_period("2026-03-01..2026-03-01").previous().label == "2026-02-28..2026-02-28"


def test_add_months_clamps_to_the_last_day_of_a_shorter_month() -> None:
    assert add_months(date(2026, 8, 31), -6) == date(2026, 2, 28)
    assert add_months(date(2024, 8, 31), -6) == date(2024, 2, 29)
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


def test_a_monthly_series_runs_from_the_month_of_from_to_the_month_of_to() -> None:
    labels = [p.label for p in series(date(2026, 1, 15), date(2026, 3, 2), "month")]
    assert labels == ["2026-01", "2026-02", "2026-03"]


def test_series_bounds_may_be_period_labels_or_iso_dates() -> None:
    assert [p.label for p in series("2025-11", "2026-04", PeriodKind.QUARTER)] == [
        "2025-Q4",
        "2026-Q1",
        "2026-Q2",
    ]
    assert [p.label for p in series("2024-06-30", "2026", "year")] == ["2024", "2025", "2026"]
    assert [p.label for p in series("2026-02", "2026-02", "month")] == ["2026-02"]


def test_a_series_with_from_after_to_or_an_unknown_step_is_rejected() -> None:
    with pytest.raises(PeriodError, match="from 2026-03-01 is after to 2026-02-28"):
        series("2026-03", "2026-02", "month")
    with pytest.raises(PeriodError, match="step must be month, quarter or year") as raised:
        series("2026-01", "2026-03", "week")
    assert raised.value.field == "step"
    with pytest.raises(PeriodError, match="step must be"):
        series("2026-01", "2026-03", "range")


def test_a_series_longer_than_the_limit_is_rejected() -> None:
    assert len(series("2026-01", "2026-12", "month", max_points=12)) == 12
    with pytest.raises(PeriodError, match="more than 12 points"):
        series("2026-01", "2027-01", "month", max_points=12)


def test_constructing_a_period_backwards_is_rejected() -> None:
    with pytest.raises(PeriodError):
        Period.between(date(2026, 2, 1), date(2026, 1, 31))


@pytest.mark.parametrize(
    ("text", "kind", "code"),
    [
        ("420102", ScopeKind.DISTRICT, "420102"),
        ("420102001", ScopeKind.STREET, "420102001"),
        ("420102001001", ScopeKind.COMMUNITY, "420102001001"),
        ("department:D042", ScopeKind.DEPARTMENT, "D042"),
    ],
)
def test_scopes_parse_by_code_length_or_department_prefix(text: str, kind: ScopeKind, code: str) -> None:
    scope = parse_scope(text)
    assert (scope.kind, scope.code, str(scope)) == (kind, code, text)


@pytest.mark.parametrize("text", ["4201", "4201020010", "department:d042", "department:X", "street:420102001", ""])
def test_bad_scopes_are_rejected(text: str) -> None:
    with pytest.raises(ScopeError) as raised:
        parse_scope(text)
    assert raised.value.field == "scope"
    assert isinstance(raised.value, MetricsRequestError)


def test_a_street_covers_its_communities_and_the_district_covers_all() -> None:
    assert parse_scope("420102001").covers_community("420102001007")
    assert not parse_scope("420102001").covers_community("420102002001")
    assert parse_scope("420102").covers_community("999999999999")
    with pytest.raises(ScopeError):
        Scope.department("D042").covers_community("420102001007")
