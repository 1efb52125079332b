"""The five lines of defense (DOMAIN.md §9): worked examples, edge cases and properties."""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uplift.medical.domain.adjudication import (
    Accumulators,
    Adjudication,
    ClaimFacts,
    FundDeltas,
    FundState,
    HospitalLevel,
    Payer,
    adjudicate_claim,
    crossed_low_threshold,
    reverse_claim,
    round_to_cent,
)
from uplift.medical.domain.policy_year import DEFAULT_POLICY_YEAR_DOCUMENT, Category, PolicyYear

D = Decimal
DEFAULTS = PolicyYear.defaults()
PLENTY = FundState(supplementary_remaining=D("3000000.00"), charity_remaining=None)
DIBAO, TEKUN, LOW_INCOME = Category.DIBAO, Category.TEKUN, Category.LOW_INCOME
PAYERS = [Payer.BASIC, Payer.CRITICAL_ILLNESS, Payer.ASSISTANCE, Payer.CHARITY, Payer.SUPPLEMENTARY]


def claim(
    level: HospitalLevel, total: str, in_policy: str, category: Category | None = None, insured: bool = True
) -> ClaimFacts:
    return ClaimFacts(
        hospital_level=level,
        total=D(total),
        in_policy=D(in_policy),
        category=category,
        medically_insured=insured,
    )


def params(**changes: Any) -> PolicyYear:
    """The defaults with `section__field=value` changes."""
    doc = copy.deepcopy(DEFAULT_POLICY_YEAR_DOCUMENT)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = doc
        for part in parents:
            target = target[part]
        target[leaf] = value
    return PolicyYear.model_validate(doc)


def paid(adjudication: Adjudication) -> dict[str, str]:
    """Each line's amount as a string, so a wrong number of places also fails."""
    return {line.payer.value: str(line.amount) for line in adjudication.lines}


def accumulators(
    admissions: int = 0,
    basic_paid: str = "0.00",
    ci_base: str = "0.00",
    ci_paid: str = "0.00",
    assistance_paid: str = "0.00",
    charity_paid: str = "0.00",
) -> Accumulators:
    return Accumulators(
        admissions, D(basic_paid), D(ci_base), D(ci_paid), D(assistance_paid), D(charity_paid)
    )


# --- the worked examples of DOMAIN.md §9, to the cent ------------------------------------------------------


def test_case_1_dibao_level_2_30000_of_which_26000_in_policy() -> None:
    result = adjudicate_claim(claim(2, "30000.00", "26000.00", DIBAO), DEFAULTS, Accumulators.zero(), PLENTY)

    assert paid(result) == {
        "basic": "17920.00",
        "critical_illness": "1352.00",
        "assistance": "4709.60",
        "charity": "2000.00",
        "supplementary": "0.00",
    }
    assert str(result.out_of_pocket) == "4018.40"
    assert str(result.deductible) == "400.00"
    assert str(result.out_of_policy) == "4000.00"
    assert str(result.oop_ratio) == "0.1339"
    assert str(result.in_policy_self_pay) == "2018.40"
    assert result.cap_met is True
    assert result.fund_short is False
    ci_basis = result.lines[1].basis
    assert (ci_basis["threshold"], ci_basis["running_total_before"], ci_basis["running_total_after"]) == (
        "6000.00",
        "0.00",
        "8080.00",
    )
    assert ci_basis["bands"].startswith("30000.00:0.65")
    assert result.lines[0].basis == {
        "in_policy": "26000.00",
        "hospital_level": "2",
        "admission": "1",
        "deductible": "400.00",
        "ratio": "0.70",
        "annual_cap_left": "150000.00",
    }
    assert result.fund_deltas == FundDeltas(supplementary=D("0.00"), charity=D("2000.00"))


def test_case_2a_dibao_level_3_small_bill_gets_the_supplementary_top_up() -> None:
    result = adjudicate_claim(claim(3, "10000.00", "9000.00", DIBAO), DEFAULTS, Accumulators.zero(), PLENTY)

    assert paid(result) == {
        "basic": "4920.00",
        "critical_illness": "0.00",
        "assistance": "2856.00",
        "charity": "500.00",
        "supplementary": "324.00",
    }
    assert str(result.out_of_pocket) == "1400.00"
    assert str(result.deductible) == "800.00"
    assert str(result.in_policy_self_pay) == "900.00"  # exactly 10% of 9000.00
    assert result.cap_met is True
    assert result.lines[1].basis["running_total_after"] == "4080.00"
    assert result.accumulators == accumulators(1, "4920.00", "4080.00", "0.00", "2856.00", "500.00")
    assert result.fund_deltas == FundDeltas(supplementary=D("324.00"), charity=D("500.00"))


