"""The indicators of DOMAIN.md section 10, computed over in-memory facts.

This is the reference implementation: each indicator is written as the table defines it, as plainly as
possible, so that the SQL the service runs over its projection tables can be tested for equality against
it. Every ratio builds its denominator first and takes the numerator as a subset of it; an empty
denominator gives a null `value` with a `reason`, never a division error.

Scope rules (section 10): the district holds every household; a street or community holds the households whose
community *at the period end* has that code as prefix; `department:{code}` holds, for pairing_coverage and
visit_compliance, the households paired with the department's helpers at the period end and, for every other
indicator, the households paired with them at any time on or before the period end (visits and measures: those
made by the department's helpers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from types import MappingProxyType

from uplift.metrics.domain.errors import CohortNotApplicable, IndicatorNotApplicable, UnknownIndicator
from uplift.metrics.domain.facts import Claim, Facts, HouseholdFacts, Measure, Visit
from uplift.metrics.domain.periods import Period, PeriodKind, add_months
from uplift.metrics.domain.scopes import Scope, ScopeKind

FOUR_PLACES = Decimal("0.0001")
CENTS = Decimal("0.01")
SATISFIED_FROM = 4  # satisfaction 4 or 5 of 1-5 counts as satisfied
RETENTION_MONTHS = 6


class IndicatorUnit(StrEnum):
    RATIO = "ratio"  # value = numerator / denominator, 4 places
    COUNT = "count"  # value = numerator, no denominator


class DepartmentRule(StrEnum):
    """Which households a `department:{code}` scope holds."""

    PAIRED_AT_END = "paired_at_end"  # pairing_coverage, visit_compliance
    PAIRED_BY_END = "paired_by_end"  # every other indicator


@dataclass(frozen=True)
class IndicatorDefinition:
    """What `GET /indicators` lists for one indicator."""

    name: str
    label_zh: str
    numerator: str
    denominator: str | None
    unit: IndicatorUnit = IndicatorUnit.RATIO
    household_based: bool = False  # only these accept `cohort`
    district_year_only: bool = False

    @property
    def definition(self) -> str:
        if self.denominator is None:
            return self.numerator
        return f"{self.numerator} ÷ {self.denominator}"

    def applies_to(self, scope: Scope, period: Period) -> bool:
        """Whether the indicator is defined for this scope and period (a dashboard skips the others)."""
        if self.district_year_only:
            return scope.kind is ScopeKind.DISTRICT and period.kind is PeriodKind.YEAR
        return True


@dataclass(frozen=True)
class IndicatorValue:
    """One indicator over one scope and period; `value` is null with a `reason` when the denominator is 0."""

    name: str
    scope: str
    period: str
    value: Decimal | None
    numerator: int | Decimal
    denominator: int | Decimal | None
    reason: str | None = None


def _define(*definitions: IndicatorDefinition) -> Mapping[str, IndicatorDefinition]:
    return MappingProxyType({d.name: d for d in definitions})


INDICATORS: Mapping[str, IndicatorDefinition] = _define(
    IndicatorDefinition(
        "exit_rate",
        "脱贫率",
        "of the denominator, households whose status at the period end is exited with a 脱贫 reason "
        "(employment, substitute_support, policy_support, income_above_line)",
        "households enrolled on or before the period end (all of them, whatever happened since)",
        household_based=True,
    ),
    IndicatorDefinition(
        "employment_gain_rate",
        "低保户就业新增率",
        "of the denominator, households with at least one placement started in the period",
        "households enrolled or in transition at the period start",
        household_based=True,
    ),
    IndicatorDefinition(
        "persons_employed",
        "新增就业人数",
        "distinct persons with a placement started in the period",
        None,
        unit=IndicatorUnit.COUNT,
    ),
    IndicatorDefinition(
        "satisfaction_rate",
        "满意度",
        f"visits in the period with satisfaction ≥ {SATISFIED_FROM}",
        "visits in the period with a satisfaction",
    ),
    IndicatorDefinition(
        "pairing_coverage",
        "结对覆盖率",
        "of the denominator, households with an active helper at the period end",
        "households enrolled or in transition at the period end",
        household_based=True,
    ),
    IndicatorDefinition(
        "visit_compliance",
        "走访达标率",
        "of the denominator, households with a visit in the visit_interval_days ending at the period end",
        "households paired at the period end",
        household_based=True,
    ),
    IndicatorDefinition(
        "relapse_rate",
        "返贫率",
        "of the denominator, households relapsed in the period",
        "households exited with a 脱贫 reason before the period start and under monitoring at the period start",
        household_based=True,
    ),
    IndicatorDefinition(
        "retention_6m",
        "6个月稳岗率",
        "of the denominator, placements that reached retained_6m by the period end",
        "placements started at least 6 months before the period end, not before the period start minus 6 months",
    ),
    IndicatorDefinition(
        "medical_cap_rate",
        "医疗费用封顶达标率",
        "of the denominator, claims with cap_met = true",
        "claims discharged in the period, not reversed, with cap_met not null",
    ),
    IndicatorDefinition(
        "supplementary_fund_used",
        "大病附加保险基金使用率",
        "supplementary paid on the year's claims (not reversed)",
        "the year's supplementary budget (district scope, year periods only)",
        district_year_only=True,
    ),
)

# Not in the section 10 table: a component of the department assessment only.
MEASURE_COMPLETION_RATE = IndicatorDefinition(
    "measure_completion_rate",
    "帮扶措施完成率",
    "of the denominator, measures completed on or before the period end",
    "measures due in the period",
)

HOUSEHOLD_BASED_INDICATORS = tuple(name for name, d in INDICATORS.items() if d.household_based)


# --- arithmetic ---


def ratio(numerator: int | Decimal, denominator: int | Decimal) -> Decimal:
    """`numerator / denominator` rounded half-up to 4 places (computed with ample precision first)."""
    with localcontext() as context:
        context.prec = 50
        return (Decimal(numerator) / Decimal(denominator)).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def _ratio_value(
    definition: IndicatorDefinition,
    scope: Scope,
    period: Period,
    numerator: int | Decimal,
    denominator: int | Decimal,
    empty_reason: str,
) -> IndicatorValue:
    if denominator == 0:
        return IndicatorValue(definition.name, str(scope), period.label, None, numerator, denominator, empty_reason)
    value = ratio(numerator, denominator)
    return IndicatorValue(definition.name, str(scope), period.label, value, numerator, denominator)


# --- which facts a scope holds ---


def households_in_scope(
    facts: Facts,
    scope: Scope,
    period: Period,
    *,
    department_rule: DepartmentRule = DepartmentRule.PAIRED_BY_END,
    cohort: str | None = None,
) -> list[HouseholdFacts]:
    """The households a scope holds for an indicator over `period`, optionally of one cohort."""
    return [
        household
        for household in facts.households
        if (cohort is None or household.cohort == cohort)
        and _holds_household(scope, period, household, department_rule)
    ]


def _holds_household(scope: Scope, period: Period, household: HouseholdFacts, department_rule: DepartmentRule) -> bool:
    if scope.kind is ScopeKind.DEPARTMENT:
        if department_rule is DepartmentRule.PAIRED_AT_END:
            return household.paired_with_department_on(scope.code, period.end)
        return household.ever_paired_with_department_by(scope.code, period.end)
    return scope.covers_community(household.community_on(period.end))


def _holds_household_id(facts: Facts, scope: Scope, period: Period, household_id: str | None) -> bool:
    """For facts attached to a household (placements): the household's own scope rule."""
    if scope.kind is ScopeKind.DISTRICT:
        return True
    household = facts.household(household_id)
    return household is not None and _holds_household(scope, period, household, DepartmentRule.PAIRED_BY_END)


