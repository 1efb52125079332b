"""双责任考核: street and department assessments, ranked, with every component shown.

A score is Σ weight × component over the components that are not null; when some are null the remaining
weights are scaled to sum to 1 (DOMAIN.md section 10), and each row shows the weights it actually used.
Weights are data (`PUT /metrics/v1/assessments/weights`), validated by `Weights`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field, field_validator

from uplift.metrics.domain.errors import ScopeError
from uplift.metrics.domain.facts import Facts
from uplift.metrics.domain.indicators import (
    FOUR_PLACES,
    IndicatorValue,
    employment_gain_rate,
    exit_rate,
    measure_completion_rate,
    ratio,
    relapse_rate,
    satisfaction_rate,
    visit_compliance,
)
from uplift.metrics.domain.periods import Period
from uplift.metrics.domain.scopes import Scope, ScopeKind, parse_scope

WEIGHT_SUM_TOLERANCE = Decimal("1e-9")
ONE = Decimal(1)


class AssessmentKind(StrEnum):
    STREET = "street"
    DEPARTMENT = "department"


@dataclass(frozen=True)
class ComponentDefinition:
    """A scored component: an indicator over the assessed scope, possibly turned around (1 − relapse_rate)."""

    name: str
    label_zh: str
    indicator: Callable[[Facts, Scope, Period], IndicatorValue]
    inverted: bool = False  # the component is 1 − the indicator's value

    def value_of(self, indicator: IndicatorValue) -> Decimal | None:
        if indicator.value is None:
            return None
        return ONE - indicator.value if self.inverted else indicator.value


def _components(*definitions: ComponentDefinition) -> Mapping[str, ComponentDefinition]:
    return MappingProxyType({d.name: d for d in definitions})


STREET_COMPONENTS = _components(
    ComponentDefinition("exit_rate", "脱贫率", exit_rate),
    ComponentDefinition("employment_gain_rate", "低保户就业新增率", employment_gain_rate),
    ComponentDefinition("satisfaction_rate", "满意度", satisfaction_rate),
    ComponentDefinition("non_relapse_rate", "未返贫率 (1 − 返贫率)", relapse_rate, inverted=True),
)
DEPARTMENT_COMPONENTS = _components(
    ComponentDefinition("visit_compliance", "走访达标率", visit_compliance),
    ComponentDefinition("measure_completion_rate", "帮扶措施完成率", measure_completion_rate),
    ComponentDefinition("exit_rate", "脱贫率", exit_rate),
    ComponentDefinition("satisfaction_rate", "满意度", satisfaction_rate),
)
COMPONENTS: Mapping[AssessmentKind, Mapping[str, ComponentDefinition]] = MappingProxyType(
    {AssessmentKind.STREET: STREET_COMPONENTS, AssessmentKind.DEPARTMENT: DEPARTMENT_COMPONENTS}
)

DEFAULT_STREET_WEIGHTS: Mapping[str, Decimal] = MappingProxyType(
    {
        "exit_rate": Decimal("0.4"),
        "employment_gain_rate": Decimal("0.3"),
        "satisfaction_rate": Decimal("0.2"),
        "non_relapse_rate": Decimal("0.1"),
    }
)
DEFAULT_DEPARTMENT_WEIGHTS: Mapping[str, Decimal] = MappingProxyType(
    {
        "visit_compliance": Decimal("0.3"),
        "measure_completion_rate": Decimal("0.3"),
        "exit_rate": Decimal("0.2"),
        "satisfaction_rate": Decimal("0.2"),
    }
)


def _check_table(weights: dict[str, Decimal], kind: AssessmentKind) -> dict[str, Decimal]:
    known = COMPONENTS[kind]
    unknown = sorted(set(weights) - set(known))
    if unknown:
        raise ValueError(f"unknown {kind} components {unknown}; known: {list(known)}")
    missing = [name for name in known if name not in weights]
    if missing:
        raise ValueError(f"missing {kind} components {missing}; give every component a weight (0 to leave out)")
    for name, weight in weights.items():
        if not weight.is_finite() or weight < 0:
            raise ValueError(f"{kind} weight of {name} must be a non-negative number, not {weight}")
    total = sum(weights.values(), Decimal(0))
    if abs(total - ONE) > WEIGHT_SUM_TOLERANCE:
        raise ValueError(f"{kind} weights must sum to 1, not {total}")
    # Keep the catalogue's order so tables always list components the same way.
    return {name: weights[name] for name in known}


class Weights(BaseModel):
    """Assessment weights per table; every known component must be given, non-negative, summing to 1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    street: dict[str, Decimal] = Field(default_factory=lambda: dict(DEFAULT_STREET_WEIGHTS))
    department: dict[str, Decimal] = Field(default_factory=lambda: dict(DEFAULT_DEPARTMENT_WEIGHTS))

    @field_validator("street")
    @classmethod
    def _street_components(cls, weights: dict[str, Decimal]) -> dict[str, Decimal]:
        return _check_table(weights, AssessmentKind.STREET)

    @field_validator("department")
    @classmethod
    def _department_components(cls, weights: dict[str, Decimal]) -> dict[str, Decimal]:
        return _check_table(weights, AssessmentKind.DEPARTMENT)

    def for_kind(self, kind: AssessmentKind) -> Mapping[str, Decimal]:
        return self.street if kind is AssessmentKind.STREET else self.department


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class AssessmentComponent:
    """One component of a row: the indicator behind it, the value scored and the weights."""

    name: str
    label_zh: str
    indicator: IndicatorValue  # for non_relapse_rate: relapse_rate, with its numerator and denominator
    value: Decimal | None
    weight: Decimal  # as configured
    effective_weight: Decimal | None  # after leaving out null components, 4 places; None when left out


