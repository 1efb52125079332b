from datetime import date
from decimal import Decimal

import pytest

from uplift.registry.domain.lifecycle import (
    ExitReason,
    HouseholdExited,
    HouseholdFacts,
    HouseholdLifecycle,
    HouseholdRelapsed,
    HouseholdStatus,
    IllegalTransition,
    InvalidDecision,
    LifecycleAction,
    StatusChange,
    TransitionCancelled,
    TransitionPeriod,
    TransitionStarted,
    enrolment,
    per_capita_income,
    status_on,
)
from uplift.registry.domain.parameters import DEFAULT_PARAMETERS, Parameters

PARAMS = DEFAULT_PARAMETERS
ENROLLED = HouseholdLifecycle()


def in_transition(starts_on: date = date(2026, 3, 10), ends_on: date = date(2026, 9, 10)) -> HouseholdLifecycle:
    return HouseholdLifecycle(HouseholdStatus.TRANSITION, TransitionPeriod(starts_on, ends_on))


def exited(reason: ExitReason, exited_on: date = date(2026, 9, 10)) -> HouseholdLifecycle:
    return ENROLLED.exit(reason, exited_on, ["p1"], PARAMS).state


@pytest.mark.parametrize(
    ("income", "members", "expected"),
    [
        ("1000.00", 3, "333.33"),
        ("2000.00", 3, "666.67"),
        ("0.05", 2, "0.03"),  # half-up, not banker's rounding
        ("0.25", 10, "0.03"),
        ("2700.00", 3, "900.00"),
    ],
)
def test_per_capita_income_rounds_half_up_to_the_cent(income: str, members: int, expected: str) -> None:
    assert per_capita_income(Decimal(income), members) == Decimal(expected)


def test_per_capita_income_needs_a_member() -> None:
    with pytest.raises(ValueError):
        per_capita_income(Decimal("100.00"), 0)


def test_a_hire_that_lifts_income_above_the_line_starts_the_transition_on_the_change_date() -> None:
    facts = HouseholdFacts(monthly_income=Decimal("2703.00"), active_members=3, has_active_placement=True)
    decision = ENROLLED.recheck_transition(facts, PARAMS, change_date=date(2026, 3, 10))
    assert decision is not None
    assert decision.state.status is HouseholdStatus.TRANSITION
    assert decision.state.transition == TransitionPeriod(date(2026, 3, 10), date(2026, 9, 10))
    assert decision.event == TransitionStarted(date(2026, 3, 10), date(2026, 9, 10))
    assert decision.event.type == "registry.household.transition_started.v1"
    assert decision.change == StatusChange(
        date(2026, 3, 10), LifecycleAction.START_TRANSITION, HouseholdStatus.ENROLLED, HouseholdStatus.TRANSITION
    )


def test_transition_end_clamps_to_the_last_day_of_the_target_month() -> None:
    facts = HouseholdFacts(Decimal("3000.00"), 3, True)
    decision = ENROLLED.recheck_transition(facts, PARAMS, change_date=date(2026, 8, 31))
    assert decision is not None and decision.state.transition is not None
    assert decision.state.transition.ends_on == date(2027, 2, 28)


def test_transition_length_comes_from_the_parameters() -> None:
    params = Parameters(transition_months=3)
    decision = ENROLLED.recheck_transition(HouseholdFacts(Decimal("3000.00"), 3, True), params, date(2026, 11, 30))
    assert decision is not None and decision.state.transition is not None
    assert decision.state.transition.ends_on == date(2027, 2, 28)


@pytest.mark.parametrize(
    "facts",
    [
        HouseholdFacts(Decimal("2700.00"), 3, True),  # exactly the line: not above it
        HouseholdFacts(Decimal("3000.00"), 3, False),  # above the line, but no member in an active placement
        HouseholdFacts(Decimal("3000.00"), 0, True),  # no active member: per-capita undefined
    ],
)
def test_no_transition_without_income_above_the_line_and_an_active_placement(facts: HouseholdFacts) -> None:
    assert ENROLLED.recheck_transition(facts, PARAMS, date(2026, 3, 10)) is None


def test_income_falling_back_to_the_line_cancels_the_transition() -> None:
    decision = in_transition().recheck_transition(
        HouseholdFacts(Decimal("2700.00"), 3, False), PARAMS, date(2026, 5, 2)
    )
    assert decision is not None
    assert decision.state == HouseholdLifecycle()
    assert decision.event == TransitionCancelled(date(2026, 5, 2), "income_at_or_below_line")
    assert decision.change.to_status is HouseholdStatus.ENROLLED


