from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uplift.metrics.domain.errors import CohortNotApplicable, IndicatorNotApplicable, UnknownIndicator
from uplift.metrics.domain.facts import (
    LIFTED_EXIT_REASONS,
    Claim,
    CommunityChange,
    ExitReason,
    Facts,
    FundBudget,
    HelperAssignment,
    HelperKind,
    HouseholdFacts,
    HouseholdStatus,
    Measure,
    Placement,
    StatusChange,
    Visit,
    VisitIntervalVersion,
)
from uplift.metrics.domain.indicators import (
    HOUSEHOLD_BASED_INDICATORS,
    INDICATORS,
    IndicatorValue,
    compute_indicator,
    employment_gain_rate,
    exit_rate,
    measure_completion_rate,
    medical_cap_rate,
    pairing_coverage,
    persons_employed,
    ratio,
    relapse_rate,
    retention_6m,
    satisfaction_rate,
    supplementary_fund_used,
    visit_compliance,
)
from uplift.metrics.domain.periods import parse_period
from uplift.metrics.domain.scopes import parse_scope

DISTRICT = parse_scope("420102")
STREET_A, STREET_B = parse_scope("420102001"), parse_scope("420102002")
COMMUNITY_A1, COMMUNITY_A2, COMMUNITY_B1 = "420102001001", "420102001002", "420102002001"
Q2 = parse_period("2026-Q2")  # 2026-04-01..2026-06-30; at the start = end of 2026-03-31


def household(
    household_id: str,
    *,
    enrolled_on: date = date(2026, 1, 10),
    community: str = COMMUNITY_A1,
    cohort: str | None = "2026-1",
    history: Sequence[StatusChange] = (),
    relapses: Sequence[date] = (),
    helpers: Sequence[HelperAssignment] = (),
    moves: Sequence[CommunityChange] = (),
) -> HouseholdFacts:
    return HouseholdFacts(
        household_id=household_id,
        cohort=cohort,
        street_code=community[:9],
        community_code=community,
        enrolled_on=enrolled_on,
        status_history=history,
        relapses=relapses,
        helper_assignments=helpers,
        community_history=moves,
    )


def exited(on: date, reason: ExitReason = ExitReason.EMPLOYMENT) -> StatusChange:
    monitoring_until = on.replace(year=on.year + 3) if reason in LIFTED_EXIT_REASONS else None
    return StatusChange(on, HouseholdStatus.EXITED, reason, monitoring_until)


def back_to_enrolled(on: date) -> StatusChange:
    return StatusChange(on, HouseholdStatus.ENROLLED)


def transition(on: date) -> StatusChange:
    return StatusChange(on, HouseholdStatus.TRANSITION)


def cadre(department: str | None, on: date, off: date | None = None, helper_id: str = "c1") -> HelperAssignment:
    return HelperAssignment(HelperKind.CADRE, helper_id, department, on, off)


def placement(
    placement_id: str,
    household_id: str,
    started_on: date,
    *,
    person_id: str | None = None,
    retained_6m_on: date | None = None,
) -> Placement:
    return Placement(placement_id, person_id or f"p-{placement_id}", household_id, started_on, retained_6m_on)


def visit(visit_id: str, household_id: str, on: date, satisfaction: int | None = None, department: str = "D1") -> Visit:
    return Visit(visit_id, household_id, department, on, satisfaction)


def claim(
    claim_id: str,
    household_id: str | None,
    discharged_on: date,
    cap_met: bool | None,
    *,
    reversed: bool = False,
    supplementary: str = "0.00",
    community: str | None = COMMUNITY_A1,
    policy_year: int | None = None,
) -> Claim:
    return Claim(
        claim_id=claim_id,
        household_id=household_id,
        street_code=None if community is None else community[:9],
        community_code=community,
        discharged_on=discharged_on,
        policy_year=policy_year or discharged_on.year,
        cap_met=cap_met,
        supplementary=Decimal(supplementary),
        reversed=reversed,
    )


