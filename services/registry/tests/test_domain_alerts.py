from datetime import date
from decimal import Decimal

import pytest

from uplift.registry.domain.alerts import (
    AlertKind,
    AlertTrigger,
    HouseholdStanding,
    MedicalClaimFact,
    PensionFacts,
    Severity,
    income_drop,
    job_lost,
    medical_hardship,
    pension_gap,
    relapse_risk,
    visit_overdue,
)
from uplift.registry.domain.lifecycle import HouseholdStatus
from uplift.registry.domain.parameters import DEFAULT_PARAMETERS, Parameters, Sex

PARAMS = DEFAULT_PARAMETERS
MONITORED = HouseholdStanding(HouseholdStatus.EXITED, monitoring_until=date(2029, 9, 10))


# income_drop ------------------------------------------------------------------------------------------


def test_a_drop_of_more_than_30_percent_raises_income_drop() -> None:
    trigger = income_drop(Decimal("2000.00"), Decimal("1399.99"), PARAMS)
    assert trigger is not None
    assert (trigger.kind, trigger.severity) == (AlertKind.INCOME_DROP, Severity.MEDIUM)
    assert trigger.facts["drop_ratio"] == "0.3000"  # 0.300005 shown to 4 places; still above 0.30
    assert trigger.facts["crossed_line"] is False


def test_a_drop_of_exactly_30_percent_above_the_line_is_not_an_alert() -> None:
    assert income_drop(Decimal("2000.00"), Decimal("1400.00"), PARAMS) is None


def test_crossing_down_to_the_line_raises_income_drop_even_for_a_small_drop() -> None:
    trigger = income_drop(Decimal("900.01"), Decimal("900.00"), PARAMS)
    assert trigger is not None
    assert trigger.severity is Severity.HIGH
    assert trigger.facts["crossed_line"] is True
    assert trigger.facts["dibao_line"] == "900.00"


def test_a_small_drop_that_stays_below_the_line_is_not_a_crossing() -> None:
    assert income_drop(Decimal("800.00"), Decimal("700.00"), PARAMS) is None


@pytest.mark.parametrize(("previous", "current"), [(None, "100.00"), ("500.00", "500.00"), ("500.00", "900.00")])
def test_no_income_drop_without_a_previous_value_or_a_fall(previous: str | None, current: str) -> None:
    assert income_drop(Decimal(previous) if previous else None, Decimal(current), PARAMS) is None


def test_the_income_drop_threshold_is_a_parameter() -> None:
    params = Parameters(alert_thresholds={"income_drop_ratio": "0.10"})
    assert income_drop(Decimal("2000.00"), Decimal("1790.00"), params) is not None


# medical_hardship -------------------------------------------------------------------------------------


def claim(claim_id: str, discharged_on: date, out_of_pocket: str, cap_met: bool | None = True) -> MedicalClaimFact:
    return MedicalClaimFact(claim_id, "p1", discharged_on, Decimal(out_of_pocket), cap_met)


def test_out_of_pocket_above_half_a_years_income_raises_medical_hardship() -> None:
    # monthly income 1,000.00 → limit 6,000.00 over the 12 months ending 2026-06-30
    claims = [claim("c1", date(2025, 7, 1), "4000.00"), claim("c2", date(2026, 6, 30), "2000.01")]
    trigger = medical_hardship(claims, Decimal("1000.00"), date(2026, 6, 30), PARAMS)
    assert trigger is not None
    assert trigger.kind is AlertKind.MEDICAL_HARDSHIP
    assert trigger.facts["out_of_pocket_12m"] == "6000.01"
    assert trigger.facts["limit"] == "6000.00"
    assert trigger.facts["window_from"] == "2025-07-01"
    assert trigger.facts["claims"] == ["c1", "c2"]


def test_out_of_pocket_equal_to_the_limit_is_not_hardship() -> None:
    claims = [claim("c1", date(2025, 7, 1), "4000.00"), claim("c2", date(2026, 6, 30), "2000.00")]
    assert medical_hardship(claims, Decimal("1000.00"), date(2026, 6, 30), PARAMS) is None


def test_claims_discharged_before_the_12_month_window_do_not_count() -> None:
    claims = [claim("c1", date(2025, 6, 30), "5000.00"), claim("c2", date(2026, 6, 30), "2000.00")]
    assert medical_hardship(claims, Decimal("1000.00"), date(2026, 6, 30), PARAMS) is None


def test_a_new_claim_over_its_cap_raises_medical_hardship_whatever_the_spending() -> None:
    new = claim("c9", date(2026, 6, 1), "10.00", cap_met=False)
    trigger = medical_hardship([], Decimal("5000.00"), date(2026, 6, 1), PARAMS, new_claim=new)
    assert trigger is not None
    assert trigger.facts["cap_missed_claim_id"] == "c9"
    assert trigger.facts["over_income"] is False


def test_an_old_claim_over_its_cap_does_not_raise_again() -> None:
    old = claim("c1", date(2026, 1, 1), "10.00", cap_met=False)
    new = claim("c2", date(2026, 6, 1), "10.00", cap_met=True)
    assert medical_hardship([old], Decimal("5000.00"), date(2026, 6, 1), PARAMS, new_claim=new) is None


