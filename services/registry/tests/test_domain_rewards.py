from datetime import date
from decimal import Decimal

from uplift.registry.domain.lifecycle import (
    ExitReason,
    ExitRecord,
    HouseholdLifecycle,
    IncomeRecord,
    RewardDue,
    reward_checks,
    rewards_due,
)
from uplift.registry.domain.parameters import DEFAULT_PARAMETERS, ParameterHistory, ParameterVersion

EXITED_ON = date(2026, 3, 1)
NO_CHANGES = ParameterHistory()


def employment_exit(reason: ExitReason = ExitReason.EMPLOYMENT) -> ExitRecord:
    record = HouseholdLifecycle().exit(reason, EXITED_ON, ["p1"], DEFAULT_PARAMETERS).state.exit_record
    assert record is not None
    return record


def income(recorded_on: date, amount: str) -> IncomeRecord:
    return IncomeRecord(recorded_on, Decimal(amount))


STEADY = [income(date(2026, 2, 15), "1200.00")]


def test_the_first_reward_is_due_on_the_first_anniversary_and_not_the_day_before() -> None:
    assert rewards_due(employment_exit(), STEADY, [], date(2027, 2, 28), NO_CHANGES) == []
    assert rewards_due(employment_exit(), STEADY, [], date(2027, 3, 1), NO_CHANGES) == [
        RewardDue(1, date(2027, 3, 1), Decimal("1000.00"))
    ]


def test_rewards_already_granted_are_not_granted_again_and_missed_ones_are_caught_up() -> None:
    due = rewards_due(employment_exit(), STEADY, [], date(2029, 3, 5), NO_CHANGES, already_granted=[1])
    assert [(reward.year_index, reward.due_on) for reward in due] == [(2, date(2028, 3, 1)), (3, date(2029, 3, 1))]


def test_there_is_no_fourth_reward() -> None:
    due = rewards_due(employment_exit(), STEADY, [], date(2031, 1, 1), NO_CHANGES, already_granted=[1, 2, 3])
    assert due == []


def test_a_relapse_stops_the_rewards_from_its_year_on() -> None:
    due = rewards_due(employment_exit(), STEADY, [date(2027, 6, 1)], date(2029, 3, 1), NO_CHANGES)
    assert [reward.year_index for reward in due] == [1]


def test_a_relapse_on_the_anniversary_forfeits_that_years_reward() -> None:
    assert rewards_due(employment_exit(), STEADY, [date(2027, 3, 1)], date(2027, 3, 1), NO_CHANGES) == []


def test_an_income_at_or_below_the_line_during_a_year_forfeits_that_year_only() -> None:
    incomes = [*STEADY, income(date(2027, 8, 1), "900.00"), income(date(2027, 9, 1), "1100.00")]
    checks = reward_checks(employment_exit(), incomes, [], date(2029, 3, 1), NO_CHANGES)
    assert [(check.year_index, check.granted) for check in checks] == [(1, True), (2, False), (3, True)]
    assert checks[1].failures == (income(date(2027, 8, 1), "900.00"),)


def test_an_income_recorded_on_the_anniversary_belongs_to_the_next_year() -> None:
    incomes = [*STEADY, income(date(2027, 3, 1), "500.00"), income(date(2027, 3, 2), "1200.00")]
    due = rewards_due(employment_exit(), incomes, [], date(2028, 3, 1), NO_CHANGES)
    assert [reward.year_index for reward in due] == [1]


def test_an_income_replaced_the_same_day_still_counts() -> None:
    incomes = [*STEADY, income(date(2026, 5, 1), "800.00"), income(date(2026, 5, 1), "1200.00")]
    assert rewards_due(employment_exit(), incomes, [], date(2027, 3, 1), NO_CHANGES) == []


def test_the_line_in_force_at_the_time_is_the_one_compared() -> None:
    # 1,200.00 stays above 900.00 in year 1, but the line rises to 1,250.00 during year 2 while it stands.
    history = ParameterHistory([ParameterVersion(effective_from=date(2027, 10, 1), values={"dibao_line": "1250.00"})])
    checks = reward_checks(employment_exit(), STEADY, [], date(2028, 3, 1), history)
    assert [(check.year_index, check.granted) for check in checks] == [(1, True), (2, False)]


def test_the_amount_is_the_one_in_force_on_the_anniversary() -> None:
    history = ParameterHistory(
        [ParameterVersion(effective_from=date(2027, 1, 1), values={"reward_amounts": {"1": "1200.00"}})]
    )
    assert rewards_due(employment_exit(), STEADY, [], date(2027, 3, 1), history)[0].amount == Decimal("1200.00")


def test_only_an_employment_exit_earns_rewards() -> None:
    assert rewards_due(employment_exit(ExitReason.POLICY_SUPPORT), STEADY, [], date(2030, 1, 1), NO_CHANGES) == []