def test_case_2b_second_admission_continues_from_2a_accumulators() -> None:
    first = adjudicate_claim(claim(3, "10000.00", "9000.00", DIBAO), DEFAULTS, Accumulators.zero(), PLENTY)
    result = adjudicate_claim(claim(3, "20000.00", "18500.00", DIBAO), DEFAULTS, first.accumulators, PLENTY)

    assert paid(result) == {
        "basic": "10860.00",
        "critical_illness": "3718.00",
        "assistance": "2745.40",
        "charity": "750.00",
        "supplementary": "0.00",
    }
    assert str(result.out_of_pocket) == "1926.60"
    assert str(result.deductible) == "400.00"  # 800 × repeat_factor 0.5
    basis = result.lines[1].basis
    assert (basis["running_total_before"], basis["running_total_after"]) == ("4080.00", "11720.00")
    assert str(result.in_policy_self_pay) == "1176.60"
    assert result.cap_met is True
    assert result.accumulators == accumulators(2, "15780.00", "11720.00", "3718.00", "5601.40", "1250.00")


def test_case_3_person_with_no_category_below_the_critical_illness_threshold() -> None:
    result = adjudicate_claim(claim(2, "30000.00", "26000.00"), DEFAULTS, Accumulators.zero(), PLENTY)

    assert paid(result) == {
        "basic": "17920.00",
        "critical_illness": "0.00",
        "assistance": "0.00",
        "charity": "0.00",
        "supplementary": "0.00",
    }
    assert str(result.out_of_pocket) == "12080.00"
    assert str(result.in_policy_self_pay) == "8080.00"
    assert result.lines[1].basis["threshold"] == "12000.00"  # no tilt
    assert result.cap_met is None  # outside the supplementary categories
    assert result.fund_short is False
    assert str(result.oop_ratio) == "0.4027"


# --- line 1: basic medical insurance -------------------------------------------------------------------


def test_a_bill_below_the_deductible_gets_nothing_from_basic_insurance() -> None:
    result = adjudicate_claim(claim(3, "700.00", "650.00"), DEFAULTS, Accumulators.zero(), PLENTY)
    assert paid(result)["basic"] == "0.00"
    assert str(result.deductible) == "800.00"
    assert str(result.out_of_pocket) == "700.00"
    assert result.accumulators.ci_base == D("650.00")
    assert result.accumulators.admissions == 1


def test_second_admission_halves_the_deductible() -> None:
    result = adjudicate_claim(claim(1, "2000.00", "2000.00"), DEFAULTS, accumulators(admissions=1), PLENTY)
    assert str(result.deductible) == "100.00"
    assert paid(result)["basic"] == "1710.00"  # (2000 − 100) × 0.90
    assert result.lines[0].basis["admission"] == "2"


def test_third_admission_keeps_the_reduced_deductible() -> None:
    result = adjudicate_claim(claim(2, "2000.00", "2000.00"), DEFAULTS, accumulators(admissions=2), PLENTY)
    assert str(result.deductible) == "200.00"


def test_repeat_factor_is_rounded_half_up_to_the_cent() -> None:
    year = params(basic__repeat_factor="0.333")
    result = adjudicate_claim(claim(1, "1000.00", "1000.00"), year, accumulators(admissions=1), PLENTY)
    assert str(result.deductible) == "66.60"  # 200 × 0.333 = 66.6


def test_waived_category_pays_no_deductible() -> None:
    year = params(basic__deductible_waived=["tekun"])
    result = adjudicate_claim(claim(3, "5000.00", "5000.00", TEKUN), year, Accumulators.zero(), PLENTY)
    assert str(result.deductible) == "0.00"
    assert paid(result)["basic"] == "3000.00"  # 5000 × 0.60
    assert result.lines[0].basis["deductible_waived"] == "true"


def test_waiver_applies_only_to_listed_categories() -> None:
    year = params(basic__deductible_waived=["tekun"])
    result = adjudicate_claim(claim(3, "5000.00", "5000.00", DIBAO), year, Accumulators.zero(), PLENTY)
    assert str(result.deductible) == "800.00"


