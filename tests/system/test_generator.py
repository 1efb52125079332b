"""The scenario's generator: the reference shape, valid ID numbers, and the five lines on DOMAIN.md's examples."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path

from stdnum.cn import ric

# The generator is a sibling module; test modules are imported in importlib mode, so put this folder on the path.
sys.path.insert(0, str(Path(__file__).parent))
from generator import (
    LIFTED_REASONS,
    QUOTAS,
    DistrictSize,
    generate_district,
    id_check_digit,
    settle_first_admission,
)

TODAY = dt.date(2026, 11, 28)


def test_the_reference_district_has_the_programme_shape_and_enough_helpers() -> None:
    district = generate_district(DistrictSize.reference(), seed=2026, today=TODAY, run="ref")
    assert len(district.streets) == 14 and district.streets[0].endswith("001")
    assert (len(district.households), len(district.cadres), len(district.branches)) == (3407, 999, 186)
    assert sum(1 for e in district.exits if e.reason in LIFTED_REASONS) == 690
    capacity = sum(QUOTAS[c.rank] for c in district.cadres) + QUOTAS["branch"] * len(district.branches)
    assert capacity == 3951  # 30 × 5 + 520 × 5 + 380 × 2 + 69 × 1 + 186 × 2
    assert any(d.linked_streets for d in district.departments)


def test_members_have_valid_unique_id_numbers_that_agree_with_birth_date_and_sex() -> None:
    district = generate_district(DistrictSize.small(), seed=7, today=TODAY, run="ids")
    members = [m for h in district.households for m in h.members]
    assert len({m.id_number for m in members}) == len(members)
    assert len({m.name for m in members} | {c.name for c in district.cadres}) == len(members) + len(district.cadres)
    for member in members:
        # The check digit as python-stdnum computes it (its is_valid also wants a real county code; ours are fresh).
        assert ric.calc_check_digit(member.id_number) == member.id_number[17], member.id_number
        assert ric.get_birth_date(member.id_number) == member.birth_date
        assert (int(member.id_number[16]) % 2 == 1) == (member.sex == "male")
    assert id_check_digit("11010519491231002") == "X"  # GB 11643's own example


def test_the_same_seed_gives_the_same_district() -> None:
    first = generate_district(DistrictSize.small(), seed=11, today=TODAY, run="a")
    again = generate_district(DistrictSize.small(), seed=11, today=TODAY, run="a")
    assert first.households == again.households and first.exits == again.exits and first.claims == again.claims


def test_the_five_lines_reproduce_the_worked_examples() -> None:
    plenty = Decimal("3000000.00")
    case1 = settle_first_admission("dibao", True, 2, Decimal("30000.00"), Decimal("26000.00"), plenty)
    assert (case1.basic, case1.critical_illness, case1.assistance, case1.charity, case1.supplementary) == (
        Decimal("17920.00"),
        Decimal("1352.00"),
        Decimal("4709.60"),
        Decimal("2000.00"),
        Decimal("0.00"),
    )
    assert case1.out_of_pocket == Decimal("4018.40") and case1.cap_met is True

    case2a = settle_first_admission("dibao", True, 3, Decimal("10000.00"), Decimal("9000.00"), plenty)
    assert (case2a.basic, case2a.critical_illness, case2a.assistance, case2a.charity, case2a.supplementary) == (
        Decimal("4920.00"),
        Decimal("0.00"),
        Decimal("2856.00"),
        Decimal("500.00"),
        Decimal("324.00"),
    )
    assert case2a.out_of_pocket == Decimal("1400.00") and case2a.cap_met is True

    case3 = settle_first_admission(None, True, 2, Decimal("30000.00"), Decimal("26000.00"), plenty)
    assert (case3.basic, case3.critical_illness, case3.out_of_pocket, case3.cap_met) == (
        Decimal("17920.00"),
        Decimal("0.00"),
        Decimal("12080.00"),
        None,
    )


def test_a_fund_that_runs_short_pays_what_is_left_and_misses_the_cap() -> None:
    short = settle_first_admission("dibao", True, 3, Decimal("10000.00"), Decimal("9000.00"), Decimal("100.00"))
    assert short.supplementary == Decimal("100.00") and short.cap_met is False
