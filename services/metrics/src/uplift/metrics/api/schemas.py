"""Response bodies of the metrics API; ratios are decimal strings with 4 places, money with 2."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from uplift.metrics.domain.assessment import Assessment, AssessmentRow, Weights
from uplift.metrics.domain.indicators import FOUR_PLACES, IndicatorDefinition, IndicatorValue

Number = int | str


def _number(value: int | Decimal | None) -> Number | None:
    """Counts stay integers; amounts (the supplementary fund) are decimal strings."""
    if value is None or isinstance(value, int):
        return value
    return str(value)


def _ratio(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(FOUR_PLACES))


class IndicatorDefinitionRead(BaseModel):
    name: str
    label_zh: str
    unit: str
    numerator: str
    denominator: str | None
    definition: str
    household_based: bool
    district_year_only: bool

    @classmethod
    def of(cls, d: IndicatorDefinition) -> IndicatorDefinitionRead:
        return cls(
            name=d.name,
            label_zh=d.label_zh,
            unit=d.unit.value,
            numerator=d.numerator,
            denominator=d.denominator,
            definition=d.definition,
            household_based=d.household_based,
            district_year_only=d.district_year_only,
        )


class IndicatorDefinitionList(BaseModel):
    items: list[IndicatorDefinitionRead]
    next_cursor: str | None = None


class IndicatorRead(BaseModel):
    name: str
    scope: str
    period: str
    cohort: str | None = None
    value: str | None
    numerator: Number | None
    denominator: Number | None
    reason: str | None = None

    @classmethod
    def of(cls, v: IndicatorValue, cohort: str | None = None) -> IndicatorRead:
        return cls(
            name=v.name,
            scope=v.scope,
            period=v.period,
            cohort=cohort,
            # A count (persons_employed) is its numerator: "7", not "7.0000" (DOMAIN.md section 10).
            value=str(v.numerator) if v.denominator is None and isinstance(v.numerator, int) else _ratio(v.value),
            numerator=_number(v.numerator),
            denominator=_number(v.denominator),
            reason=v.reason,
        )


class SeriesPoint(BaseModel):
    period: str
    value: str | None
    numerator: Number | None
    denominator: Number | None
    reason: str | None = None

    @classmethod
    def of(cls, v: IndicatorValue) -> SeriesPoint:
        read = IndicatorRead.of(v)
        return cls(
            period=v.period, value=read.value, numerator=read.numerator, denominator=read.denominator, reason=v.reason
        )


class SeriesRead(BaseModel):
    name: str
    scope: str
    cohort: str | None = None
    step: str
    points: list[SeriesPoint]


class DashboardItem(BaseModel):
    name: str
    label_zh: str
    current: IndicatorRead
    previous: IndicatorRead


class DashboardRead(BaseModel):
    scope: str
    period: str
    previous_period: str
    indicators: list[DashboardItem]


class ComponentRead(BaseModel):
    name: str
    label_zh: str
    value: str | None
    weight: str
    effective_weight: str | None
    indicator: IndicatorRead


class AssessmentRowRead(BaseModel):
    rank: int | None
    code: str
    score: str | None
    reason: str | None = None
    components: list[ComponentRead]

    @classmethod
    def of(cls, row: AssessmentRow) -> AssessmentRowRead:
        return cls(
            rank=row.rank,
            code=row.code,
            score=_ratio(row.score),
            reason=row.reason,
            components=[
                ComponentRead(
                    name=c.name,
                    label_zh=c.label_zh,
                    value=_ratio(c.value),
                    weight=str(c.weight),
                    effective_weight=_ratio(c.effective_weight),
                    indicator=IndicatorRead.of(c.indicator),
                )
                for c in row.components
            ],
        )


class AssessmentRead(BaseModel):
    kind: str
    period: str
    weights: dict[str, str]
    weights_version: int
    rows: list[AssessmentRowRead]

    @classmethod
    def of(cls, assessment: Assessment, rows: list[AssessmentRow], weights: Weights, version: int) -> AssessmentRead:
        return cls(
            kind=assessment.kind.value,
            period=assessment.period,
            weights={name: str(w) for name, w in weights.for_kind(assessment.kind).items()},
            weights_version=version,
            rows=[AssessmentRowRead.of(row) for row in rows],
        )


class WeightsRead(BaseModel):
    version: int  # 0: the built-in defaults, never set
    street: dict[str, str]
    department: dict[str, str]
    set_by: str | None = None
    set_at: str | None = None


class RebuildRead(BaseModel):
    streams: dict[str, int]  # events read per stream
    applied: int
    ignored: int
    rejected: int  # payloads that do not validate (the live consumers dead-letter them too)
    rows: dict[str, int]  # rows per projection table after the rebuild
    seconds: float