def test_basic_is_rounded_half_up_not_to_even() -> None:
    # (400.15 − 400) × 0.70 = 0.105 → 0.11 (banker's rounding would give 0.10)
    result = adjudicate_claim(claim(2, "400.15", "400.15"), DEFAULTS, Accumulators.zero(), PLENTY)
    assert paid(result)["basic"] == "0.11"
    assert str(result.out_of_pocket) == "400.04"


def test_basic_stops_at_the_annual_cap() -> None:
    acc = accumulators(admissions=3, basic_paid="149000.00", ci_base="500000.00", ci_paid="400000.00")
    result = adjudicate_claim(claim(1, "10000.00", "10000.00"), DEFAULTS, acc, PLENTY)
    assert paid(result)["basic"] == "1000.00"
    assert result.lines[0].basis["annual_cap_left"] == "1000.00"
    assert result.accumulators.basic_paid == D("150000.00")


def test_annual_caps_already_reached_pay_nothing_more() -> None:
    acc = accumulators(
        admissions=5,
        basic_paid="150000.00",
        ci_base="900000.00",
        ci_paid="400000.00",
        assistance_paid="30000.00",
        charity_paid="20000.00",
    )
    result = adjudicate_claim(claim(2, "8000.00", "6000.00", LOW_INCOME), DEFAULTS, acc, PLENTY)
    assert paid(result) == {
        "basic": "0.00",
        "critical_illness": "0.00",
        "assistance": "0.00",
        "charity": "0.00",
        "supplementary": "0.00",
    }
    assert str(result.out_of_pocket) == "8000.00"
    assert result.accumulators.ci_base == D("906000.00")


def test_tilt_removes_the_critical_illness_cap_but_not_the_others() -> None:
    acc = accumulators(
        admissions=5,
        basic_paid="150000.00",
        ci_base="900000.00",
        ci_paid="400000.00",
        assistance_paid="50000.00",
        charity_paid="20000.00",
    )
    result = adjudicate_claim(claim(2, "8000.00", "6000.00", DIBAO), DEFAULTS, acc, PLENTY)
    assert paid(result)["critical_illness"] == "4800.00"  # top band 0.75 + 0.05, uncapped
    assert result.lines[1].basis["annual_cap_left"] == "unlimited"
    assert paid(result)["assistance"] == "0.00"
    assert paid(result)["charity"] == "0.00"
    assert paid(result)["supplementary"] == "600.00"  # 1200 self-pay capped at 600
    assert result.accumulators.ci_paid == D("404800.00")


# --- line 2: critical-illness insurance ----------------------------------------------------------------


def test_second_claim_crosses_the_critical_illness_threshold() -> None:
    first = adjudicate_claim(claim(2, "30000.00", "26000.00"), DEFAULTS, Accumulators.zero(), PLENTY)
    assert paid(first)["critical_illness"] == "0.00"

    second = adjudicate_claim(claim(2, "14400.00", "14400.00"), DEFAULTS, first.accumulators, PLENTY)
    # deductible 200; basic (14400 − 200) × 0.70 = 9940; s1 4460; running total 8080 → 12540; 540 × 0.60
    assert paid(second)["basic"] == "9940.00"
    assert paid(second)["critical_illness"] == "324.00"
    assert second.accumulators.ci_base == D("12540.00")


def test_critical_illness_spanning_two_bands_pays_each_at_its_ratio() -> None:
    acc = accumulators(admissions=1, ci_base="28000.00", ci_paid="9600.00", basic_paid="10000.00")
    result = adjudicate_claim(claim(3, "10000.00", "10000.00"), DEFAULTS, acc, PLENTY)
    # deductible 400; basic 9600 × 0.60 = 5760; s1 4240; 28000 → 32240: 2000 × 0.60 + 2240 × 0.65
    assert paid(result)["basic"] == "5760.00"
    assert paid(result)["critical_illness"] == "2656.00"


def test_critical_illness_stops_at_its_annual_cap_for_a_person_without_tilt() -> None:
    acc = accumulators(admissions=1, ci_base="200000.00", ci_paid="399000.00")
    result = adjudicate_claim(claim(3, "50000.00", "50000.00", LOW_INCOME), DEFAULTS, acc, PLENTY)
    # s1 = 50000 − (49600 × 0.60) = 20240, × 0.75 = 15180 — but only 1000 is left under the cap
    assert paid(result)["critical_illness"] == "1000.00"
    assert result.lines[1].basis["annual_cap_left"] == "1000.00"


