from datetime import date
from decimal import Decimal

import pytest

from uplift.metrics.domain.facts import (
    DEFAULT_VISIT_INTERVAL_DAYS,
    CommunityChange,
    ExitReason,
    Facts,
    FundBudget,
    HelperAssignment,
    HelperKind,
    HouseholdFacts,
    HouseholdStatus,
    StatusChange,
    VisitIntervalVersion,
)

ENROLLED, TRANSITION, EXITED = HouseholdStatus.ENROLLED, HouseholdStatus.TRANSITION, HouseholdStatus.EXITED


def household(**overrides: object) -> HouseholdFacts:
    fields: dict[str, object] = {
        "household_id": "h1",
        "cohort": "2026-1",
        "street_code": "420102001",
        "community_code": "420102001001",
        "enrolled_on": date(2026, 1, 10),
    }
    fields.update(overrides)
    return HouseholdFacts(**fields)  # type: ignore[arg-type]


def test_status_is_none_before_enrolment_and_enrolled_from_the_enrolment_day() -> None:
    h = household()
    assert h.status_on(date(2026, 1, 9)) is None
    assert h.status_on(date(2026, 1, 10)) is ENROLLED
    assert h.in_programme_on(date(2026, 1, 10))


def test_status_follows_the_history_and_same_day_changes_keep_their_stored_order() -> None:
    h = household(
        status_history=[
            StatusChange(date(2026, 5, 1), EXITED, ExitReason.EMPLOYMENT, date(2029, 5, 1)),
            StatusChange(date(2026, 2, 1), TRANSITION),
            StatusChange(date(2026, 3, 1), ENROLLED),  # transition cancelled
            StatusChange(date(2026, 3, 1), TRANSITION),  # and started again the same day
        ]
    )
    assert h.status_on(date(2026, 1, 31)) is ENROLLED
    assert h.status_on(date(2026, 2, 1)) is TRANSITION
    assert h.status_on(date(2026, 3, 1)) is TRANSITION
    assert h.status_on(date(2026, 4, 30)) is TRANSITION
    assert h.status_on(date(2026, 5, 1)) is EXITED
    assert not h.in_programme_on(date(2026, 5, 1))


@pytest.mark.parametrize(
    ("reason", "lifted"),
    [
        (ExitReason.EMPLOYMENT, True),
        (ExitReason.SUBSTITUTE_SUPPORT, True),
        (ExitReason.POLICY_SUPPORT, True),
        (ExitReason.INCOME_ABOVE_LINE, True),
        (ExitReason.MOVED_AWAY, False),
        (ExitReason.DECEASED, False),
        (ExitReason.OTHER, False),
    ],
)
def test_only_the_four_脱贫_reasons_count_as_lifted(reason: ExitReason, lifted: bool) -> None:
    h = household(status_history=[StatusChange(date(2026, 5, 1), EXITED, reason, date(2029, 5, 1))])
    assert h.exited_lifted_on(date(2026, 5, 1)) is lifted
    assert h.exited_lifted_on(date(2026, 4, 30)) is False


def test_monitoring_lasts_through_monitoring_until_and_ends_with_a_relapse() -> None:
    h = household(
        status_history=[
            StatusChange(date(2026, 5, 1), EXITED, ExitReason.POLICY_SUPPORT, date(2029, 5, 1)),
            StatusChange(date(2029, 6, 1), ENROLLED),
        ]
    )
    assert h.under_monitoring_on(date(2026, 5, 1))
    assert h.under_monitoring_on(date(2029, 5, 1))
    assert not h.under_monitoring_on(date(2029, 5, 2))
    assert not h.under_monitoring_on(date(2026, 4, 30))
    moved = household(status_history=[StatusChange(date(2026, 5, 1), EXITED, ExitReason.MOVED_AWAY, None)])
    assert not moved.under_monitoring_on(date(2026, 6, 1))


def test_a_helper_is_active_from_the_end_of_its_assignment_day_until_its_release_day() -> None:
    first = HelperAssignment(HelperKind.CADRE, "c1", "D1", date(2026, 2, 1), date(2026, 4, 1))
    second = HelperAssignment(HelperKind.BRANCH, "b7", None, date(2026, 4, 1))
    h = household(helper_assignments=[second, first])
    assert h.helper_on(date(2026, 1, 31)) is None
    assert h.helper_on(date(2026, 2, 1)) == first
    assert h.helper_on(date(2026, 3, 31)) == first
    assert h.helper_on(date(2026, 4, 1)) == second
    assert h.paired_with_department_on("D1", date(2026, 3, 31))
    assert not h.paired_with_department_on("D1", date(2026, 4, 1))
    assert h.ever_paired_with_department_by("D1", date(2026, 12, 31))
    assert not h.ever_paired_with_department_by("D1", date(2026, 1, 31))


def test_a_pairing_released_the_day_it_was_made_was_never_active_at_a_day_end() -> None:
    h = household(
        helper_assignments=[HelperAssignment(HelperKind.CADRE, "c1", "D1", date(2026, 2, 1), date(2026, 2, 1))]
    )
    assert h.helper_on(date(2026, 2, 1)) is None
    assert h.ever_paired_with_department_by("D1", date(2026, 2, 1))


def test_community_on_a_date_follows_the_moves() -> None:
    h = household(
        community_code="420102002003",
        street_code="420102002",
        community_history=[
            CommunityChange(date(2026, 1, 10), "420102001001"),
            CommunityChange(date(2026, 6, 15), "420102002003"),
        ],
    )
    assert h.community_on(date(2026, 6, 14)) == "420102001001"
    assert h.community_on(date(2026, 6, 15)) == "420102002003"
    assert h.community_on(date(2025, 1, 1)) == "420102001001"
    assert household().community_on(date(2030, 1, 1)) == "420102001001"


def test_the_visit_interval_is_the_version_in_force_with_the_built_in_default_before_the_first() -> None:
    facts = Facts(
        visit_intervals=[
            VisitIntervalVersion(date(2026, 7, 1), 14),
            VisitIntervalVersion(date(2026, 3, 1), 21),
        ]
    )
    assert facts.visit_interval_on(date(2026, 2, 28)) == DEFAULT_VISIT_INTERVAL_DAYS == 30
    assert facts.visit_interval_on(date(2026, 3, 1)) == 21
    assert facts.visit_interval_on(date(2026, 12, 31)) == 14
    with pytest.raises(ValueError, match="at least 1"):
        VisitIntervalVersion(date(2026, 1, 1), 0)


def test_facts_find_households_and_budgets() -> None:
    facts = Facts(
        households=[household()],
        fund_budgets=[FundBudget(2026, Decimal("3000000.00")), FundBudget(2026, Decimal("3500000.00"))],
    )
    assert facts.household("h1") is not None
    assert facts.household("nope") is None
    assert facts.household(None) is None
    assert facts.supplementary_budget(2026) == Decimal("3500000.00")
    assert facts.supplementary_budget(2025) is None
