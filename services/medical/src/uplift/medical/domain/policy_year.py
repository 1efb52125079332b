"""The parameters of the five lines of defense for one policy year (DOMAIN.md §9, API.md).

`PolicyYear` mirrors the JSON document of `PUT /medical/v1/policy-years/{year}` field for field:
amounts and ratios are `Decimal` (decimal strings accepted), money serialises as a string with two
places, ratios as given. The whole document is validated at once and every error carries the
location of the field at fault, so the API can answer 422 with `errors: [{field, message}]`
straight from the pydantic `ValidationError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

CENT = Decimal("0.01")


class Category(StrEnum):
    """Assistance category of the person's household on the discharge date."""

    DIBAO = "dibao"  # 低保
    TEKUN = "tekun"  # 特困
    LOW_INCOME = "low_income"  # 低收入


class CharityBase(StrEnum):
    """What charity relieves: the out-of-policy cost (自费) only, or everything still unpaid."""

    OUT_OF_POLICY = "out_of_policy"
    REMAINING = "remaining"


class CapBase(StrEnum):
    """What the supplementary insurance caps: the in-policy self-pay, or the whole out-of-pocket."""

    IN_POLICY = "in_policy"
    TOTAL = "total"


HospitalLevelKey = Literal["1", "2", "3"]
HOSPITAL_LEVEL_KEYS: tuple[HospitalLevelKey, ...] = ("1", "2", "3")


def _as_cents(value: Decimal) -> Decimal:
    # `decimal_places=2` already refused sub-cent input: this only turns "400" into "400.00", "-0" into 0.
    return value.quantize(CENT, rounding=ROUND_HALF_UP).copy_abs()


def _without_negative_zero(value: Decimal) -> Decimal:
    return value.copy_abs() if value == 0 else value


Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2), AfterValidator(_as_cents)]
"""A non-negative amount in yuan with at most two decimal places; serialised as e.g. "400.00"."""

Ratio = Annotated[Decimal, Field(ge=0, le=1), AfterValidator(_without_negative_zero)]
"""A ratio in [0, 1], serialised as given ("0.5", "0.70")."""


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _error(loc: tuple[str | int, ...], kind: str, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)


def _raise_if_any(title: str, errors: list[InitErrorDetails]) -> None:
    # A ValidationError raised inside a validator is merged into the outer one with its own locations,
    # which is how cross-field rules report the exact field at fault rather than the enclosing object.
    # They are field validators (not model validators) so that they run, and report, even when a
    # sibling field is invalid: the whole document is checked at once.
    if errors:
        raise ValidationError.from_exception_data(title, errors)


def _each_category_once(categories: list[Category]) -> list[Category]:
    seen: set[Category] = set()
    errors = []
    for index, category in enumerate(categories):
        if category in seen:
            errors.append(_error((index,), "duplicate_category", f"'{category}' is listed twice", category))
        seen.add(category)
    _raise_if_any("categories", errors)
    return categories


def _every_level(per_level: dict[HospitalLevelKey, Decimal]) -> dict[HospitalLevelKey, Decimal]:
    # Unknown keys are already refused by the key type; only the missing levels remain to be reported.
    _raise_if_any(
        "levels",
        [
            _error((level,), "missing", f"level {level} is required (levels are exactly 1, 2 and 3)", None)
            for level in HOSPITAL_LEVEL_KEYS
            if level not in per_level
        ],
    )
    return per_level


Categories = Annotated[list[Category], AfterValidator(_each_category_once)]
PerLevelMoney = Annotated[dict[HospitalLevelKey, Money], AfterValidator(_every_level)]
PerLevelRatio = Annotated[dict[HospitalLevelKey, Ratio], AfterValidator(_every_level)]


class Basic(_Document):
    """Line 1, basic medical insurance (基本医疗保险)."""

    deductible: PerLevelMoney
    repeat_factor: Ratio
    ratio: PerLevelRatio
    annual_cap: Money
    deductible_waived: Categories


class Band(_Document):
    """A band of the critical-illness running total: up to an absolute bound (null = open), at a ratio."""

    upto: Money | None
    ratio: Ratio


def _ascending_with_only_the_last_open(bands: list[Band]) -> list[Band]:
    errors: list[InitErrorDetails] = []
    last = len(bands) - 1
    previous: Decimal | None = None
    for index, band in enumerate(bands):
        if band.upto is None:
            if index != last:
                errors.append(_error((index, "upto"), "band_open", "only the last band may be open", None))
            continue
        if index == last:
            errors.append(
                _error(
                    (index, "upto"),
                    "band_closed",
                    "the last band must be open (upto null) so that every amount falls in a band",
                    str(band.upto),
                )
            )
        if band.upto == 0 or (previous is not None and band.upto <= previous):
            errors.append(
                _error(
                    (index, "upto"),
                    "band_order",
                    f"bands must ascend: {band.upto} is not above {previous or Decimal('0.00')}",
                    str(band.upto),
                )
            )
        previous = band.upto if previous is None else max(previous, band.upto)
    _raise_if_any("bands", errors)
    return bands


class Tilt(_Document):
    """Critical-illness tilt (政策倾斜) for a category: lower threshold, higher ratios, no annual cap."""

    threshold_factor: Ratio
    ratio_bonus: Ratio
    uncapped: bool