def test_tekun_tilt_halves_the_threshold_and_raises_every_band() -> None:
    result = adjudicate_claim(claim(3, "100000.00", "90000.00", TEKUN), DEFAULTS, Accumulators.zero(), PLENTY)
    # basic (90000 − 800) × 0.60 = 53520; s1 36480; 6000 → 30000 at 0.65 = 15600; 30000 → 36480 at 0.70 = 4536
    assert paid(result) == {
        "basic": "53520.00",
        "critical_illness": "20136.00",
        "assistance": "14709.60",  # 16344 × 0.90
        "charity": "5000.00",
        "supplementary": "0.00",  # 1634.40 is under the 9000.00 cap
    }
    assert str(result.out_of_pocket) == "6634.40"
    untilted = adjudicate_claim(claim(3, "100000.00", "90000.00"), DEFAULTS, Accumulators.zero(), PLENTY)
    assert paid(untilted)["critical_illness"] == "15012.00"  # 18000 × 0.60 + 6480 × 0.65


def test_tilted_ratio_is_capped_at_one() -> None:
    year = params(
        critical_illness__bands=[{"upto": "30000.00", "ratio": "0.98"}, {"upto": None, "ratio": "1"}],
    )
    acc = accumulators(ci_base="10000.00")
    result = adjudicate_claim(claim(1, "1000.00", "1000.00", DIBAO, insured=True), year, acc, PLENTY)
    # deductible 200, basic 720, s1 280 entirely above the 6000 threshold at min(1, 0.98 + 0.05) = 1
    assert paid(result)["critical_illness"] == "280.00"
    assert result.lines[1].basis["bands"] == "30000.00:1, open:1"


def test_bands_wholly_below_the_threshold_pay_nothing() -> None:
    year = params(
        critical_illness__threshold="20000.00",
        critical_illness__bands=[
            {"upto": "10000.00", "ratio": "0.90"},
            {"upto": "30000.00", "ratio": "0.50"},
            {"upto": None, "ratio": "0.80"},
        ],
    )
    acc = accumulators(ci_base="15000.00")
    result = adjudicate_claim(claim(1, "20200.00", "20200.00"), year, acc, PLENTY)
    # basic (20200 − 200) × 0.90 = 18000; s1 2200; 15000 → 17200 all below 20000
    assert paid(result)["critical_illness"] == "0.00"
    acc = accumulators(ci_base="19000.00")
    result = adjudicate_claim(claim(1, "20200.00", "20200.00"), year, acc, PLENTY)
    # 19000 → 21200: only 1200 above the threshold, at the straddling band's 0.50
    assert paid(result)["critical_illness"] == "600.00"


# --- line 3: government medical assistance -------------------------------------------------------------


def test_a_category_without_an_assistance_rule_gets_none() -> None:
    doc_assistance = {"dibao": {"ratio": "0.70", "annual_limit": "50000.00"}}
    year = params(assistance=doc_assistance)
    result = adjudicate_claim(claim(2, "30000.00", "26000.00", LOW_INCOME), year, Accumulators.zero(), PLENTY)
    assert paid(result) == {
        "basic": "17920.00",
        "critical_illness": "0.00",
        "assistance": "0.00",
        "charity": "2000.00",
        "supplementary": "0.00",
    }
    assert result.lines[2].basis["reason"] == "no_assistance_rule"
    assert result.cap_met is None


def test_assistance_stops_at_the_category_annual_limit() -> None:
    acc = accumulators(assistance_paid="49000.00")
    result = adjudicate_claim(claim(2, "30000.00", "26000.00", DIBAO), DEFAULTS, acc, PLENTY)
    assert paid(result)["assistance"] == "1000.00"
    # the supplementary insurance makes up for the limit: s3 5728 capped at 2600
    assert paid(result)["supplementary"] == "3128.00"
    assert str(result.in_policy_self_pay) == "2600.00"


# --- line 4: charity -----------------------------------------------------------------------------------


def test_out_of_policy_only_bill() -> None:
    result = adjudicate_claim(claim(2, "5000.00", "0.00", DIBAO), DEFAULTS, Accumulators.zero(), PLENTY)
    assert paid(result) == {
        "basic": "0.00",
        "critical_illness": "0.00",
        "assistance": "0.00",
        "charity": "2500.00",
        "supplementary": "0.00",
    }
    assert str(result.out_of_pocket) == "2500.00"
    assert str(result.in_policy_self_pay) == "0.00"
    assert result.cap_met is True
    assert result.accumulators.ci_base == D("0.00")


