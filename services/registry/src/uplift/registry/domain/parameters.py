"""Registry parameters: the dibao line, windows, quotas, thresholds and rewards, versioned by effective date.

A district changes them by storing a *version*: an effective date and the values it changes (a partial,
possibly nested document such as `{"quotas": {"section": 3}}`). The parameters in force on a date are the
built-in defaults with every version effective on or before that date laid over them in date order.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Sex = Literal["male", "female"]
CadreRank = Literal["district_leader", "division", "section", "staff"]

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Ratio = Annotated[Decimal, Field(gt=0, le=1, max_digits=5, decimal_places=4)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetirementAge(_Frozen):
    """Statutory retirement age by sex; working age ends here (districts raise it as the reform does)."""

    male: int = Field(default=60, ge=40, le=80)
    female: int = Field(default=55, ge=40, le=80)

    def for_sex(self, sex: Sex) -> int:
        return self.male if sex == "male" else self.female


class PairingQuotas(_Frozen):
    """Households a helper may take (党员包户), by cadre rank and for a party branch."""

    district_leader: int = Field(default=5, ge=0)
    division: int = Field(default=5, ge=0)
    section: int = Field(default=2, ge=0)
    staff: int = Field(default=1, ge=0)
    branch: int = Field(default=2, ge=0)

    def for_cadre(self, rank: CadreRank) -> int:
        quota: int = getattr(self, rank)
        return quota


class AlertThresholds(_Frozen):
    """Thresholds of the monitoring rules (动态监测)."""

    income_drop_ratio: Ratio = Decimal("0.30")
    medical_hardship_ratio: Ratio = Decimal("0.50")
    pension_gap_years: int = Field(default=5, ge=0, le=20)


def _default_reward_amounts() -> dict[int, Decimal]:
    return {1: Decimal("1000.00"), 2: Decimal("1000.00"), 3: Decimal("1000.00")}


class Parameters(_Frozen):
    """Every registry parameter as in force on a date; `effective_from` is None for the built-in defaults."""

    effective_from: date | None = None
    dibao_line: Money = Decimal("900.00")  # 低保标准, monthly per person
    transition_months: int = Field(default=6, ge=0, le=60)  # 渐退期
    monitoring_years: int = Field(default=3, ge=0, le=20)
    undo_exit_days: int = Field(default=30, ge=0, le=366)
    visit_interval_days: int = Field(default=30, ge=1, le=366)
    retirement_age: RetirementAge = RetirementAge()
    working_age_min: int = Field(default=16, ge=0, le=30)
    quotas: PairingQuotas = PairingQuotas()
    reward_amounts: dict[int, Money] = Field(default_factory=_default_reward_amounts)  # 脱贫激励 by year 1–3
    alert_thresholds: AlertThresholds = AlertThresholds()

    @field_validator("reward_amounts")
    @classmethod
    def _years_one_to_three(cls, amounts: dict[int, Decimal]) -> dict[int, Decimal]:
        if set(amounts) != {1, 2, 3}:
            raise ValueError("reward_amounts needs exactly the year indexes 1, 2 and 3")
        return dict(sorted(amounts.items()))

    def reward_amount(self, year_index: int) -> Decimal:
        return self.reward_amounts[year_index]

    def is_working_age(self, age: int, sex: Sex) -> bool:
        return self.working_age_min <= age < self.retirement_age.for_sex(sex)


DEFAULT_PARAMETERS = Parameters()


class ParameterVersion(_Frozen):
    """One stored change: the values it sets (a partial document) from `effective_from` on."""

    effective_from: date
    values: dict[str, Any]

    @field_validator("values")
    @classmethod
    def _known_and_valid(cls, values: dict[str, Any]) -> dict[str, Any]:
        if "effective_from" in values:
            raise ValueError("effective_from is the version's own field, not one of its values")
        # Laid over the defaults, a version must make a valid whole: unknown names and bad values fail here,
        # when the version is stored, rather than when some later date is asked for.
        _overlay(DEFAULT_PARAMETERS, values, effective_from=None)
        return values


def _deep_merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for raw_key, value in changes.items():
        key = str(raw_key)  # JSON keys are strings; `reward_amounts` may arrive keyed by int or by "1"
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _overlay(base: Parameters, values: Mapping[str, Any], effective_from: date | None) -> Parameters:
    document = _deep_merge(base.model_dump(mode="json"), values)
    document["effective_from"] = effective_from
    return Parameters.model_validate(document)


class ParameterHistory:
    """The stored versions, answering which parameters were in force on a date."""

    def __init__(self, versions: Iterable[ParameterVersion] = ()) -> None:
        ordered = sorted(versions, key=lambda version: version.effective_from)
        dates = [version.effective_from for version in ordered]
        if len(set(dates)) != len(dates):
            raise ValueError("two parameter versions share an effective date")
        self._dates = dates
        self._in_force: list[Parameters] = []
        current = DEFAULT_PARAMETERS
        for version in ordered:
            current = _overlay(current, version.values, version.effective_from)
            self._in_force.append(current)

    @property
    def change_dates(self) -> tuple[date, ...]:
        return tuple(self._dates)

    def in_force(self, on: date) -> Parameters:
        """Parameters in force on `on`: the defaults before the first version."""
        position = bisect.bisect_right(self._dates, on)
        return self._in_force[position - 1] if position else DEFAULT_PARAMETERS

    def periods(self, first_day: date, last_day: date) -> list[tuple[date, date, Parameters]]:
        """The versions in force over `first_day`..`last_day` (inclusive), each with the days it covers."""
        if last_day < first_day:
            return []
        starts = [first_day, *(day for day in self._dates if first_day < day <= last_day)]
        ends = [date.fromordinal(day.toordinal() - 1) for day in starts[1:]] + [last_day]
        return [(start, end, self.in_force(start)) for start, end in zip(starts, ends, strict=True)]
