"""The policy-year document: shape, validation with precise locations, defaults and the freeze rule."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from uplift.medical.domain.policy_year import (
    DEFAULT_POLICY_YEAR_DOCUMENT,
    CapBase,
    Category,
    CharityBase,
    FundUsage,
    PolicyYear,
    frozen_change_violations,
)

# The document exactly as API.md shows it (DOMAIN.md §9 defaults).
API_MD_DEFAULTS: dict[str, Any] = {
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

NO_USAGE = FundUsage(supplementary_used=Decimal("0.00"), charity_used=Decimal("0.00"))


def document(**changes: Any) -> dict[str, Any]:
    """A deep copy of the defaults with `section__field=value` changes applied."""
    doc = copy.deepcopy(API_MD_DEFAULTS)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = doc
        for part in parents:
            target = target[part]
        target[leaf] = value
    return doc


def errors_of(doc: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as caught:
        PolicyYear.model_validate(doc)
    return {tuple(error["loc"]): error["type"] for error in caught.value.errors()}


# --- shape and defaults -------------------------------------------------------------------------------


def test_defaults_serialise_to_the_api_md_document_exactly() -> None:
    assert PolicyYear.defaults().to_document() == API_MD_DEFAULTS
    assert DEFAULT_POLICY_YEAR_DOCUMENT == API_MD_DEFAULTS


def test_defaults_hold_decimals_and_enums() -> None:
    params = PolicyYear.defaults()
    assert params.basic.deductible["3"] == Decimal("800.00")
    assert params.basic.ratio["2"] == Decimal("0.70")
    assert params.critical_illness.bands[2].upto is None
    assert params.critical_illness.tilt[Category.TEKUN].uncapped is True
    assert params.assistance[Category.LOW_INCOME].annual_limit == Decimal("30000.00")
    assert params.charity.base is CharityBase.OUT_OF_POLICY
    assert params.supplementary.cap_base is CapBase.IN_POLICY


def test_document_round_trips_through_json() -> None:
    params = PolicyYear.defaults()
    assert PolicyYear.model_validate_json(params.model_dump_json()) == params


def test_money_serialises_with_two_places_and_ratios_as_given() -> None:
    doc = document(basic__annual_cap="150000", basic__repeat_factor="0.50")
    doc["basic"]["deductible"]["1"] = 200
    doc["critical_illness"]["bands"][0]["ratio"] = "0.6"
    out = PolicyYear.model_validate(doc).to_document()
    assert out["basic"]["annual_cap"] == "150000.00"
    assert out["basic"]["deductible"]["1"] == "200.00"
    assert out["basic"]["repeat_factor"] == "0.50"
    assert out["critical_illness"]["bands"][0]["ratio"] == "0.6"


def test_charity_budget_and_low_threshold_are_optional_with_defaults() -> None:
    doc = document()
    del doc["charity"]["budget"]
    del doc["supplementary"]["low_threshold_ratio"]
    params = PolicyYear.model_validate(doc)
    assert params.charity.budget is None
    assert params.supplementary.low_threshold_ratio == Decimal("0.05")


def test_a_charity_budget_may_be_given() -> None:
    params = PolicyYear.model_validate(document(charity__budget="250000.5"))
    assert params.charity.budget == Decimal("250000.50")
    assert params.to_document()["charity"]["budget"] == "250000.50"


def test_policy_year_is_immutable() -> None:
    params = PolicyYear.defaults()
    with pytest.raises(ValidationError):
        params.basic.annual_cap = Decimal("1.00")  # type: ignore[misc]


# --- validation with precise locations ----------------------------------------------------------------


def test_unknown_fields_are_refused_where_they_are() -> None:
    doc = document(basic__copay="0.1")
    doc["extra_line"] = {}
    assert errors_of(doc) == {("basic", "copay"): "extra_forbidden", ("extra_line",): "extra_forbidden"}


def test_a_missing_level_is_reported_on_that_level() -> None:
    doc = document()
    del doc["basic"]["deductible"]["3"]
    assert errors_of(doc) == {("basic", "deductible", "3"): "missing"}


def test_an_unknown_level_is_refused() -> None:
    doc = document()
    doc["basic"]["ratio"]["4"] = "0.5"
    assert errors_of(doc) == {("basic", "ratio", "4", "[key]"): "literal_error"}


@pytest.mark.parametrize(
    ("path", "value", "loc", "kind"),
    [
        (("basic", "ratio", "2"), "1.01", ("basic", "ratio", "2"), "less_than_equal"),
        (("basic", "repeat_factor"), "-0.1", ("basic", "repeat_factor"), "greater_than_equal"),
        (("basic", "deductible", "1"), "-1.00", ("basic", "deductible", "1"), "greater_than_equal"),
        (("basic", "annual_cap"), "100.001", ("basic", "annual_cap"), "decimal_max_places"),
        (("basic", "annual_cap"), "lots", ("basic", "annual_cap"), "decimal_parsing"),
        (("basic", "annual_cap"), "NaN", ("basic", "annual_cap"), "finite_number"),
        (("supplementary", "cap_ratio"), "2", ("supplementary", "cap_ratio"), "less_than_equal"),
        (("supplementary", "budget"), "-5", ("supplementary", "budget"), "greater_than_equal"),
        (("charity", "base"), "everything", ("charity", "base"), "enum"),
        (("supplementary", "cap_base"), "out_of_policy", ("supplementary", "cap_base"), "enum"),
    ],
)
def test_a_bad_value_is_reported_on_its_field(
    path: tuple[str, ...], value: str, loc: tuple[str, ...], kind: str
) -> None:
    doc = document()
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert errors_of(doc) == {loc: kind}


def test_ratio_of_a_band_and_of_a_tilt_must_be_within_zero_and_one() -> None:
    doc = document()
    doc["critical_illness"]["bands"][1]["ratio"] = "1.5"
    doc["critical_illness"]["tilt"]["dibao"]["ratio_bonus"] = "-0.05"
    assert errors_of(doc) == {
        ("critical_illness", "bands", 1, "ratio"): "less_than_equal",
        ("critical_illness", "tilt", "dibao", "ratio_bonus"): "greater_than_equal",
    }


def test_bands_must_ascend() -> None:
    doc = document()
    doc["critical_illness"]["bands"][1]["upto"] = "30000.00"
    assert errors_of(doc) == {("critical_illness", "bands", 1, "upto"): "band_order"}


def test_only_the_last_band_may_be_open() -> None:
    doc = document()
    doc["critical_illness"]["bands"][0]["upto"] = None
    assert errors_of(doc) == {("critical_illness", "bands", 0, "upto"): "band_open"}


def test_the_last_band_must_be_open() -> None:
    doc = document()
    doc["critical_illness"]["bands"][2]["upto"] = "500000.00"
    assert errors_of(doc) == {("critical_illness", "bands", 2, "upto"): "band_closed"}


def test_a_single_open_band_is_enough() -> None:
    params = PolicyYear.model_validate(document(critical_illness__bands=[{"upto": None, "ratio": "0.60"}]))
    assert len(params.critical_illness.bands) == 1


def test_bands_may_not_be_empty() -> None:
    assert errors_of(document(critical_illness__bands=[])) == {("critical_illness", "bands"): "too_short"}


def test_a_band_bound_of_zero_is_refused() -> None:
    doc = document()
    doc["critical_illness"]["bands"][0]["upto"] = "0"
    assert errors_of(doc) == {("critical_illness", "bands", 0, "upto"): "band_order"}


def test_categories_are_dibao_tekun_or_low_income_everywhere() -> None:
    doc = document(basic__deductible_waived=["dibao", "orphan"])
    tilt = {"threshold_factor": "0.5", "ratio_bonus": "0", "uncapped": False}
    doc["critical_illness"]["tilt"]["veteran"] = tilt
    doc["assistance"]["student"] = {"ratio": "0.5", "annual_limit": "1.00"}
    doc["charity"]["categories"] = ["poor"]
    doc["supplementary"]["categories"] = ["tekun", "x"]
    assert errors_of(doc) == {
        ("basic", "deductible_waived", 1): "enum",
        ("critical_illness", "tilt", "veteran", "[key]"): "enum",
        ("assistance", "student", "[key]"): "enum",
        ("charity", "categories", 0): "enum",
        ("supplementary", "categories", 1): "enum",
    }


def test_a_category_listed_twice_is_refused_at_the_repeat() -> None:
    doc = document(supplementary__categories=["dibao", "tekun", "dibao"])
    assert errors_of(doc) == {("supplementary", "categories", 2): "duplicate_category"}


def test_every_fault_of_the_document_is_reported_at_once() -> None:
    doc = document(basic__annual_cap="-1", charity__ratio="3")
    doc["critical_illness"]["bands"][0]["upto"] = None
    del doc["basic"]["ratio"]["1"]
    assert set(errors_of(doc)) == {
        ("basic", "annual_cap"),
        ("basic", "ratio", "1"),
        ("critical_illness", "bands", 0, "upto"),
        ("charity", "ratio"),
    }


def test_required_sections_and_fields_are_reported_missing() -> None:
    doc = document()
    del doc["assistance"]
    del doc["critical_illness"]["tilt"]
    assert errors_of(doc) == {("assistance",): "missing", ("critical_illness", "tilt"): "missing"}


def test_band_errors_carry_a_readable_message() -> None:
    doc = document()
    doc["critical_illness"]["bands"][1]["upto"] = "20000.00"
    with pytest.raises(ValidationError) as caught:
        PolicyYear.model_validate(doc)
    assert caught.value.errors()[0]["msg"] == "bands must ascend: 20000.00 is not above 30000.00"


# --- the freeze rule: on a year with settled claims only the budgets may change -------------------------


def test_an_identical_document_is_no_change() -> None:
    assert frozen_change_violations(PolicyYear.defaults(), PolicyYear.defaults(), NO_USAGE) == []


def test_budgets_may_change_above_what_is_used() -> None:
    new = PolicyYear.model_validate(document(supplementary__budget="2500000.00", charity__budget="900.00"))
    used = FundUsage(supplementary_used=Decimal("2500000.00"), charity_used=Decimal("900.00"))
    assert frozen_change_violations(PolicyYear.defaults(), new, used) == []


def test_a_budget_may_not_go_below_what_is_used() -> None:
    new = PolicyYear.model_validate(document(supplementary__budget="1000.00", charity__budget="10.00"))
    used = FundUsage(supplementary_used=Decimal("1000.01"), charity_used=Decimal("10.50"))
    assert frozen_change_violations(PolicyYear.defaults(), new, used) == [
        "supplementary.budget: 1000.00 is below the 1000.01 already used",
        "charity.budget: 10.00 is below the 10.50 already used",
    ]


def test_an_unlimited_charity_budget_is_never_below_what_is_used() -> None:
    old = PolicyYear.model_validate(document(charity__budget="5000.00"))
    used = FundUsage(supplementary_used=Decimal("0.00"), charity_used=Decimal("4999.00"))
    assert frozen_change_violations(old, PolicyYear.defaults(), used) == []


def test_changing_a_ratio_is_a_violation_naming_the_field() -> None:
    doc = document()
    doc["basic"]["ratio"]["2"] = "0.75"
    violations = frozen_change_violations(PolicyYear.defaults(), PolicyYear.model_validate(doc), NO_USAGE)
    assert violations == ["basic.ratio.2: may not change once a claim of the year is settled (0.70 -> 0.75)"]


def test_changing_a_band_an_enum_and_a_flag_are_all_reported() -> None:
    doc = document(charity__base="remaining")
    doc["critical_illness"]["bands"][0]["upto"] = "35000.00"
    doc["critical_illness"]["tilt"]["tekun"]["uncapped"] = False
    violations = frozen_change_violations(PolicyYear.defaults(), PolicyYear.model_validate(doc), NO_USAGE)
    assert [v.split(":")[0] for v in violations] == [
        "charity.base",
        "critical_illness.bands[0].upto",
        "critical_illness.tilt.tekun.uncapped",
    ]
    assert "(true -> false)" in violations[2]


def test_adding_or_removing_a_rule_is_a_violation() -> None:
    doc = document(basic__deductible_waived=["tekun"])
    del doc["assistance"]["low_income"]
    doc["critical_illness"]["bands"] = doc["critical_illness"]["bands"][1:]
    violations = frozen_change_violations(PolicyYear.defaults(), PolicyYear.model_validate(doc), NO_USAGE)
    fields = [v.split(":")[0] for v in violations]
    assert "assistance.low_income.ratio" in fields
    assert "assistance.low_income.annual_limit" in fields
    assert "basic.deductible_waived" in fields
    assert "critical_illness.bands[2].ratio" in fields  # the band list got shorter
    assert (
        "assistance.low_income.ratio: may not change once a claim of the year is settled (0.60 -> absent)"
        in violations
    )


def test_the_same_value_written_differently_is_no_change() -> None:
    doc = document(basic__repeat_factor="0.50", charity__categories=["low_income", "tekun", "dibao"])
    assert frozen_change_violations(PolicyYear.defaults(), PolicyYear.model_validate(doc), NO_USAGE) == []


def test_the_low_threshold_ratio_is_not_a_budget() -> None:
    new = PolicyYear.model_validate(document(supplementary__low_threshold_ratio="0.10"))
    assert frozen_change_violations(PolicyYear.defaults(), new, NO_USAGE) == [
        "supplementary.low_threshold_ratio: may not change once a claim of the year is settled (0.05 -> 0.10)"
    ]