@dataclass(frozen=True)
class AssessmentRow:
    rank: int | None  # competition ranking: tied scores share a rank; None without a score
    code: str
    score: Decimal | None
    components: tuple[AssessmentComponent, ...]
    reason: str | None = None


@dataclass(frozen=True)
class Assessment:
    kind: AssessmentKind
    period: str
    rows: tuple[AssessmentRow, ...]


@dataclass(frozen=True)
class WeightedScore:
    score: Decimal | None
    effective_weights: Mapping[str, Decimal | None]  # exact; None for the components left out


def weighted_score(values: Mapping[str, Decimal | None], weights: Mapping[str, Decimal]) -> WeightedScore:
    """Σ weight × value over the non-null values, the weights scaled to sum to 1; 4 places, half-up."""
    present = [(name, weight, value) for name, weight in weights.items() if (value := values.get(name)) is not None]
    total_weight = sum((weight for _, weight, _ in present), Decimal(0))
    if total_weight == 0:
        return WeightedScore(None, dict.fromkeys(weights))
    weighted_sum = sum((weight * value for _, weight, value in present), Decimal(0))
    with localcontext() as context:
        context.prec = 50
        effective = {name: weight / total_weight for name, weight, _ in present}
    # One division, Σ(w·v) / Σw, so the score does not depend on how the effective weights were rounded.
    return WeightedScore(ratio(weighted_sum, total_weight), {name: effective.get(name) for name in weights})


def score_row(
    code: str,
    indicators: Mapping[str, IndicatorValue],
    weights: Mapping[str, Decimal],
    components: Mapping[str, ComponentDefinition],
) -> AssessmentRow:
    """An unranked row from the component indicators of one street or department."""
    values = {name: definition.value_of(indicators[name]) for name, definition in components.items()}
    scored = weighted_score(values, weights)
    row_components = tuple(
        AssessmentComponent(
            name=name,
            label_zh=definition.label_zh,
            indicator=indicators[name],
            value=values[name],
            weight=weights[name],
            effective_weight=_four_places(scored.effective_weights.get(name)),
        )
        for name, definition in components.items()
    )
    reason = None if scored.score is not None else "no component with a value and a positive weight"
    return AssessmentRow(None, code, scored.score, row_components, reason)


def _four_places(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def rank_rows(rows: Sequence[AssessmentRow]) -> tuple[AssessmentRow, ...]:
    """Score descending, then code; tied scores share a rank (1, 2, 2, 4); rows without a score come last."""
    scored = sorted(((r.score, r) for r in rows if r.score is not None), key=lambda pair: (-pair[0], pair[1].code))
    unscored = sorted((r for r in rows if r.score is None), key=lambda r: r.code)
    ranked: list[AssessmentRow] = []
    for position, (score, row) in enumerate(scored, start=1):
        tied_with_previous = bool(ranked) and ranked[-1].score == score
        ranked.append(_with_rank(row, ranked[-1].rank if tied_with_previous else position))
    ranked.extend(_with_rank(row, None) for row in unscored)
    return tuple(ranked)


def _with_rank(row: AssessmentRow, rank: int | None) -> AssessmentRow:
    return AssessmentRow(rank, row.code, row.score, row.components, row.reason)


def _assess(
    kind: AssessmentKind, facts: Facts, period: Period, scopes: Sequence[Scope], weights: Weights
) -> Assessment:
    components = COMPONENTS[kind]
    table_weights = weights.for_kind(kind)
    rows = [
        score_row(
            scope.code,
            {name: definition.indicator(facts, scope, period) for name, definition in components.items()},
            table_weights,
            components,
        )
        for scope in scopes
    ]
    return Assessment(kind, period.label, rank_rows(rows))


def assess_streets(
    facts: Facts,
    period: Period,
    weights: Weights = DEFAULT_WEIGHTS,
    street_codes: Sequence[str] | None = None,
) -> Assessment:
    """Streets ranked by exit_rate, employment_gain_rate, satisfaction_rate and 1 − relapse_rate.

    Without `street_codes`, the streets of the households enrolled by the period end (by their community
    at the period end); pass the org units to list streets that have no households too.
    """
    if street_codes is None:
        street_codes = sorted({h.community_on(period.end)[:9] for h in facts.households if h.enrolled_on <= period.end})
    scopes = [parse_scope(code) for code in street_codes]
    not_streets = [str(scope) for scope in scopes if scope.kind is not ScopeKind.STREET]
    if not_streets:
        raise ScopeError(f"a street assessment lists streets (9-digit codes), not {not_streets}")
    return _assess(AssessmentKind.STREET, facts, period, scopes, weights)


def assess_departments(
    facts: Facts,
    period: Period,
    weights: Weights = DEFAULT_WEIGHTS,
    department_codes: Sequence[str] | None = None,
) -> Assessment:
    """Departments ranked by visit_compliance, measures completed ÷ due, exit_rate and satisfaction_rate.

    Without `department_codes`, the departments whose helpers were paired with a household on or before the
    period end; pass the org units to list the others too.
    """
    if department_codes is None:
        department_codes = sorted(
            {
                assignment.department_code
                for household in facts.households
                for assignment in household.helper_assignments
                if assignment.department_code is not None and assignment.assigned_on <= period.end
            }
        )
    scopes = [Scope.department(code) for code in department_codes]
    return _assess(AssessmentKind.DEPARTMENT, facts, period, scopes, weights)
