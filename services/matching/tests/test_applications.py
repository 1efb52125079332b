from datetime import date

import pytest

from uplift.matching.domain.applications import (
    ApplicationStatus,
    IllegalTransition,
    RetentionNotDue,
    add_months,
    allowed_transitions,
    transition,
)

S = ApplicationStatus
STARTED = date(2026, 3, 16)


def test_an_application_walks_the_whole_pipeline() -> None:
    status = S.RECOMMENDED
    status = transition(status, "applied", on=date(2026, 3, 2))
    status = transition(status, "interviewed", on=date(2026, 3, 9))
    status = transition(status, "hired", on=date(2026, 3, 12), started_on=STARTED)
    status = transition(status, "retained_3m", on=date(2026, 6, 16), started_on=STARTED)
    status = transition(status, "retained_6m", on=date(2026, 9, 16), started_on=STARTED)
    status = transition(status, "left", on=date(2027, 1, 4), started_on=STARTED)
    assert status is S.LEFT


def test_skipping_a_step_is_illegal_and_names_the_allowed_ones() -> None:
    with pytest.raises(IllegalTransition) as raised:
        transition(S.RECOMMENDED, S.HIRED, on=date(2026, 3, 2))
    assert raised.value.current is S.RECOMMENDED
    assert raised.value.to is S.HIRED
    assert raised.value.allowed == (S.APPLIED, S.REJECTED, S.WITHDRAWN)
    assert "applied, rejected, withdrawn" in str(raised.value)


@pytest.mark.parametrize("ended", [S.REJECTED, S.WITHDRAWN, S.LEFT])
def test_an_ended_application_goes_nowhere(ended: ApplicationStatus) -> None:
    with pytest.raises(IllegalTransition) as raised:
        transition(ended, S.APPLIED, on=date(2026, 3, 2))
    assert raised.value.allowed == ()
    assert "closed" in str(raised.value)


@pytest.mark.parametrize("before_hire", [S.RECOMMENDED, S.APPLIED, S.INTERVIEWED])
def test_rejection_and_withdrawal_end_an_application_before_hire(before_hire: ApplicationStatus) -> None:
    assert transition(before_hire, S.REJECTED, on=date(2026, 3, 2)) is S.REJECTED
    assert transition(before_hire, S.WITHDRAWN, on=date(2026, 3, 2)) is S.WITHDRAWN
    with pytest.raises(IllegalTransition):
        transition(before_hire, S.LEFT, on=date(2026, 3, 2), started_on=date(2026, 3, 1))


@pytest.mark.parametrize("placed", [S.HIRED, S.RETAINED_3M, S.RETAINED_6M])
def test_a_placement_can_end_from_hired_or_retained(placed: ApplicationStatus) -> None:
    assert transition(placed, S.LEFT, on=date(2026, 4, 1), started_on=STARTED) is S.LEFT
    with pytest.raises(IllegalTransition):
        transition(placed, S.WITHDRAWN, on=date(2026, 4, 1), started_on=STARTED)


def test_three_month_retention_cannot_be_recorded_a_day_early() -> None:
    with pytest.raises(RetentionNotDue) as raised:
        transition(S.HIRED, S.RETAINED_3M, on=date(2026, 6, 15), started_on=STARTED)
    assert raised.value.due_on == date(2026, 6, 16)
    assert raised.value.allowed == (S.LEFT,)  # what can be recorded on that day
    assert isinstance(raised.value, IllegalTransition)  # also a 409
    assert transition(S.HIRED, S.RETAINED_3M, on=date(2026, 6, 16), started_on=STARTED) is S.RETAINED_3M


def test_six_month_retention_counts_from_the_start_not_from_the_three_month_step() -> None:
    with pytest.raises(RetentionNotDue) as raised:
        transition(S.RETAINED_3M, S.RETAINED_6M, on=date(2026, 9, 15), started_on=STARTED)
    assert raised.value.due_on == date(2026, 9, 16)
    assert transition(S.RETAINED_3M, S.RETAINED_6M, on=date(2026, 9, 16), started_on=STARTED) is S.RETAINED_6M


def test_retention_due_dates_clamp_to_the_month_end() -> None:
    with pytest.raises(RetentionNotDue) as raised:
        transition(S.HIRED, S.RETAINED_3M, on=date(2026, 2, 27), started_on=date(2025, 11, 30))
    assert raised.value.due_on == date(2026, 2, 28)
    assert transition(S.HIRED, S.RETAINED_3M, on=date(2026, 2, 28), started_on=date(2025, 11, 30))


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 8, 31), 3, date(2026, 11, 30)),
        (date(2023, 11, 30), 3, date(2024, 2, 29)),  # leap year
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2026, 1, 15), 12, date(2027, 1, 15)),
        (date(2026, 10, 31), 3, date(2027, 1, 31)),
    ],
)
def test_add_months(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_retention_and_leaving_need_the_start_date() -> None:
    with pytest.raises(ValueError, match="started_on"):
        transition(S.HIRED, S.RETAINED_3M, on=date(2026, 9, 1))
    with pytest.raises(ValueError, match="before the placement started"):
        transition(S.HIRED, S.LEFT, on=date(2026, 3, 1), started_on=STARTED)


def test_unknown_status_names_are_refused() -> None:
    with pytest.raises(ValueError):
        transition("recommended", "promoted", on=date(2026, 3, 2))


def test_allowed_transitions_on_a_date_hide_retention_steps_not_yet_due() -> None:
    assert allowed_transitions(S.HIRED) == (S.RETAINED_3M, S.LEFT)
    assert allowed_transitions(S.HIRED, on=date(2026, 5, 1), started_on=STARTED) == (S.LEFT,)
    assert allowed_transitions(S.HIRED, on=date(2026, 7, 1), started_on=STARTED) == (S.RETAINED_3M, S.LEFT)
