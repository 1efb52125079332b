from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from uplift.registry.domain.months import add_months, add_years, completed_years
from uplift.registry.domain.parameters import DEFAULT_PARAMETERS, ParameterHistory, ParameterVersion


def test_defaults_are_the_design_values() -> None:
    params = DEFAULT_PARAMETERS
    assert params.effective_from is None
    assert params.dibao_line == Decimal("900.00")
    assert (params.transition_months, params.monitoring_years, params.undo_exit_days) == (6, 3, 30)
    assert params.visit_interval_days == 30
    assert (params.retirement_age.male, params.retirement_age.female, params.working_age_min) == (60, 55, 16)
    quotas = params.quotas
    assert (quotas.district_leader, quotas.division, quotas.section, quotas.staff, quotas.branch) == (5, 5, 2, 1, 2)
    assert params.reward_amounts == {1: Decimal("1000.00"), 2: Decimal("1000.00"), 3: Decimal("1000.00")}
    thresholds = params.alert_thresholds
    assert thresholds.income_drop_ratio == Decimal("0.30")
    assert thresholds.medical_hardship_ratio == Decimal("0.50")
    assert thresholds.pension_gap_years == 5


def test_defaults_apply_before_the_first_stored_version() -> None:
    history = ParameterHistory([ParameterVersion(effective_from=date(2026, 1, 1), values={"dibao_line": "950.00"})])
    assert history.in_force(date(2025, 12, 31)) == DEFAULT_PARAMETERS
    assert history.in_force(date(2026, 1, 1)).dibao_line == Decimal("950.00")
    assert history.in_force(date(2026, 1, 1)).effective_from == date(2026, 1, 1)


def test_partial_versions_override_only_what_they_set_and_keep_earlier_changes() -> None:
    history = ParameterHistory(
        [
            # Stored out of order on purpose: versions apply by effective date.
            ParameterVersion(effective_from=date(2026, 7, 1), values={"quotas": {"section": 3}}),
            ParameterVersion(effective_from=date(2026, 1, 1), values={"dibao_line": "950.00"}),
            ParameterVersion(effective_from=date(2027, 1, 1), values={"retirement_age": {"female": 58}}),
        ]
    )
    june = history.in_force(date(2026, 6, 30))
    assert (june.dibao_line, june.quotas.section) == (Decimal("950.00"), 2)
    august = history.in_force(date(2026, 8, 1))
    assert (august.dibao_line, august.quotas.section, august.quotas.division) == (Decimal("950.00"), 3, 5)
    later = history.in_force(date(2027, 3, 1))
    assert (later.retirement_age.female, later.retirement_age.male, later.quotas.section) == (58, 60, 3)
    assert history.change_dates == (date(2026, 1, 1), date(2026, 7, 1), date(2027, 1, 1))


def test_reward_amounts_may_be_keyed_by_json_strings() -> None:
    history = ParameterHistory(
        [ParameterVersion(effective_from=date(2026, 1, 1), values={"reward_amounts": {"2": "1500.00"}})]
    )
    amounts = history.in_force(date(2026, 2, 1)).reward_amounts
    assert amounts == {1: Decimal("1000.00"), 2: Decimal("1500.00"), 3: Decimal("1000.00")}


@pytest.mark.parametrize(
    "values",
    [
        {"dibao_lines": "950.00"},
        {"dibao_line": "-1.00"},
        {"dibao_line": "900.001"},
        {"quotas": {"captain": 3}},
        {"alert_thresholds": {"income_drop_ratio": "1.5"}},
        {"reward_amounts": {"4": "100.00"}},
        {"effective_from": "2026-01-01"},
    ],
)
def test_a_version_with_unknown_names_or_bad_values_is_rejected_when_stored(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ParameterVersion(effective_from=date(2026, 1, 1), values=values)


def test_two_versions_on_one_date_are_refused() -> None:
    first = ParameterVersion(effective_from=date(2026, 1, 1), values={"dibao_line": "950.00"})
    second = ParameterVersion(effective_from=date(2026, 1, 1), values={"dibao_line": "960.00"})
    with pytest.raises(ValueError, match="share an effective date"):
        ParameterHistory([first, second])


def test_periods_split_a_range_at_each_change() -> None:
    history = ParameterHistory(
        [
            ParameterVersion(effective_from=date(2026, 3, 1), values={"dibao_line": "950.00"}),
            ParameterVersion(effective_from=date(2026, 9, 1), values={"dibao_line": "1000.00"}),
        ]
    )
    periods = history.periods(date(2026, 1, 15), date(2026, 12, 31))
    assert [(start, end, version.dibao_line) for start, end, version in periods] == [
        (date(2026, 1, 15), date(2026, 2, 28), Decimal("900.00")),
        (date(2026, 3, 1), date(2026, 8, 31), Decimal("950.00")),
        (date(2026, 9, 1), date(2026, 12, 31), Decimal("1000.00")),
    ]


def test_working_age_runs_from_16_to_the_retirement_age_by_sex() -> None:
    params = DEFAULT_PARAMETERS
    assert not params.is_working_age(15, "male")
    assert params.is_working_age(16, "female")
    assert params.is_working_age(54, "female") and not params.is_working_age(55, "female")
    assert params.is_working_age(59, "male") and not params.is_working_age(60, "male")


def test_month_arithmetic_clamps_to_the_last_day_of_the_month() -> None:
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert add_months(date(2026, 3, 31), 1) == date(2026, 4, 30)
    assert add_months(date(2026, 1, 15), -12) == date(2025, 1, 15)
    assert add_years(date(2028, 2, 29), 3) == date(2031, 2, 28)
    assert completed_years(date(1970, 5, 10), date(2026, 5, 9)) == 55
    assert completed_years(date(1970, 5, 10), date(2026, 5, 10)) == 56
