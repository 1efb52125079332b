from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from uplift.metrics.domain.assessment import (
    DEFAULT_WEIGHTS,
    AssessmentComponent,
    AssessmentKind,
    AssessmentRow,
    Weights,
    assess_departments,
    assess_streets,
    rank_rows,
    weighted_score,
)
from uplift.metrics.domain.errors import ScopeError
from uplift.metrics.domain.facts import (
    ExitReason,
    Facts,
    HelperAssignment,
    HelperKind,
    HouseholdFacts,
    HouseholdStatus,
    Measure,
    Placement,
    StatusChange,
    Visit,
)
from uplift.metrics.domain.periods import parse_period

Q2 = parse_period("2026-Q2")
STREET_WEIGHTS = {
    "exit_rate": Decimal("0.4"),
    "employment_gain_rate": Decimal("0.3"),
    "satisfaction_rate": Decimal("0.2"),
    "non_relapse_rate": Decimal("0.1"),
}


def household(
    household_id: str,
    community: str,
    *,
    enrolled_on: date = date(2026, 1, 10),
    exited_on: date | None = None,
    helper_department: str | None = None,
    released_on: date | None = None,
) -> HouseholdFacts:
    history = []
    if exited_on is not None:
        monitoring_until = exited_on.replace(year=exited_on.year + 3)
        history = [StatusChange(exited_on, HouseholdStatus.EXITED, ExitReason.EMPLOYMENT, monitoring_until)]
    helpers = []
    if helper_department is not None:
        helpers = [
            HelperAssignment(HelperKind.CADRE, f"c-{household_id}", helper_department, date(2026, 2, 1), released_on)
        ]
    return HouseholdFacts(
        household_id=household_id,
        cohort="2026-1",
        street_code=community[:9],
        community_code=community,
        enrolled_on=enrolled_on,
        status_history=history,
        helper_assignments=helpers,
    )


def row(code: str, score: str | None) -> AssessmentRow:
    return AssessmentRow(None, code, None if score is None else Decimal(score), ())


def component(row: AssessmentRow, name: str) -> AssessmentComponent:
    return next(c for c in row.components if c.name == name)


# --- weights ---


def test_the_default_weights_are_those_of_section_10() -> None:
    assert DEFAULT_WEIGHTS.street == STREET_WEIGHTS
    assert DEFAULT_WEIGHTS.department == {
        "visit_compliance": Decimal("0.3"),
        "measure_completion_rate": Decimal("0.3"),
        "exit_rate": Decimal("0.2"),
        "satisfaction_rate": Decimal("0.2"),
    }


def test_weights_parse_from_json_numbers_and_keep_the_catalogue_order() -> None:
    weights = Weights.model_validate_json(
        '{"street": {"non_relapse_rate": 0.25, "satisfaction_rate": 0.25, "employment_gain_rate": 0.25,'
        ' "exit_rate": 0.25}}'
    )
    assert list(weights.street) == [
        "exit_rate",
        "employment_gain_rate",
        "satisfaction_rate",
        "non_relapse_rate",
    ]
    assert weights.street["exit_rate"] == Decimal("0.25")
    assert weights.department == DEFAULT_WEIGHTS.department