def test_a_transition_with_income_still_above_the_line_continues() -> None:
    household = in_transition()
    assert household.recheck_transition(HouseholdFacts(Decimal("2703.00"), 3, False), PARAMS, date(2026, 5, 2)) is None


def test_an_operator_can_cancel_a_transition() -> None:
    decision = in_transition().cancel_transition(date(2026, 4, 1))
    assert decision.state.status is HouseholdStatus.ENROLLED
    assert decision.event == TransitionCancelled(date(2026, 4, 1), "operator")


def test_cancelling_a_transition_that_does_not_exist_names_the_allowed_actions() -> None:
    with pytest.raises(IllegalTransition) as refused:
        ENROLLED.cancel_transition(date(2026, 4, 1))
    assert refused.value.current is HouseholdStatus.ENROLLED
    assert refused.value.action is LifecycleAction.CANCEL_TRANSITION
    assert refused.value.allowed_actions == (LifecycleAction.START_TRANSITION, LifecycleAction.EXIT)


def test_the_scheduler_exits_for_employment_on_ends_on_and_not_before() -> None:
    household = in_transition()
    assert household.end_transition_if_due(date(2026, 9, 9), PARAMS, ["p1"]) is None
    decision = household.end_transition_if_due(date(2026, 9, 10), PARAMS, ["p1"])
    assert decision is not None
    assert decision.event == HouseholdExited(ExitReason.EMPLOYMENT, date(2026, 9, 10), date(2029, 9, 10), ("p1",))
    assert decision.state.exit_record is not None
    assert decision.state.exit_record.previous_status is HouseholdStatus.TRANSITION


def test_a_scheduler_that_missed_days_still_dates_the_exit_on_ends_on() -> None:
    decision = in_transition().end_transition_if_due(date(2026, 9, 14), PARAMS)
    assert decision is not None and decision.state.exit_record is not None
    assert decision.state.exit_record.exited_on == date(2026, 9, 10)


def test_the_scheduler_leaves_households_not_in_transition_alone() -> None:
    assert ENROLLED.end_transition_if_due(date(2030, 1, 1), PARAMS) is None


@pytest.mark.parametrize(
    ("reason", "monitoring_until"),
    [
        (ExitReason.EMPLOYMENT, date(2029, 2, 28)),
        (ExitReason.SUBSTITUTE_SUPPORT, date(2029, 2, 28)),
        (ExitReason.POLICY_SUPPORT, date(2029, 2, 28)),
        (ExitReason.INCOME_ABOVE_LINE, date(2029, 2, 28)),
        (ExitReason.MOVED_AWAY, None),
        (ExitReason.DECEASED, None),
        (ExitReason.OTHER, None),
    ],
)
def test_only_the_four_lifted_out_reasons_start_monitoring(reason: ExitReason, monitoring_until: date | None) -> None:
    decision = ENROLLED.exit(reason, date(2026, 2, 28), [], PARAMS)
    assert decision.state.status is HouseholdStatus.EXITED
    assert isinstance(decision.event, HouseholdExited)
    assert decision.event.monitoring_until == monitoring_until
    assert decision.event.employed_person_ids == ()


def test_monitoring_from_a_29_february_exit_ends_on_28_february() -> None:
    decision = ENROLLED.exit(ExitReason.EMPLOYMENT, date(2028, 2, 29), ["p1", "p1", "p2"], PARAMS)
    assert isinstance(decision.event, HouseholdExited)
    assert decision.event.monitoring_until == date(2031, 2, 28)
    assert decision.event.employed_person_ids == ("p1", "p2")


def test_an_exited_household_cannot_exit_again() -> None:
    with pytest.raises(IllegalTransition) as refused:
        exited(ExitReason.EMPLOYMENT).exit(ExitReason.OTHER, date(2026, 10, 1), [], PARAMS)
    assert refused.value.allowed_actions == (LifecycleAction.UNDO_EXIT, LifecycleAction.RELAPSE)
    assert "undo_exit, relapse" in str(refused.value)