def test_charity_base_remaining_relieves_everything_unpaid() -> None:
    year = params(charity__base="remaining")
    result = adjudicate_claim(claim(2, "30000.00", "26000.00", DIBAO), year, Accumulators.zero(), PLENTY)
    # s3 2018.40 + out-of-policy 4000 = 6018.40, half of it
    assert paid(result)["charity"] == "3009.20"
    assert paid(result)["supplementary"] == "0.00"
    assert str(result.in_policy_self_pay) == "0.00"
    assert str(result.out_of_pocket) == "3009.20"
    assert result.lines[3].basis["base_amount"] == "6018.40"


def test_charity_base_remaining_counts_charity_against_the_in_policy_self_pay() -> None:
    year = params(charity__base="remaining")
    acc = accumulators(charity_paid="19900.00")
    result = adjudicate_claim(claim(3, "10000.00", "9000.00", DIBAO), year, acc, PLENTY)
    # s3 1224; charity limited to 100; s3' 1124; cap 900 → supplementary 224
    assert paid(result)["charity"] == "100.00"
    assert paid(result)["supplementary"] == "224.00"
    assert str(result.in_policy_self_pay) == "900.00"
    assert str(result.out_of_pocket) == "1900.00"


def test_charity_stops_at_the_personal_annual_limit() -> None:
    acc = accumulators(charity_paid="19000.00")
    result = adjudicate_claim(claim(2, "30000.00", "26000.00", DIBAO), DEFAULTS, acc, PLENTY)
    assert paid(result)["charity"] == "1000.00"


def test_charity_stops_at_what_its_fund_has_left() -> None:
    funds = FundState(supplementary_remaining=D("3000000.00"), charity_remaining=D("300.00"))
    result = adjudicate_claim(claim(2, "30000.00", "26000.00", DIBAO), DEFAULTS, Accumulators.zero(), funds)
    assert paid(result)["charity"] == "300.00"
    assert result.charity_fund_short is True
    assert result.fund_short is False
    assert result.lines[3].basis["fund_remaining"] == "300.00"


def test_a_person_with_no_category_gets_no_charity() -> None:
    result = adjudicate_claim(claim(2, "30000.00", "20000.00"), DEFAULTS, Accumulators.zero(), PLENTY)
    assert paid(result)["charity"] == "0.00"
    assert result.lines[3].basis["reason"] == "no_category"


# --- line 5: supplementary critical-illness insurance --------------------------------------------------


def test_supplementary_fund_short_leaves_the_cap_unmet_and_flags_the_claim() -> None:
    funds = FundState(supplementary_remaining=D("100.00"), charity_remaining=None)
    result = adjudicate_claim(claim(3, "10000.00", "9000.00", DIBAO), DEFAULTS, Accumulators.zero(), funds)
    assert paid(result)["supplementary"] == "100.00"
    assert result.fund_short is True
    assert result.cap_met is False
    assert str(result.in_policy_self_pay) == "1124.00"
    assert str(result.out_of_pocket) == "1624.00"
    assert result.fund_deltas.supplementary == D("100.00")


def test_supplementary_fund_exhausted_pays_nothing() -> None:
    funds = FundState(supplementary_remaining=D("0.00"), charity_remaining=None)
    result = adjudicate_claim(claim(3, "10000.00", "9000.00", DIBAO), DEFAULTS, Accumulators.zero(), funds)
    assert paid(result)["supplementary"] == "0.00"
    assert result.fund_short is True
    assert result.cap_met is False
    assert result.lines[4].basis["need"] == "324.00"


def test_an_empty_fund_does_not_matter_when_nothing_is_needed() -> None:
    funds = FundState(supplementary_remaining=D("0.00"), charity_remaining=None)
    result = adjudicate_claim(claim(2, "30000.00", "26000.00", DIBAO), DEFAULTS, Accumulators.zero(), funds)
    assert result.fund_short is False
    assert result.cap_met is True