def counts(value: IndicatorValue) -> tuple[Decimal | None, int | Decimal, int | Decimal | None]:
    return value.value, value.numerator, value.denominator


# --- the reference figure and exit_rate ---


def reference_cohort() -> list[HouseholdFacts]:
    """3,407 households of cohort 2026-1: 690 exited with 脱贫 reasons, 40 with others, the rest still in."""
    lifted = [
        ExitReason.EMPLOYMENT,
        ExitReason.SUBSTITUTE_SUPPORT,
        ExitReason.POLICY_SUPPORT,
        ExitReason.INCOME_ABOVE_LINE,
    ]
    households = []
    for index in range(3407):
        history: list[StatusChange] = []
        if index < 690:
            history = [exited(date(2026, 9, 1) + timedelta(days=index % 90), lifted[index % 4])]
        elif index < 730:
            history = [exited(date(2026, 10, 1), ExitReason.MOVED_AWAY if index % 2 else ExitReason.DECEASED)]
        community = COMMUNITY_A1 if index % 3 else COMMUNITY_B1
        households.append(household(f"h{index:05d}", community=community, history=history))
    return households


def test_the_reference_cohort_exit_rate_is_0_2025() -> None:
    other_cohort = [
        household(f"x{i}", cohort="2026-2", enrolled_on=date(2026, 6, 1), history=[exited(date(2026, 11, 1))])
        for i in range(100)
    ]
    facts = Facts(households=[*reference_cohort(), *other_cohort])
    year = parse_period("2026")

    in_cohort = exit_rate(facts, DISTRICT, year, cohort="2026-1")

    assert in_cohort == IndicatorValue("exit_rate", "420102", "2026", Decimal("0.2025"), 690, 3407, None)
    assert counts(exit_rate(facts, DISTRICT, year)) == (Decimal("0.2253"), 790, 3507)  # 0.225264…
    assert compute_indicator("exit_rate", facts, DISTRICT, year, cohort="2026-1").value == Decimal("0.2025")


def test_exit_rate_counts_everyone_enrolled_by_the_period_end_whatever_happened_since() -> None:
    facts = Facts(
        households=[
            household("stays"),
            household("exited-in-period", history=[exited(date(2026, 5, 20))]),
            household("exited-before", history=[exited(date(2025, 12, 1))], enrolled_on=date(2025, 3, 1)),
            household("moved-away", history=[exited(date(2026, 5, 1), ExitReason.MOVED_AWAY)]),
            household("exits-after-period", history=[exited(date(2026, 7, 1))]),
            household("enrolled-after-period", enrolled_on=date(2026, 7, 1)),
            household("enrolled-on-last-day", enrolled_on=date(2026, 6, 30)),
        ]
    )
    assert counts(exit_rate(facts, DISTRICT, Q2)) == (Decimal("0.3333"), 2, 6)


def test_a_household_exiting_and_relapsing_in_one_period_is_not_exited_at_the_period_end() -> None:
    h = household(
        "h1",
        history=[exited(date(2026, 4, 10)), back_to_enrolled(date(2026, 5, 20))],
        relapses=[date(2026, 5, 20)],
    )
    facts = Facts(households=[h])
    assert counts(exit_rate(facts, DISTRICT, Q2)) == (Decimal("0.0000"), 0, 1)
    # It was not under monitoring at the start of Q2, so it is not in relapse_rate's denominator either.
    assert counts(relapse_rate(facts, DISTRICT, Q2)) == (None, 0, 0)
    # In April it was exited at the month's end.
    assert counts(exit_rate(facts, DISTRICT, parse_period("2026-04"))) == (Decimal("1.0000"), 1, 1)