def test_undoing_an_exit_returns_to_the_transition_it_left() -> None:
    household = in_transition()
    after_exit = household.exit(ExitReason.POLICY_SUPPORT, date(2026, 6, 1), [], PARAMS).state
    decision = after_exit.undo_exit(date(2026, 7, 1), PARAMS)  # the 30th day after the exit
    assert decision.state == household
    assert decision.change.to_status is HouseholdStatus.TRANSITION
    assert decision.event.type == "registry.household.exit_undone.v1"


def test_an_exit_cannot_be_undone_after_the_window() -> None:
    after_exit = exited(ExitReason.OTHER, date(2026, 6, 1))
    with pytest.raises(IllegalTransition, match="until 2026-07-01"):
        after_exit.undo_exit(date(2026, 7, 2), PARAMS)


def test_undo_window_comes_from_the_parameters() -> None:
    after_exit = exited(ExitReason.OTHER, date(2026, 6, 1))
    assert (
        after_exit.undo_exit(date(2026, 7, 11), Parameters(undo_exit_days=40)).state.status is HouseholdStatus.ENROLLED
    )


def test_a_relapse_within_monitoring_returns_the_household_to_enrolled_as_relapsed() -> None:
    decision = exited(ExitReason.EMPLOYMENT, date(2026, 9, 10)).relapse("illness", date(2029, 9, 10))
    assert decision.state == HouseholdLifecycle(HouseholdStatus.ENROLLED, relapsed=True)
    assert decision.event == HouseholdRelapsed("illness", date(2029, 9, 10))
    assert decision.change.reason == "illness"


def test_a_relapse_after_monitoring_ended_is_refused() -> None:
    with pytest.raises(IllegalTransition, match="monitoring ended on 2029-09-10"):
        exited(ExitReason.EMPLOYMENT, date(2026, 9, 10)).relapse("illness", date(2029, 9, 11))


def test_only_a_household_lifted_out_of_poverty_can_relapse() -> None:
    with pytest.raises(IllegalTransition, match="moved_away"):
        exited(ExitReason.MOVED_AWAY).relapse("illness", date(2026, 10, 1))


def test_an_enrolled_household_cannot_relapse() -> None:
    with pytest.raises(IllegalTransition) as refused:
        ENROLLED.relapse("illness", date(2026, 10, 1))
    assert refused.value.allowed_actions == (LifecycleAction.START_TRANSITION, LifecycleAction.EXIT)


def test_a_relapse_dated_before_the_exit_is_invalid() -> None:
    with pytest.raises(InvalidDecision):
        exited(ExitReason.EMPLOYMENT, date(2026, 9, 10)).relapse("illness", date(2026, 9, 9))


def test_a_household_is_under_monitoring_only_after_a_lifted_out_exit() -> None:
    assert exited(ExitReason.EMPLOYMENT, date(2026, 9, 10)).under_monitoring(date(2029, 9, 10))
    assert not exited(ExitReason.EMPLOYMENT, date(2026, 9, 10)).under_monitoring(date(2029, 9, 11))
    assert not exited(ExitReason.DECEASED).under_monitoring(date(2026, 10, 1))
    assert not ENROLLED.under_monitoring(date(2026, 10, 1))


def test_the_history_answers_the_status_on_a_date() -> None:
    household = ENROLLED
    changes = [enrolment(date(2026, 1, 5))]
    for step in (
        lambda h: h.recheck_transition(HouseholdFacts(Decimal("3000.00"), 3, True), PARAMS, date(2026, 3, 10)),
        lambda h: h.end_transition_if_due(date(2026, 9, 10), PARAMS),
        lambda h: h.relapse("job_lost", date(2027, 2, 1)),
    ):
        decision = step(household)
        assert decision is not None
        household = decision.state
        changes.append(decision.change)
    assert status_on(changes, date(2026, 1, 4)) is None
    assert status_on(changes, date(2026, 3, 9)) is HouseholdStatus.ENROLLED
    assert status_on(changes, date(2026, 3, 10)) is HouseholdStatus.TRANSITION
    assert status_on(changes, date(2026, 12, 31)) is HouseholdStatus.EXITED
    assert status_on(changes, date(2027, 2, 1)) is HouseholdStatus.ENROLLED


def test_a_state_with_inconsistent_parts_cannot_be_built() -> None:
    with pytest.raises(ValueError):
        HouseholdLifecycle(HouseholdStatus.TRANSITION)
    with pytest.raises(ValueError):
        HouseholdLifecycle(HouseholdStatus.EXITED)