def _holds_visit(facts: Facts, scope: Scope, period: Period, visit: Visit) -> bool:
    if scope.kind is ScopeKind.DEPARTMENT:
        return visit.helper_department_code == scope.code
    return _holds_household_id(facts, scope, period, visit.household_id)


def _holds_measure(facts: Facts, scope: Scope, period: Period, measure: Measure) -> bool:
    if scope.kind is ScopeKind.DEPARTMENT:
        return measure.department_code == scope.code
    return _holds_household_id(facts, scope, period, measure.household_id)


def _holds_claim(facts: Facts, scope: Scope, period: Period, claim: Claim) -> bool:
    if scope.kind is ScopeKind.DISTRICT:
        return True
    household = facts.household(claim.household_id)
    if household is not None:
        return _holds_household(scope, period, household, DepartmentRule.PAIRED_BY_END)
    # A household the projection does not know: only the community the claim carried can place it.
    if scope.kind is ScopeKind.DEPARTMENT or claim.community_code is None:
        return False
    return scope.covers_community(claim.community_code)


def _refuse_cohort(definition: IndicatorDefinition, cohort: str | None) -> None:
    if cohort is not None:
        allowed = ", ".join(HOUSEHOLD_BASED_INDICATORS)
        raise CohortNotApplicable(
            f"cohort restricts the household-based indicators only ({allowed}); {definition.name} does not take one"
        )


# --- the indicators ---