def test_a_household_that_moved_counts_where_it_lives_at_the_period_end() -> None:
    moved = household(
        "moved",
        community=COMMUNITY_B1,
        history=[exited(date(2026, 6, 1))],
        moves=[
            CommunityChange(date(2026, 1, 10), COMMUNITY_A2),
            CommunityChange(date(2026, 5, 15), COMMUNITY_B1),
        ],
    )
    stayed = household("stayed", community=COMMUNITY_A2)
    facts = Facts(
        households=[moved, stayed],
        visits=[visit("v1", "moved", date(2026, 4, 2), satisfaction=5)],  # made while it lived in street A
    )
    assert counts(exit_rate(facts, STREET_B, Q2)) == (Decimal("1.0000"), 1, 1)
    assert counts(exit_rate(facts, STREET_A, Q2)) == (Decimal("0.0000"), 0, 1)
    assert counts(exit_rate(facts, parse_scope(COMMUNITY_A2), parse_period("2026-Q1"))) == (
        Decimal("0.0000"),
        0,
        2,
    )
    assert counts(satisfaction_rate(facts, STREET_B, Q2)) == (Decimal("1.0000"), 1, 1)
    assert counts(satisfaction_rate(facts, STREET_A, Q2)) == (None, 0, 0)


# --- employment ---


def test_employment_gain_counts_households_in_the_programme_at_the_start_hired_in_the_period() -> None:
    facts = Facts(
        households=[
            household("hired-twice"),
            household("in-transition", history=[transition(date(2026, 3, 1))]),
            household("not-hired"),
            household("hired-before", community=COMMUNITY_B1),
            household("enrolled-in-period", enrolled_on=date(2026, 4, 1)),
            household("exited-before", history=[exited(date(2026, 3, 31))]),
        ],
        placements=[
            placement("p1", "hired-twice", date(2026, 4, 1), person_id="a"),
            placement("p2", "hired-twice", date(2026, 6, 30), person_id="b"),
            placement("p3", "in-transition", date(2026, 5, 5), person_id="c"),
            placement("p4", "hired-before", date(2026, 3, 31), person_id="d"),
            placement("p5", "enrolled-in-period", date(2026, 4, 2), person_id="e"),
            placement("p6", "exited-before", date(2026, 4, 3), person_id="f"),
            placement("p7", "hired-twice", date(2026, 7, 1), person_id="a"),
        ],
    )
    assert counts(employment_gain_rate(facts, DISTRICT, Q2)) == (Decimal("0.5000"), 2, 4)
    assert counts(employment_gain_rate(facts, STREET_B, Q2)) == (Decimal("0.0000"), 0, 1)


def test_persons_employed_counts_distinct_persons_and_has_no_denominator() -> None:
    facts = Facts(
        households=[household("h1"), household("h2", community=COMMUNITY_B1)],
        placements=[
            placement("p1", "h1", date(2026, 4, 1), person_id="a"),
            placement("p2", "h1", date(2026, 5, 1), person_id="a"),  # same person hired again
            placement("p3", "h1", date(2026, 6, 1), person_id="b"),
            placement("p4", "h2", date(2026, 6, 1), person_id="c"),
            placement("p5", "h1", date(2026, 3, 31), person_id="d"),
        ],
    )
    district = persons_employed(facts, DISTRICT, Q2)
    assert (district.value, district.numerator, district.denominator, district.reason) == (
        Decimal(3),
        3,
        None,
        None,
    )
    assert counts(persons_employed(facts, STREET_A, Q2)) == (Decimal(2), 2, None)
    assert counts(persons_employed(Facts(), DISTRICT, Q2)) == (Decimal(0), 0, None)