def test_cap_base_total_caps_the_whole_out_of_pocket() -> None:
    year = params(supplementary__cap_base="total")
    result = adjudicate_claim(claim(2, "30000.00", "26000.00", DIBAO), year, Accumulators.zero(), PLENTY)
    # capped: 2018.40 + 4000 − 2000 = 4018.40; cap 3000.00 → supplementary 1018.40, all on in-policy self-pay
    assert paid(result)["supplementary"] == "1018.40"
    assert str(result.out_of_pocket) == "3000.00"
    assert str(result.in_policy_self_pay) == "1000.00"
    assert result.cap_met is True
    basis = result.lines[4].basis
    assert (basis["cap"], basis["to_in_policy"], basis["to_out_of_policy"]) == ("3000.00", "1018.40", "0.00")


def test_cap_base_total_pays_in_policy_self_pay_first_then_out_of_policy() -> None:
    year = params(supplementary__cap_base="total")
    result = adjudicate_claim(claim(1, "20000.00", "2000.00", DIBAO), year, Accumulators.zero(), PLENTY)
    # basic 1620; s1 380; assistance 266; s3 114; charity 9000; capped 9114; cap 2000 → 7114
    assert paid(result) == {
        "basic": "1620.00",
        "critical_illness": "0.00",
        "assistance": "266.00",
        "charity": "9000.00",
        "supplementary": "7114.00",
    }
    basis = result.lines[4].basis
    assert (basis["to_in_policy"], basis["to_out_of_policy"]) == ("114.00", "7000.00")
    assert str(result.in_policy_self_pay) == "0.00"
    assert str(result.out_of_pocket) == "2000.00"
    assert result.cap_met is True


def test_cap_base_total_with_a_short_fund() -> None:
    year = params(supplementary__cap_base="total")
    funds = FundState(supplementary_remaining=D("18.40"), charity_remaining=None)
    result = adjudicate_claim(claim(2, "30000.00", "26000.00", DIBAO), year, Accumulators.zero(), funds)
    assert paid(result)["supplementary"] == "18.40"
    assert str(result.out_of_pocket) == "4000.00"
    assert result.cap_met is False
    assert result.fund_short is True


def test_supplementary_is_only_for_its_categories() -> None:
    result = adjudicate_claim(
        claim(3, "10000.00", "9000.00", LOW_INCOME), DEFAULTS, Accumulators.zero(), PLENTY
    )
    assert paid(result)["supplementary"] == "0.00"
    assert result.cap_met is None
    assert result.fund_short is False
    assert result.lines[4].basis == {"reason": "category_not_eligible"}


# --- not medically insured -----------------------------------------------------------------------------


def test_a_person_not_medically_insured_gets_nothing_from_lines_1_and_2() -> None:
    result = adjudicate_claim(
        claim(2, "30000.00", "26000.00", DIBAO, insured=False), DEFAULTS, Accumulators.zero(), PLENTY
    )
    # s2 = 26000; assistance 18200; s3 7800; charity 2000; cap 2600 → supplementary 5200
    assert paid(result) == {
        "basic": "0.00",
        "critical_illness": "0.00",
        "assistance": "18200.00",
        "charity": "2000.00",
        "supplementary": "5200.00",
    }
    assert str(result.out_of_pocket) == "4600.00"
    assert str(result.deductible) == "0.00"
    assert str(result.in_policy_self_pay) == "2600.00"
    assert result.lines[0].basis["reason"] == "not_medically_insured"
    assert result.lines[1].basis["reason"] == "not_medically_insured"
    # The admission counts; the uninsured self-pay is not part of the critical-illness running total.
    assert result.accumulators == accumulators(1, "0.00", "0.00", "0.00", "18200.00", "2000.00")
    assert result.ci_base_added == D("0.00")


def test_an_uninsured_person_without_category_pays_everything() -> None:
    result = adjudicate_claim(
        claim(1, "1234.56", "1000.00", insured=False), DEFAULTS, Accumulators.zero(), PLENTY
    )
    assert result.out_of_pocket == D("1234.56")
    assert str(result.oop_ratio) == "1.0000"


# --- inputs, reversal and the low-fund signal -----------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "total", "in_policy"),
    [
        (2, "0.00", "0.00"),
        (2, "100.00", "100.01"),
        (2, "100.001", "1.00"),
        (4, "100.00", "1.00"),
        (2, "-5", "0"),
    ],
)
def test_claim_facts_refuse_impossible_figures(level: Any, total: str, in_policy: str) -> None:
    with pytest.raises(ValueError):
        ClaimFacts(level, D(total), D(in_policy), None, True)


