"""Pure household rules: division codes and parents, the income model, zero-employment households."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from uplift.registry.domain.households import (
    HouseholdIncome,
    MemberWork,
    is_zero_employment,
    org_code_problem,
    parent_problem,
)
from uplift.registry.domain.parameters import DEFAULT_PARAMETERS, Parameters, RetirementAge

ON = date(2026, 6, 1)


def test_codes_follow_the_statistical_division_lengths() -> None:
    assert org_code_problem("street", "420102001") is None
    assert org_code_problem("street", "42010200") == "a street code is 9 digits"
    assert org_code_problem("community", "420102001001") is None
    assert org_code_problem("department", "D-042") is None
    assert org_code_problem("department", "d042") is not None
    assert org_code_problem("grid", "420102001001") is not None  # a grid extends its community's code


def test_a_parent_must_exist_be_of_the_kind_above_and_prefix_the_code() -> None:
    assert parent_problem("community", "420102001001", "420102001", "street") is None
    assert parent_problem("community", "420102001001", "420102002", "street") == (
        "code 420102001001 does not start with its parent's code 420102002"
    )
    assert parent_problem("community", "420102001001", "420102001", None) == "org unit 420102001 does not exist"
    assert parent_problem("street", "420102001", "420102001001", "community") is not None
    assert parent_problem("street", "420102001", None, None) == "a street needs its district as parent_code"
    assert parent_problem("department", "D042", None, None) is None
    assert parent_problem("district", "420102", "420100", "district") == "a district has no parent"


def test_income_adds_placement_wages_and_divides_by_active_members_half_up() -> None:
    income = HouseholdIncome(Decimal("300.00"), Decimal("2000.05"))
    assert income.monthly == Decimal("2300.05")
    assert income.per_capita(2) == Decimal("1150.03")  # 1150.025 rounds half-up
    assert income.per_capita(0) is None


def work(born: date, sex: str = "male", ability: str = "full", status: str = "unemployed") -> MemberWork:
    return MemberWork(born, sex, ability, status)  # type: ignore[arg-type]


def test_zero_employment_needs_a_working_age_member_able_to_work_and_nobody_employed() -> None:
    assert is_zero_employment([work(date(1980, 1, 1))], ON, DEFAULT_PARAMETERS) is True
    assert (
        is_zero_employment([work(date(1980, 1, 1)), work(date(1985, 1, 1), status="employed")], ON, DEFAULT_PARAMETERS)
        is False
    )
    assert is_zero_employment([work(date(1980, 1, 1), ability="none")], ON, DEFAULT_PARAMETERS) is False
    assert is_zero_employment([work(date(2011, 1, 1))], ON, DEFAULT_PARAMETERS) is False  # 15: not working age
    # A woman of 56 is past the default retirement age (55) ...
    assert is_zero_employment([work(date(1970, 1, 1), sex="female")], ON, DEFAULT_PARAMETERS) is False
    # ... but not once the district raises it (the reform), read from the parameters in force.
    raised = Parameters(retirement_age=RetirementAge(male=63, female=58))
    assert is_zero_employment([work(date(1970, 1, 1), sex="female")], ON, raised) is True