def test_retention_6m_counts_placements_whose_six_months_fall_due_in_the_period() -> None:
    august = parse_period("2026-08")  # due window: started 2026-02-01..2026-02-28
    facts = Facts(
        households=[household("h1")],
        placements=[
            placement("first-day", "h1", date(2026, 2, 1), retained_6m_on=date(2026, 8, 1)),
            placement("last-day", "h1", date(2026, 2, 28), retained_6m_on=date(2026, 8, 31)),
            placement("left", "h1", date(2026, 2, 10)),
            placement("recorded-late", "h1", date(2026, 2, 15), retained_6m_on=date(2026, 9, 2)),
            placement("too-early", "h1", date(2026, 1, 31), retained_6m_on=date(2026, 7, 31)),
            placement("too-late", "h1", date(2026, 3, 1)),
        ],
    )
    assert counts(retention_6m(facts, DISTRICT, august)) == (Decimal("0.5000"), 2, 4)
    assert "2026-02-01 to 2026-02-28" in (retention_6m(Facts(), DISTRICT, august).reason or "")


# --- visits and pairing ---


def test_satisfaction_rate_counts_visits_with_four_or_five_among_those_with_a_satisfaction() -> None:
    facts = Facts(
        households=[household("h1")],
        visits=[
            visit("v1", "h1", date(2026, 4, 1), 5),
            visit("v2", "h1", date(2026, 4, 2), 4),
            visit("v3", "h1", date(2026, 4, 3), 3),
            visit("v4", "h1", date(2026, 4, 4), None),
            visit("v5", "h1", date(2026, 3, 31), 1),
            visit("v6", "h1", date(2026, 7, 1), 1),
        ],
    )
    assert counts(satisfaction_rate(facts, DISTRICT, Q2)) == (Decimal("0.6667"), 2, 3)


def test_pairing_coverage_counts_households_in_the_programme_with_a_helper_at_the_period_end() -> None:
    facts = Facts(
        households=[
            household("paired", helpers=[cadre("D1", date(2026, 2, 1))]),
            household("released-on-last-day", helpers=[cadre("D1", date(2026, 2, 1), date(2026, 6, 30))]),
            household(
                "in-transition",
                history=[transition(date(2026, 5, 1))],
                helpers=[cadre("D2", date(2026, 2, 1))],
            ),
            household("unpaired"),
            household(
                "exited",
                history=[exited(date(2026, 5, 1))],
                helpers=[cadre("D1", date(2026, 2, 1), date(2026, 5, 1))],
            ),
        ]
    )
    assert counts(pairing_coverage(facts, DISTRICT, Q2)) == (Decimal("0.5000"), 2, 4)


def test_visit_compliance_counts_paired_households_visited_within_the_interval_ending_at_the_period_end() -> None:
    paired = [cadre("D1", date(2026, 2, 1))]
    facts = Facts(
        households=[
            household("visited-on-day-30", helpers=paired),  # 2026-06-01 is the window's first day
            household("visited-on-day-31", helpers=paired),
            household("visited-on-last-day", helpers=paired),
            household("visited-after", helpers=paired),
            household("unpaired-but-visited"),
        ],
        visits=[
            visit("v1", "visited-on-day-30", date(2026, 6, 1)),
            visit("v2", "visited-on-day-31", date(2026, 5, 31)),
            visit("v3", "visited-on-last-day", date(2026, 6, 30)),
            visit("v4", "visited-after", date(2026, 7, 1)),
            visit("v5", "unpaired-but-visited", date(2026, 6, 10)),
        ],
    )
    assert counts(visit_compliance(facts, DISTRICT, Q2)) == (Decimal("0.5000"), 2, 4)


def test_visit_compliance_uses_the_interval_in_force_at_the_period_end() -> None:
    paired = [cadre("D1", date(2026, 2, 1))]
    facts = Facts(
        households=[household("h1", helpers=paired), household("h2", helpers=paired)],
        visits=[visit("v1", "h1", date(2026, 6, 17)), visit("v2", "h2", date(2026, 6, 16))],
        visit_intervals=[
            VisitIntervalVersion(date(2026, 6, 1), 14),
            VisitIntervalVersion(date(2026, 7, 1), 60),
        ],
    )
    assert counts(visit_compliance(facts, DISTRICT, Q2)) == (Decimal("0.5000"), 1, 2)