class CriticalIllness(_Document):
    """Line 2, critical-illness insurance (大病保险)."""

    threshold: Money
    bands: Annotated[list[Band], Field(min_length=1), AfterValidator(_ascending_with_only_the_last_open)]
    annual_cap: Money
    tilt: dict[Category, Tilt]


class AssistanceRule(_Document):
    """Line 3, government medical assistance (医疗救助) for one category."""

    ratio: Ratio
    annual_limit: Money


class Charity(_Document):
    """Line 4, charity relief (慈善救助)."""

    base: CharityBase
    ratio: Ratio
    annual_limit: Money
    categories: Categories
    budget: Money | None = None  # null: the charity fund is unlimited


class Supplementary(_Document):
    """Line 5, supplementary critical-illness insurance (大病附加保险), a district's yearly fund."""

    cap_ratio: Ratio
    cap_base: CapBase
    budget: Money
    categories: Categories
    low_threshold_ratio: Ratio = Decimal("0.05")


DEFAULT_POLICY_YEAR_DOCUMENT: dict[str, Any] = {
    "basic": {
        "deductible": {"1": "200.00", "2": "400.00", "3": "800.00"},
        "repeat_factor": "0.5",
        "ratio": {"1": "0.90", "2": "0.70", "3": "0.60"},
        "annual_cap": "150000.00",
        "deductible_waived": [],
    },
    "critical_illness": {
        "threshold": "12000.00",
        "bands": [
            {"upto": "30000.00", "ratio": "0.60"},
            {"upto": "100000.00", "ratio": "0.65"},
            {"upto": None, "ratio": "0.75"},
        ],
        "annual_cap": "400000.00",
        "tilt": {
            "dibao": {"threshold_factor": "0.5", "ratio_bonus": "0.05", "uncapped": True},
            "tekun": {"threshold_factor": "0.5", "ratio_bonus": "0.05", "uncapped": True},
        },
    },
    "assistance": {
        "dibao": {"ratio": "0.70", "annual_limit": "50000.00"},
        "tekun": {"ratio": "0.90", "annual_limit": "80000.00"},
        "low_income": {"ratio": "0.60", "annual_limit": "30000.00"},
    },
    "charity": {
        "base": "out_of_policy",
        "ratio": "0.50",
        "annual_limit": "20000.00",
        "categories": ["dibao", "tekun", "low_income"],
        "budget": None,
    },
    "supplementary": {
        "cap_ratio": "0.10",
        "cap_base": "in_policy",
        "budget": "3000000.00",
        "categories": ["dibao", "tekun"],
        "low_threshold_ratio": "0.05",
    },
}
"""The illustrative defaults of DOMAIN.md §9, exactly as API.md shows them."""


class PolicyYear(_Document):
    """The five lines' parameters for one policy year."""

    basic: Basic
    critical_illness: CriticalIllness
    assistance: dict[Category, AssistanceRule]
    charity: Charity
    supplementary: Supplementary

    @classmethod
    def defaults(cls) -> PolicyYear:
        """The DOMAIN.md default parameters."""
        return cls.model_validate(DEFAULT_POLICY_YEAR_DOCUMENT)

    def to_document(self) -> dict[str, Any]:
        """The JSON document (money with two places, ratios as given)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class FundUsage:
    """How much of the year's funds settled claims have used so far."""

    supplementary_used: Decimal
    charity_used: Decimal


# Once a claim is settled the year's rules are history: only the funds' sizes may still move.
_BUDGET_PATHS = frozenset({"supplementary.budget", "charity.budget"})


def _leaves(value: Any, path: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _leaves(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        for index, item in enumerate(value):
            _leaves(item, f"{path}[{index}]", out)
    elif isinstance(value, list):
        # Category lists are sets: reordering them changes nothing.
        out[path] = tuple(sorted(str(item) for item in value))
    else:
        out[path] = value
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def frozen_change_violations(old: PolicyYear, new: PolicyYear, used: FundUsage) -> list[str]:
    """What `new` changes that a year with settled claims forbids; empty when the change is allowed.

    Only `supplementary.budget` and `charity.budget` may change, and never below what the year has
    already used. Values are compared as numbers ("0.7" equals "0.70") and category lists as sets.
    Each entry starts with the field's path, e.g. `"basic.ratio.2: may not change ... (0.70 -> 0.75)"`.
    """
    before = _leaves(old.model_dump(mode="python"), "", {})
    after = _leaves(new.model_dump(mode="python"), "", {})
    violations = []
    missing = object()
    for path in sorted(before.keys() | after.keys()):
        if path in _BUDGET_PATHS:
            continue
        was, now = before.get(path, missing), after.get(path, missing)
        if was != now:
            shown_was = "absent" if was is missing else _shown(was)
            shown_now = "absent" if now is missing else _shown(now)
            violations.append(
                f"{path}: may not change once a claim of the year is settled ({shown_was} -> {shown_now})"
            )
    if new.supplementary.budget < used.supplementary_used:
        violations.append(
            f"supplementary.budget: {new.supplementary.budget} is below the "
            f"{used.supplementary_used} already used"
        )
    if new.charity.budget is not None and new.charity.budget < used.charity_used:
        violations.append(
            f"charity.budget: {new.charity.budget} is below the {used.charity_used} already used"
        )
    return violations