def test_accumulators_refuse_negative_figures() -> None:
    with pytest.raises(ValueError):
        accumulators(basic_paid="-0.01")
    with pytest.raises(ValueError):
        accumulators(admissions=-1)


def test_reversing_an_earlier_claim_leaves_the_later_one_settled() -> None:
    first = adjudicate_claim(claim(3, "10000.00", "9000.00", DIBAO), DEFAULTS, Accumulators.zero(), PLENTY)
    second = adjudicate_claim(claim(3, "20000.00", "18500.00", DIBAO), DEFAULTS, first.accumulators, PLENTY)
    after = reverse_claim(second.accumulators, first)
    assert after == accumulators(1, "10860.00", "7640.00", "3718.00", "2745.40", "750.00")
    assert reverse_claim(after, second) == Accumulators.zero()


def test_reversing_a_claim_twice_is_refused() -> None:
    first = adjudicate_claim(claim(3, "10000.00", "9000.00", DIBAO), DEFAULTS, Accumulators.zero(), PLENTY)
    once = reverse_claim(first.accumulators, first)
    assert once == Accumulators.zero()
    with pytest.raises(ValueError, match="do not contain this claim"):
        reverse_claim(once, first)


def test_low_fund_is_signalled_once_when_the_remainder_crosses_the_line() -> None:
    budget, ratio = D("3000000.00"), D("0.05")  # the line is 150000.00
    assert crossed_low_threshold(budget, D("150000.00"), D("149999.99"), ratio) is True
    assert crossed_low_threshold(budget, D("149999.99"), D("100000.00"), ratio) is False
    assert crossed_low_threshold(budget, D("200000.00"), D("150000.00"), ratio) is False


def test_round_to_cent_is_half_up() -> None:
    assert round_to_cent(D("2.345")) == D("2.35")
    assert round_to_cent(D("2.3449")) == D("2.34")


# --- properties ----------------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
YEARS = {
    (charity_base, cap_base, charity_budget): params(
        charity__base=charity_base, supplementary__cap_base=cap_base, charity__budget=charity_budget
    )
    for charity_base in ("out_of_policy", "remaining")
    for cap_base in ("in_policy", "total")
    for charity_budget in (None, "50000.00")
}


def cents(max_value: int) -> st.SearchStrategy[Decimal]:
    return st.integers(min_value=0, max_value=max_value).map(lambda c: D(c).scaleb(-2).quantize(D("0.01")))


@st.composite
def claims(draw: st.DrawFn) -> ClaimFacts:
    total = draw(cents(30_000_000).filter(lambda amount: amount > 0))
    in_policy = draw(
        st.one_of(st.just(total), st.just(D("0.00")), cents(30_000_000).map(lambda a: min(a, total)))
    )
    return ClaimFacts(
        hospital_level=draw(st.sampled_from([1, 2, 3])),
        total=total,
        in_policy=in_policy,
        category=draw(st.sampled_from([None, DIBAO, TEKUN, LOW_INCOME])),
        medically_insured=draw(st.booleans()),
    )


@st.composite
def person_years(draw: st.DrawFn) -> Accumulators:
    """Accumulators a real year could hold: every paid figure within its yearly limit."""
    return Accumulators(
        admissions=draw(st.integers(min_value=0, max_value=6)),
        basic_paid=draw(cents(15_000_000)),
        ci_base=draw(cents(80_000_000)),
        ci_paid=draw(cents(40_000_000)),
        assistance_paid=draw(cents(3_000_000)),  # within the smallest limit, low_income's 30000
        charity_paid=draw(cents(2_000_000)),
    )


optional_funds = st.one_of(st.none(), cents(2_000_000))
years = st.sampled_from(sorted(YEARS, key=str))