# --- relapse ---


def test_relapse_rate_counts_relapses_among_households_monitored_at_the_period_start() -> None:
    facts = Facts(
        households=[
            household(
                "relapsed",
                history=[exited(date(2025, 9, 1)), back_to_enrolled(date(2026, 5, 1))],
                relapses=[date(2026, 5, 1)],
                enrolled_on=date(2025, 1, 5),
            ),
            household(
                "monitored",
                history=[exited(date(2025, 9, 1), ExitReason.POLICY_SUPPORT)],
                enrolled_on=date(2025, 1, 5),
            ),
            household(
                "relapsed-after",
                history=[exited(date(2025, 9, 1)), back_to_enrolled(date(2026, 7, 1))],
                relapses=[date(2026, 7, 1)],
                enrolled_on=date(2025, 1, 5),
            ),
            household("exited-on-start-day", history=[exited(date(2026, 4, 1))]),
            household("exited-on-eve", history=[exited(date(2026, 3, 31))]),
            household(
                "moved-away",
                history=[exited(date(2025, 9, 1), ExitReason.MOVED_AWAY)],
                enrolled_on=date(2025, 1, 5),
            ),
            household(
                "monitoring-over",
                history=[
                    StatusChange(date(2022, 3, 1), HouseholdStatus.EXITED, ExitReason.EMPLOYMENT, date(2025, 3, 1))
                ],
                enrolled_on=date(2021, 1, 5),
            ),
            household("never-exited"),
        ]
    )
    assert counts(relapse_rate(facts, DISTRICT, Q2)) == (Decimal("0.2500"), 1, 4)


# --- medical ---


def test_medical_cap_rate_counts_settled_claims_with_a_known_cap_discharged_in_the_period() -> None:
    facts = Facts(
        households=[household("h1"), household("h2", community=COMMUNITY_B1)],
        claims=[
            claim("met", "h1", date(2026, 4, 1), True),
            claim("not-met", "h1", date(2026, 6, 30), False),
            claim("met-reversed", "h1", date(2026, 5, 1), True, reversed=True),
            claim("outside-categories", "h1", date(2026, 5, 1), None),
            claim("discharged-before", "h1", date(2026, 3, 31), True),
            claim("other-street", "h2", date(2026, 5, 1), True),
            # The projection does not know this household: the claim's own community decides.
            claim("unknown-household", "h9", date(2026, 5, 1), True, community=COMMUNITY_A2),
        ],
    )
    assert counts(medical_cap_rate(facts, DISTRICT, Q2)) == (Decimal("0.7500"), 3, 4)
    assert counts(medical_cap_rate(facts, STREET_A, Q2)) == (Decimal("0.6667"), 2, 3)
    assert counts(medical_cap_rate(facts, STREET_B, Q2)) == (Decimal("1.0000"), 1, 1)


def test_supplementary_fund_used_is_the_years_supplementary_over_its_budget() -> None:
    facts = Facts(
        claims=[
            claim("c1", "h1", date(2026, 3, 1), True, supplementary="324.00"),
            claim("c2", "h1", date(2026, 11, 1), True, supplementary="600000.00"),
            claim("c3", "h1", date(2026, 5, 1), True, supplementary="1000.00", reversed=True),
            claim("c4", "h1", date(2025, 12, 31), True, supplementary="50000.00"),
        ],
        fund_budgets=[FundBudget(2026, Decimal("3000000.00")), FundBudget(2025, Decimal("0.00"))],
    )
    used = supplementary_fund_used(facts, DISTRICT, parse_period("2026"))
    assert counts(used) == (Decimal("0.2001"), Decimal("600324.00"), Decimal("3000000.00"))
    zero_budget = supplementary_fund_used(facts, DISTRICT, parse_period("2025"))
    assert counts(zero_budget) == (None, Decimal("50000.00"), Decimal("0.00"))
    assert zero_budget.reason == "the supplementary budget for 2025 is 0.00"
    unknown_budget = supplementary_fund_used(facts, DISTRICT, parse_period("2024"))
    assert unknown_budget.value is None and unknown_budget.reason == "no supplementary budget recorded for 2024"