@pytest.mark.parametrize(
    ("street", "message"),
    [
        ({**STREET_WEIGHTS, "happiness": Decimal(0)}, "unknown street components ['happiness']"),
        (
            {k: v for k, v in STREET_WEIGHTS.items() if k != "exit_rate"},
            "missing street components ['exit_rate']",
        ),
        (
            {**STREET_WEIGHTS, "exit_rate": Decimal("0.6"), "satisfaction_rate": Decimal("-0.2")},
            "non-negative",
        ),
        ({**STREET_WEIGHTS, "exit_rate": Decimal("0.3")}, "must sum to 1, not 0.9"),
        ({**STREET_WEIGHTS, "non_relapse_rate": Decimal("0.10000001")}, "must sum to 1"),
    ],
)
def test_weights_must_be_known_complete_non_negative_and_sum_to_one(street: dict[str, Decimal], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Weights(street=street)


def test_weights_may_miss_one_by_less_than_a_billionth() -> None:
    weights = Weights(street={**STREET_WEIGHTS, "non_relapse_rate": Decimal("0.0999999999995")})
    assert weights.street["non_relapse_rate"] == Decimal("0.0999999999995")


def test_weights_refuse_unknown_tables() -> None:
    with pytest.raises(ValidationError, match="grid"):
        Weights.model_validate({"grid": {}})


# --- scoring and ranking ---


def test_the_score_is_the_weighted_sum_of_the_components() -> None:
    values = {
        "exit_rate": Decimal("0.5"),
        "employment_gain_rate": Decimal("0.25"),
        "satisfaction_rate": Decimal("0.8"),
        "non_relapse_rate": Decimal("0.9"),
    }
    scored = weighted_score(values, STREET_WEIGHTS)
    assert scored.score == Decimal("0.5250")
    assert scored.effective_weights == STREET_WEIGHTS


def test_a_null_component_is_left_out_and_the_other_weights_scaled_to_sum_to_one() -> None:
    values = {
        "exit_rate": Decimal("0.5"),
        "employment_gain_rate": None,
        "satisfaction_rate": Decimal("0.8"),
        "non_relapse_rate": Decimal("0.9"),
    }
    scored = weighted_score(values, STREET_WEIGHTS)
    # (0.4 × 0.5 + 0.2 × 0.8 + 0.1 × 0.9) / 0.7 = 0.45 / 0.7 = 0.642857…
    assert scored.score == Decimal("0.6429")
    assert scored.effective_weights["employment_gain_rate"] is None
    assert Decimal("0.5714285") < (scored.effective_weights["exit_rate"] or 0) < Decimal("0.5714286")
    assert sum(w for w in scored.effective_weights.values() if w is not None) == pytest.approx(Decimal(1))


def test_without_any_weighted_component_there_is_no_score() -> None:
    assert weighted_score(dict.fromkeys(STREET_WEIGHTS), STREET_WEIGHTS).score is None
    only_unweighted = {"exit_rate": None, "employment_gain_rate": Decimal("0.5")}
    assert weighted_score(only_unweighted, {"exit_rate": Decimal(1), "employment_gain_rate": Decimal(0)}).score is None


def test_ranking_orders_by_score_then_code_and_ties_share_a_rank() -> None:
    ranked = rank_rows(
        [
            row("420102003", "0.5"),
            row("420102004", None),
            row("420102001", "0.5000"),
            row("420102005", "0.4"),
            row("420102002", "0.7"),
        ]
    )
    assert [(r.rank, r.code) for r in ranked] == [
        (1, "420102002"),
        (2, "420102001"),
        (2, "420102003"),
        (4, "420102005"),
        (None, "420102004"),
    ]


# --- street and department tables ---


def street_facts() -> Facts:
    a, b = "420102001001", "420102002001"
    return Facts(
        households=[
            household("a1", a, exited_on=date(2026, 5, 1)),
            household("a2", a),
            household("a3", a, enrolled_on=date(2025, 1, 5), exited_on=date(2025, 9, 1)),
            household("b1", b),
        ],
        placements=[Placement("p1", "person-1", "a1", date(2026, 4, 15))],
        visits=[
            Visit("v1", "a2", "D1", date(2026, 5, 1), 5),
            Visit("v2", "a2", "D1", date(2026, 6, 1), 3),
        ],
    )


def test_streets_are_scored_on_their_households_and_ranked() -> None:
    assessment = assess_streets(street_facts(), Q2, street_codes=["420102001", "420102002", "420102003"])
    assert (assessment.kind, assessment.period) == (AssessmentKind.STREET, "2026-Q2")
    a, b, empty = assessment.rows

    # exit 2/3, employment 1/2, satisfaction 1/2, relapse 0/1:
    # 0.4 × 0.6667 + 0.3 × 0.5 + 0.2 × 0.5 + 0.1 × 1 = 0.61668
    assert (a.rank, a.code, a.score) == (1, "420102001", Decimal("0.6167"))
    assert [(c.name, c.value, c.effective_weight) for c in a.components] == [
        ("exit_rate", Decimal("0.6667"), Decimal("0.4000")),
        ("employment_gain_rate", Decimal("0.5000"), Decimal("0.3000")),
        ("satisfaction_rate", Decimal("0.5000"), Decimal("0.2000")),
        ("non_relapse_rate", Decimal("1.0000"), Decimal("0.1000")),
    ]
    relapse = component(a, "non_relapse_rate").indicator
    assert (relapse.name, relapse.value, relapse.numerator, relapse.denominator) == (
        "relapse_rate",
        Decimal(0),
        0,
        1,
    )

    # No visits and nobody monitored: satisfaction and 1 − relapse_rate are left out.
    assert (b.rank, b.code, b.score) == (2, "420102002", Decimal("0.0000"))
    assert [c.effective_weight for c in b.components] == [Decimal("0.5714"), Decimal("0.4286"), None, None]
    assert component(b, "satisfaction_rate").indicator.reason == "no visits with a satisfaction in the period"
    assert component(b, "satisfaction_rate").weight == Decimal("0.2")

    assert (empty.rank, empty.code, empty.score) == (None, "420102003", None)
    assert empty.reason


def test_streets_default_to_those_where_households_live_at_the_period_end() -> None:
    assessment = assess_streets(street_facts(), Q2)
    assert [r.code for r in assessment.rows] == ["420102001", "420102002"]


def test_a_street_assessment_refuses_codes_that_are_not_streets() -> None:
    with pytest.raises(ScopeError, match="420102001001"):
        assess_streets(street_facts(), Q2, street_codes=["420102001001"])


def test_departments_are_scored_on_visits_measures_exits_and_satisfaction() -> None:
    community = "420102001001"
    facts = Facts(
        households=[
            household("d1h", community, helper_department="D1"),
            household(
                "d2h",
                community,
                helper_department="D2",
                exited_on=date(2026, 6, 30),
                released_on=date(2026, 6, 30),
            ),
        ],
        visits=[Visit("v1", "d1h", "D1", date(2026, 6, 20), 4)],
        measures=[
            Measure("m1", "d1h", "D1", date(2026, 5, 1), date(2026, 5, 1)),
            Measure("m2", "d1h", "D1", date(2026, 6, 1)),
        ],
    )
    assessment = assess_departments(facts, Q2)
    assert assessment.kind is AssessmentKind.DEPARTMENT
    d2, d1 = assessment.rows

    # D2: only exit_rate (1/1) has a value, so it carries the whole weight.
    assert (d2.rank, d2.code, d2.score) == (1, "D2", Decimal("1.0000"))
    assert [(c.name, c.effective_weight) for c in d2.components] == [
        ("visit_compliance", None),
        ("measure_completion_rate", None),
        ("exit_rate", Decimal("1.0000")),
        ("satisfaction_rate", None),
    ]
    # D1: 0.3 × 1 + 0.3 × 0.5 + 0.2 × 0 + 0.2 × 1 = 0.65
    assert (d1.rank, d1.code, d1.score) == (2, "D1", Decimal("0.6500"))
    assert [c.value for c in d1.components] == [Decimal(1), Decimal("0.5"), Decimal(0), Decimal(1)]


def test_department_weights_are_taken_from_the_given_weights() -> None:
    facts = Facts(households=[household("d1h", "420102001001", helper_department="D1")])
    only_exits = Weights(
        department={
            "visit_compliance": Decimal(0),
            "measure_completion_rate": Decimal(0),
            "exit_rate": Decimal(1),
            "satisfaction_rate": Decimal(0),
        }
    )
    (d1,) = assess_departments(facts, Q2, only_exits, department_codes=["D1"]).rows
    # visit_compliance is 0/1 but weighs nothing; exit_rate is 0/1.
    assert (d1.score, component(d1, "visit_compliance").effective_weight) == (Decimal(0), Decimal(0))