def assert_invariants(
    facts: ClaimFacts, year: PolicyYear, acc: Accumulators, funds: FundState, r: Adjudication
) -> None:
    amounts = [line.amount for line in r.lines]
    assert [line.payer for line in r.lines] == PAYERS
    assert sum(amounts) + r.out_of_pocket == facts.total
    for amount in [*amounts, r.out_of_pocket, r.in_policy_self_pay, r.deductible]:
        assert amount >= 0
        assert amount == amount.quantize(D("0.01"))
    assert r.in_policy_self_pay <= facts.in_policy
    after = r.accumulators
    assert after.basic_paid <= year.basic.annual_cap
    tilt = year.critical_illness.tilt.get(facts.category) if facts.category else None
    if not (tilt and tilt.uncapped):
        assert after.ci_paid <= year.critical_illness.annual_cap
    rule = year.assistance.get(facts.category) if facts.category else None
    # A person's category may change within the year while the accumulator is one: a limit already passed
    # under an earlier, larger category's rule pays nothing more, it is never "more exceeded".
    assert after.assistance_paid <= max(acc.assistance_paid, rule.annual_limit if rule else D("0.00"))
    assert after.charity_paid <= year.charity.annual_limit
    if funds.supplementary_remaining is not None:
        assert r.fund_deltas.supplementary <= funds.supplementary_remaining
    if funds.charity_remaining is not None:
        assert r.fund_deltas.charity <= funds.charity_remaining
    assert r.fund_deltas == FundDeltas(r.paid_by(Payer.SUPPLEMENTARY), r.paid_by(Payer.CHARITY))
    assert after.admissions == acc.admissions + 1
    if not facts.medically_insured:
        assert r.paid_by(Payer.BASIC) == 0 and r.paid_by(Payer.CRITICAL_ILLNESS) == 0
    eligible = facts.category in year.supplementary.categories
    assert (r.cap_met is None) == (not eligible)
    if eligible:
        assert r.cap_met is (not r.fund_short)
    assert r.oop_ratio == (r.out_of_pocket / facts.total).quantize(D("0.0001"), rounding=ROUND_HALF_UP)


@PROPERTY_SETTINGS
@given(facts=claims(), acc=person_years(), key=years, supplementary=optional_funds, charity=optional_funds)
def test_every_claim_adds_up_and_respects_every_limit(
    facts: ClaimFacts,
    acc: Accumulators,
    key: tuple[Any, ...],
    supplementary: Decimal | None,
    charity: Decimal | None,
) -> None:
    year = YEARS[key]
    funds = FundState(supplementary_remaining=supplementary, charity_remaining=charity)
    assert_invariants(facts, year, acc, funds, adjudicate_claim(facts, year, acc, funds))


@PROPERTY_SETTINGS
@given(
    facts=claims(),
    acc=person_years(),
    category=st.sampled_from([DIBAO, TEKUN]),
    charity_base=st.sampled_from(["out_of_policy", "remaining"]),
)
def test_with_an_ample_fund_dibao_and_tekun_never_pay_over_the_cap(
    facts: ClaimFacts, acc: Accumulators, category: Category, charity_base: str
) -> None:
    facts = ClaimFacts(facts.hospital_level, facts.total, facts.in_policy, category, facts.medically_insured)
    year = YEARS[(charity_base, "in_policy", None)]
    funds = FundState(supplementary_remaining=D("1000000000.00"), charity_remaining=None)
    result = adjudicate_claim(facts, year, acc, funds)
    assert result.in_policy_self_pay <= round_to_cent(facts.in_policy * year.supplementary.cap_ratio)
    assert result.cap_met is True
    assert result.fund_short is False


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sequence=st.lists(claims(), min_size=1, max_size=6),
    key=years,
    supplementary=cents(2_000_000),
    data=st.data(),
)
def test_reversing_every_claim_of_a_year_restores_the_accumulators_and_the_funds(
    sequence: list[ClaimFacts], key: tuple[Any, ...], supplementary: Decimal, data: st.DataObject
) -> None:
    year = YEARS[key]
    acc = Accumulators.zero()
    supplementary_left: Decimal = supplementary
    charity_left: Decimal | None = year.charity.budget
    settled = []
    for facts in sequence:
        funds = FundState(supplementary_remaining=supplementary_left, charity_remaining=charity_left)
        result = adjudicate_claim(facts, year, acc, funds)
        assert_invariants(facts, year, acc, funds, result)
        settled.append(result)
        acc = result.accumulators
        supplementary_left -= result.fund_deltas.supplementary
        if charity_left is not None:
            charity_left -= result.fund_deltas.charity
    assert acc.admissions == len(sequence)
    for result in data.draw(st.permutations(settled)):
        acc = reverse_claim(acc, result)
        supplementary_left += result.fund_deltas.supplementary
        if charity_left is not None:
            charity_left += result.fund_deltas.charity
    assert acc == Accumulators.zero()
    assert (supplementary_left, charity_left) == (supplementary, year.charity.budget)