@pytest.mark.parametrize(
    ("scope", "period", "field"), [("420102001", "2026", "scope"), ("420102", "2026-Q1", "period")]
)
def test_supplementary_fund_used_is_defined_for_the_district_and_years_only(
    scope: str, period: str, field: str
) -> None:
    with pytest.raises(IndicatorNotApplicable) as raised:
        supplementary_fund_used(Facts(), parse_scope(scope), parse_period(period))
    assert raised.value.field == field


# --- department scope ---


def department_facts() -> Facts:
    return Facts(
        households=[
            # Paired with D1 until May, then with D2: D1 counts it "at any time", D2 "at the end" too.
            household(
                "moved-to-d2",
                history=[exited(date(2026, 6, 20))],
                helpers=[
                    cadre("D1", date(2026, 2, 1), date(2026, 5, 1)),
                    cadre("D2", date(2026, 5, 1), date(2026, 6, 20), "c2"),
                ],
            ),
            household("with-d1", helpers=[cadre("D1", date(2026, 2, 1))]),
            household("d1-after-period", helpers=[cadre("D1", date(2026, 7, 1))]),
            household(
                "branch-of-community",
                helpers=[HelperAssignment(HelperKind.BRANCH, "b1", None, date(2026, 2, 1))],
            ),
        ],
        visits=[
            visit("v1", "with-d1", date(2026, 6, 15), 5, department="D1"),
            visit("v2", "moved-to-d2", date(2026, 6, 1), 2, department="D2"),
            visit("v3", "moved-to-d2", date(2026, 4, 1), 4, department="D1"),
        ],
        measures=[
            Measure("m1", "with-d1", "D1", date(2026, 5, 1), date(2026, 4, 20)),
            Measure("m2", "with-d1", "D1", date(2026, 6, 1), date(2026, 7, 2)),  # completed after the period
            Measure("m3", "moved-to-d2", "D2", date(2026, 6, 1), date(2026, 6, 1)),
            Measure("m4", "with-d1", "D1", date(2026, 7, 1)),
        ],
    )


def test_department_exit_rate_holds_households_paired_with_it_at_any_time_by_the_period_end() -> None:
    facts = department_facts()
    assert counts(exit_rate(facts, parse_scope("department:D1"), Q2)) == (Decimal("0.5000"), 1, 2)
    assert counts(exit_rate(facts, parse_scope("department:D2"), Q2)) == (Decimal("1.0000"), 1, 1)
    assert counts(exit_rate(facts, parse_scope("department:D9"), Q2)) == (None, 0, 0)


def test_department_pairing_and_visits_hold_households_paired_with_it_at_the_period_end() -> None:
    facts = department_facts()
    d1, d2 = parse_scope("department:D1"), parse_scope("department:D2")
    assert counts(pairing_coverage(facts, d1, Q2)) == (Decimal("1.0000"), 1, 1)
    assert counts(visit_compliance(facts, d1, Q2)) == (Decimal("1.0000"), 1, 1)
    # moved-to-d2 was released when it exited, so D2 holds no household at the end of Q2.
    assert counts(pairing_coverage(facts, d2, Q2)) == (None, 0, 0)
    assert counts(visit_compliance(facts, d2, parse_period("2026-06-01..2026-06-10"))) == (
        Decimal("1.0000"),
        1,
        1,
    )