def exit_rate(facts: Facts, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
    """脱贫率: households exited with a 脱贫 reason at the period end ÷ households enrolled by then."""
    end = period.end
    denominator = [h for h in households_in_scope(facts, scope, period, cohort=cohort) if h.enrolled_on <= end]
    numerator = [h for h in denominator if h.exited_lifted_on(end)]
    return _ratio_value(
        INDICATORS["exit_rate"],
        scope,
        period,
        len(numerator),
        len(denominator),
        f"no households enrolled on or before {end.isoformat()} in this scope",
    )


def employment_gain_rate(facts: Facts, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
    """Households with a placement started in the period ÷ households in the programme at the period start."""
    denominator = [h for h in households_in_scope(facts, scope, period, cohort=cohort) if h.in_programme_on(period.eve)]
    hired_households = {p.household_id for p in facts.placements if period.contains(p.started_on)}
    numerator = [h for h in denominator if h.household_id in hired_households]
    return _ratio_value(
        INDICATORS["employment_gain_rate"],
        scope,
        period,
        len(numerator),
        len(denominator),
        f"no households enrolled or in transition at the end of {period.eve.isoformat()} in this scope",
    )


def persons_employed(facts: Facts, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
    """Distinct persons with a placement started in the period (a count)."""
    definition = INDICATORS["persons_employed"]
    _refuse_cohort(definition, cohort)
    persons = {
        p.person_id
        for p in facts.placements
        if period.contains(p.started_on) and _holds_household_id(facts, scope, period, p.household_id)
    }
    return IndicatorValue(definition.name, str(scope), period.label, Decimal(len(persons)), len(persons), None)


def satisfaction_rate(facts: Facts, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
    """满意度: visits in the period with satisfaction ≥ 4 ÷ visits in the period with a satisfaction."""
    definition = INDICATORS["satisfaction_rate"]
    _refuse_cohort(definition, cohort)
    denominator = [
        v
        for v in facts.visits
        if period.contains(v.visited_on) and v.satisfaction is not None and _holds_visit(facts, scope, period, v)
    ]
    numerator = [v for v in denominator if v.satisfaction is not None and v.satisfaction >= SATISFIED_FROM]
    return _ratio_value(
        definition,
        scope,
        period,
        len(numerator),
        len(denominator),
        "no visits with a satisfaction in the period",
    )


def pairing_coverage(facts: Facts, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
    """Households with an active helper at the period end ÷ households in the programme at the period end."""
    end = period.end
    in_scope = households_in_scope(facts, scope, period, department_rule=DepartmentRule.PAIRED_AT_END, cohort=cohort)
    denominator = [h for h in in_scope if h.in_programme_on(end)]
    numerator = [h for h in denominator if h.helper_on(end) is not None]
    return _ratio_value(
        INDICATORS["pairing_coverage"],
        scope,
        period,
        len(numerator),
        len(denominator),
        f"no households enrolled or in transition on {end.isoformat()} in this scope",
    )


def visit_compliance(facts: Facts, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
    """Households paired at the period end with a visit in the `visit_interval_days` ending then ÷ paired.

    The interval is the version in force at the period end; any visit to the household counts, whoever
    made it.
    """
    end = period.end
    interval_days = facts.visit_interval_on(end)
    window = Period.between(end - timedelta(days=interval_days - 1), end)
    in_scope = households_in_scope(facts, scope, period, department_rule=DepartmentRule.PAIRED_AT_END, cohort=cohort)
    denominator = [h for h in in_scope if h.helper_on(end) is not None]
    visited = {v.household_id for v in facts.visits if window.contains(v.visited_on)}
    numerator = [h for h in denominator if h.household_id in visited]
    return _ratio_value(
        INDICATORS["visit_compliance"],
        scope,
        period,
        len(numerator),
        len(denominator),
        f"no households paired on {end.isoformat()} in this scope",
    )


def relapse_rate(facts: Facts, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
    """返贫率: households relapsed in the period ÷ households monitored after a 脱贫 exit at its start."""
    eve = period.eve
    denominator = [
        h
        for h in households_in_scope(facts, scope, period, cohort=cohort)
        if h.exited_lifted_on(eve) and h.under_monitoring_on(eve)
    ]
    numerator = [h for h in denominator if h.relapsed_within(period.start, period.end)]
    return _ratio_value(
        INDICATORS["relapse_rate"],
        scope,
        period,
        len(numerator),
        len(denominator),
        f"no households under monitoring after a 脱贫 exit at the end of {eve.isoformat()} in this scope",
    )


def retention_6m(facts: Facts, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
    """Placements retained 6 months by the period end ÷ placements whose 6 months fall due in the period."""
    definition = INDICATORS["retention_6m"]
    _refuse_cohort(definition, cohort)
    earliest_start = add_months(period.start, -RETENTION_MONTHS)
    latest_start = add_months(period.end, -RETENTION_MONTHS)
    denominator = [
        p
        for p in facts.placements
        if earliest_start <= p.started_on <= latest_start and _holds_household_id(facts, scope, period, p.household_id)
    ]
    numerator = [p for p in denominator if p.retained_6m_on is not None and p.retained_6m_on <= period.end]
    return _ratio_value(
        definition,
        scope,
        period,
        len(numerator),
        len(denominator),
        f"no placements started from {earliest_start.isoformat()} to {latest_start.isoformat()} in this scope",
    )


def medical_cap_rate(facts: Facts, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
    """Claims with `cap_met` true ÷ claims discharged in the period, not reversed, with `cap_met` known."""
    definition = INDICATORS["medical_cap_rate"]
    _refuse_cohort(definition, cohort)
    denominator = [
        c
        for c in facts.claims
        if period.contains(c.discharged_on)
        and not c.reversed
        and c.cap_met is not None
        and _holds_claim(facts, scope, period, c)
    ]
    numerator = [c for c in denominator if c.cap_met is True]
    return _ratio_value(
        definition,
        scope,
        period,
        len(numerator),
        len(denominator),
        "no claims discharged in the period with cap_met known in this scope",
    )


def supplementary_fund_used(facts: Facts, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
    """Supplementary paid on the year's claims ÷ the year's supplementary budget (district, year periods)."""
    definition = INDICATORS["supplementary_fund_used"]
    _refuse_cohort(definition, cohort)
    if scope.kind is not ScopeKind.DISTRICT:
        raise IndicatorNotApplicable(
            f"supplementary_fund_used is defined for the district scope only, not {scope}", field="scope"
        )
    if period.kind is not PeriodKind.YEAR:
        raise IndicatorNotApplicable(
            f"supplementary_fund_used is defined for year periods (YYYY) only, not {period.label}",
            field="period",
        )
    year = period.start.year
    # Claims of the district's streets (supplementary is paid only to dibao/tekun members, who have a street).
    used = sum(
        (
            c.supplementary
            for c in facts.claims
            if c.policy_year == year and not c.reversed and (c.street_code or "").startswith(scope.code)
        ),
        Decimal("0.00"),
    ).quantize(CENTS)
    budget = facts.supplementary_budget(year)
    if budget is None:
        return IndicatorValue(
            definition.name,
            str(scope),
            period.label,
            None,
            used,
            None,
            f"no supplementary budget recorded for {year}",
        )
    return _ratio_value(definition, scope, period, used, budget, f"the supplementary budget for {year} is 0.00")


def measure_completion_rate(facts: Facts, scope: Scope, period: Period, cohort: str | None = None) -> IndicatorValue:
    """Measures due in the period and completed on or before its end ÷ measures due in the period."""
    _refuse_cohort(MEASURE_COMPLETION_RATE, cohort)
    denominator = [m for m in facts.measures if period.contains(m.due_on) and _holds_measure(facts, scope, period, m)]
    numerator = [m for m in denominator if m.completed_on is not None and m.completed_on <= period.end]
    return _ratio_value(
        MEASURE_COMPLETION_RATE,
        scope,
        period,
        len(numerator),
        len(denominator),
        "no measures due in the period in this scope",
    )


IndicatorFunction = Callable[[Facts, Scope, Period, str | None], IndicatorValue]

_COMPUTE: Mapping[str, IndicatorFunction] = MappingProxyType(
    {
        "exit_rate": exit_rate,
        "employment_gain_rate": employment_gain_rate,
        "persons_employed": persons_employed,
        "satisfaction_rate": satisfaction_rate,
        "pairing_coverage": pairing_coverage,
        "visit_compliance": visit_compliance,
        "relapse_rate": relapse_rate,
        "retention_6m": retention_6m,
        "medical_cap_rate": medical_cap_rate,
        "supplementary_fund_used": supplementary_fund_used,
    }
)


def compute_indicator(
    name: str, facts: Facts, scope: Scope, period: Period, cohort: str | None = None
) -> IndicatorValue:
    """One indicator of the table by name; `cohort` on one that is not household-based is an error."""
    definition = INDICATORS.get(name)
    if definition is None:
        raise UnknownIndicator(f"no indicator named {name!r}; known: {', '.join(INDICATORS)}")
    return _COMPUTE[name](facts, scope, period, cohort)