def test_a_claim_with_no_cap_is_not_a_missed_cap() -> None:
    new = claim("c2", date(2026, 6, 1), "10.00", cap_met=None)
    assert medical_hardship([], Decimal("5000.00"), date(2026, 6, 1), PARAMS, new_claim=new) is None


# job_lost ---------------------------------------------------------------------------------------------


def test_a_job_lost_during_transition_or_monitoring_raises_job_lost() -> None:
    transition = HouseholdStanding(HouseholdStatus.TRANSITION)
    assert job_lost(transition, "p1", "pl1", date(2026, 5, 1)) is not None
    trigger = job_lost(MONITORED, "p1", "pl1", date(2029, 9, 10))
    assert trigger is not None and trigger.facts["under_monitoring"] is True


@pytest.mark.parametrize(
    "standing",
    [
        HouseholdStanding(HouseholdStatus.ENROLLED),
        HouseholdStanding(HouseholdStatus.EXITED),  # exited for a reason that is not 脱贫
        MONITORED,  # but the job ended after monitoring
    ],
)
def test_a_job_lost_outside_transition_and_monitoring_is_not_an_alert(standing: HouseholdStanding) -> None:
    assert job_lost(standing, "p1", "pl1", date(2029, 9, 11)) is None


# pension_gap ------------------------------------------------------------------------------------------


def test_members_within_five_years_of_retirement_without_pension_raise_pension_gap() -> None:
    members = [
        PensionFacts("p-woman", date(1976, 6, 1), "female", pension_insured=False),  # 50 on 2026-06-01
        PensionFacts("p-man", date(1966, 6, 2), "male", pension_insured=False),  # 60 on 2026-06-02
        PensionFacts("p-insured", date(1970, 1, 1), "male", pension_insured=True),
    ]
    trigger = pension_gap(members, date(2026, 6, 1), PARAMS)
    assert trigger is not None
    assert trigger.kind is AlertKind.PENSION_GAP
    assert trigger.facts["members"] == [
        {"person_id": "p-man", "retires_on": "2026-06-02", "sex": "male"},
        {"person_id": "p-woman", "retires_on": "2031-06-01", "sex": "female"},
    ]


@pytest.mark.parametrize(
    ("born_on", "sex"),
    [
        (date(1976, 6, 2), "female"),  # 50 tomorrow: not yet within five years
        (date(1971, 6, 1), "female"),  # reached 55 today: retired
        (date(1966, 6, 2), "female"),  # 59: five years past retirement
        (date(1961, 6, 2), "male"),  # 64: past retirement
    ],
)
def test_no_pension_gap_outside_the_five_years_before_retirement(born_on: date, sex: Sex) -> None:
    members = [PensionFacts("p1", born_on, sex, pension_insured=False)]
    assert pension_gap(members, date(2026, 6, 1), PARAMS) is None


def test_pension_gap_follows_a_raised_retirement_age() -> None:
    params = Parameters(retirement_age={"male": 63, "female": 58})
    members = [PensionFacts("p1", date(1966, 1, 1), "male", pension_insured=False)]  # 60: retires at 63 now
    assert pension_gap(members, date(2026, 6, 1), params) is not None


# visit_overdue ----------------------------------------------------------------------------------------


def test_a_visit_exactly_one_interval_ago_is_not_overdue() -> None:
    assert visit_overdue(date(2026, 1, 1), date(2026, 5, 1), date(2026, 5, 31), PARAMS) is None


def test_a_household_without_a_visit_for_longer_than_the_interval_is_overdue() -> None:
    trigger = visit_overdue(date(2026, 1, 1), date(2026, 5, 1), date(2026, 6, 1), PARAMS)
    assert trigger is not None
    assert (trigger.severity, trigger.facts["days_without_visit"]) == (Severity.LOW, 31)


def test_a_household_never_visited_counts_from_its_pairing() -> None:
    trigger = visit_overdue(date(2026, 1, 1), None, date(2026, 3, 15), PARAMS)
    assert trigger is not None
    assert (trigger.severity, trigger.facts["days_without_visit"]) == (Severity.MEDIUM, 73)
    assert visit_overdue(date(2026, 3, 1), date(2025, 1, 1), date(2026, 3, 20), PARAMS) is None


# relapse_risk -----------------------------------------------------------------------------------------


def signal(kind: AlertKind) -> AlertTrigger:
    return AlertTrigger(kind, Severity.MEDIUM, {})


def test_a_relapse_signal_on_a_monitored_household_raises_relapse_risk() -> None:
    trigger = relapse_risk(MONITORED, [signal(AlertKind.JOB_LOST), signal(AlertKind.INCOME_DROP)], date(2027, 1, 1))
    assert trigger is not None
    assert (trigger.kind, trigger.severity) == (AlertKind.RELAPSE_RISK, Severity.HIGH)
    assert trigger.facts["signals"] == ["income_drop", "job_lost"]


def test_other_kinds_and_households_not_monitored_do_not_raise_relapse_risk() -> None:
    assert relapse_risk(MONITORED, [signal(AlertKind.VISIT_OVERDUE)], date(2027, 1, 1)) is None
    enrolled = HouseholdStanding(HouseholdStatus.ENROLLED)
    assert relapse_risk(enrolled, [signal(AlertKind.INCOME_DROP)], date(2027, 1, 1)) is None
    assert relapse_risk(MONITORED, [signal(AlertKind.MEDICAL_HARDSHIP)], date(2029, 9, 11)) is None