def test_department_visits_and_measures_are_those_made_by_its_helpers() -> None:
    facts = department_facts()
    d1, d2 = parse_scope("department:D1"), parse_scope("department:D2")
    assert counts(satisfaction_rate(facts, d1, Q2)) == (Decimal("1.0000"), 2, 2)
    assert counts(satisfaction_rate(facts, d2, Q2)) == (Decimal("0.0000"), 0, 1)
    assert counts(measure_completion_rate(facts, d1, Q2)) == (Decimal("0.5000"), 1, 2)
    assert counts(measure_completion_rate(facts, d2, Q2)) == (Decimal("1.0000"), 1, 1)
    assert counts(measure_completion_rate(facts, STREET_A, Q2)) == (Decimal("0.6667"), 2, 3)


# --- cohort, empty denominators, catalogue ---


def test_cohort_restricts_household_based_indicators_to_one_enrolment_cohort() -> None:
    paired = [cadre("D1", date(2026, 2, 1))]
    facts = Facts(
        households=[
            household("a", cohort="2026-1", helpers=paired),
            household("b", cohort="2026-2", enrolled_on=date(2026, 3, 1)),
        ],
        visits=[visit("v1", "a", date(2026, 6, 20))],
    )
    assert counts(pairing_coverage(facts, DISTRICT, Q2)) == (Decimal("0.5000"), 1, 2)
    assert counts(pairing_coverage(facts, DISTRICT, Q2, cohort="2026-1")) == (Decimal("1.0000"), 1, 1)
    assert counts(compute_indicator("pairing_coverage", facts, DISTRICT, Q2, cohort="2026-2")) == (
        Decimal("0.0000"),
        0,
        1,
    )
    assert counts(compute_indicator("visit_compliance", facts, DISTRICT, Q2, cohort="2026-2")) == (None, 0, 0)
    assert counts(employment_gain_rate(facts, DISTRICT, Q2, cohort="2026-3")) == (None, 0, 0)


@pytest.mark.parametrize("name", [n for n in INDICATORS if n not in HOUSEHOLD_BASED_INDICATORS])
def test_a_cohort_on_an_indicator_that_is_not_household_based_is_refused(name: str) -> None:
    with pytest.raises(CohortNotApplicable) as raised:
        compute_indicator(name, Facts(), DISTRICT, parse_period("2026"), cohort="2026-1")
    assert raised.value.field == "cohort"
    assert name in str(raised.value)


def test_an_unknown_indicator_is_refused() -> None:
    with pytest.raises(UnknownIndicator, match="no indicator named 'happiness'"):
        compute_indicator("happiness", Facts(), DISTRICT, Q2)


@pytest.mark.parametrize("name", [n for n, d in INDICATORS.items() if d.denominator is not None])
def test_an_empty_denominator_gives_a_null_value_with_a_reason(name: str) -> None:
    value = compute_indicator(name, Facts(), DISTRICT, parse_period("2026"))
    assert value.value is None
    assert value.reason
    assert value.numerator == 0


def test_the_catalogue_is_the_section_10_table() -> None:
    assert list(INDICATORS) == [
        "exit_rate",
        "employment_gain_rate",
        "persons_employed",
        "satisfaction_rate",
        "pairing_coverage",
        "visit_compliance",
        "relapse_rate",
        "retention_6m",
        "medical_cap_rate",
        "supplementary_fund_used",
    ]
    assert set(HOUSEHOLD_BASED_INDICATORS) == {
        "exit_rate",
        "employment_gain_rate",
        "pairing_coverage",
        "visit_compliance",
        "relapse_rate",
    }
    assert INDICATORS["exit_rate"].label_zh == "脱贫率"
    assert "÷" in INDICATORS["exit_rate"].definition
    assert INDICATORS["persons_employed"].denominator is None


def test_ratios_round_half_up_to_four_places() -> None:
    assert ratio(1, 20000) == Decimal("0.0001")  # 0.00005: banker's rounding would give 0.0000
    assert ratio(3, 80000) == Decimal("0.0000")  # 0.0000375
    assert ratio(690, 3407) == Decimal("0.2025")
    assert ratio(2, 3) == Decimal("0.6667")
    assert ratio(Decimal("0.45"), Decimal("0.7")) == Decimal("0.6429")


# --- the numerator is always a subset of the denominator ---

DAYS = st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31))


@st.composite
def random_households(draw: st.DrawFn) -> HouseholdFacts:
    index = draw(st.integers(0, 10_000))
    enrolled_on = draw(DAYS)
    history = []
    for on in sorted(draw(st.lists(DAYS, max_size=3))):
        status = draw(st.sampled_from(list(HouseholdStatus)))
        reason = draw(st.sampled_from(list(ExitReason))) if status is HouseholdStatus.EXITED else None
        history.append(StatusChange(on, status, reason, on.replace(year=on.year + 3) if reason else None))
    helpers = [
        cadre(draw(st.sampled_from(["D1", "D2"])), on, draw(st.none() | DAYS))
        for on in draw(st.lists(DAYS, max_size=2))
    ]
    return household(
        f"h{index}",
        enrolled_on=enrolled_on,
        community=draw(st.sampled_from([COMMUNITY_A1, COMMUNITY_A2, COMMUNITY_B1])),
        cohort=draw(st.sampled_from(["2026-1", "2026-2"])),
        history=history,
        relapses=draw(st.lists(DAYS, max_size=2)),
        helpers=helpers,
    )


@settings(max_examples=60, deadline=None)
@given(
    households=st.lists(random_households(), max_size=8, unique_by=lambda h: h.household_id),
    visit_days=st.lists(st.tuples(DAYS, st.none() | st.integers(1, 5)), max_size=6),
    hire_days=st.lists(DAYS, max_size=6),
    period=st.sampled_from(["2026", "2026-Q2", "2025-11", "2026-02-10..2026-05-09"]),
    scope=st.sampled_from(["420102", "420102001", COMMUNITY_B1, "department:D1"]),
)
def test_every_ratio_has_its_numerator_within_its_denominator(
    households: list[HouseholdFacts],
    visit_days: list[tuple[date, int | None]],
    hire_days: list[date],
    period: str,
    scope: str,
) -> None:
    ids = [h.household_id for h in households] or ["h0"]
    facts = Facts(
        households=households,
        visits=[visit(f"v{i}", ids[i % len(ids)], on, s) for i, (on, s) in enumerate(visit_days)],
        placements=[
            placement(f"p{i}", ids[i % len(ids)], on, retained_6m_on=on + timedelta(days=190))
            for i, on in enumerate(hire_days)
        ],
    )
    for name, definition in INDICATORS.items():
        if definition.denominator is None or definition.district_year_only:
            continue
        value = compute_indicator(name, facts, parse_scope(scope), parse_period(period))
        assert value.denominator is not None
        assert 0 <= value.numerator <= value.denominator, name
        assert (value.value is None) == (value.denominator == 0), name


def test_only_the_fund_indicator_is_limited_to_the_district_and_years() -> None:
    street_quarter = [n for n, d in INDICATORS.items() if not d.applies_to(STREET_A, Q2)]
    assert street_quarter == ["supplementary_fund_used"]
    assert INDICATORS["supplementary_fund_used"].applies_to(DISTRICT, parse_period("2026"))
    assert not INDICATORS["supplementary_fund_used"].applies_to(DISTRICT, parse_period("2026-01-01..2026-12-31"))


def test_department_claims_are_those_of_households_it_was_paired_with() -> None:
    facts = Facts(
        households=[household("h1", helpers=[cadre("D1", date(2026, 2, 1))]), household("h2")],
        claims=[
            claim("c1", "h1", date(2026, 5, 1), True),
            claim("c2", "h2", date(2026, 5, 1), False),
            claim("c3", "h9", date(2026, 5, 1), False),  # unknown household: no department can hold it
        ],
    )
    assert counts(medical_cap_rate(facts, parse_scope("department:D1"), Q2)) == (Decimal("1.0000"), 1, 1)
