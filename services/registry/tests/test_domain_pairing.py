import random
import time
from collections import Counter

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from uplift.registry.domain.pairing import PairingHelper, UnpairedHousehold, auto_pair, total_capacity
from uplift.registry.domain.parameters import CadreRank, PairingQuotas
from uplift.registry.domain.reference_cohort import REFERENCE_CADRE_MIX, reference_cohort

QUOTAS = PairingQuotas()
A, B, C = "420102001", "420102002", "420102003"


def test_a_cadre_costs_0_at_home_1_on_a_linked_street_and_3_elsewhere() -> None:
    cadre = PairingHelper.cadre("c1", "section", home_street=A, department_linked_streets=[B])
    assert (cadre.cost(A), cadre.cost(B), cadre.cost(C)) == (0, 1, 3)


def test_a_community_branch_is_at_home_on_its_communitys_street() -> None:
    branch = PairingHelper.branch("b1", community_street=A)
    assert (branch.cost(A), branch.cost(B)) == (0, 3)


def test_a_department_branch_is_at_home_on_its_departments_linked_streets() -> None:
    branch = PairingHelper.branch("b1", department_linked_streets=[B, C])
    assert (branch.cost(A), branch.cost(B), branch.cost(C)) == (3, 0, 0)


@pytest.mark.parametrize(
    ("rank", "load", "capacity"),
    [("district_leader", 0, 5), ("division", 2, 3), ("section", 0, 2), ("staff", 0, 1), ("staff", 3, 0)],
)
def test_capacity_is_the_quota_less_the_current_load(rank: CadreRank, load: int, capacity: int) -> None:
    cadre = PairingHelper.cadre("c1", rank, A, current_load=load)
    assert cadre.capacity(QUOTAS) == capacity


def test_households_go_to_the_cheapest_helpers() -> None:
    households = [UnpairedHousehold("h1", A), UnpairedHousehold("h2", B), UnpairedHousehold("h3", C)]
    helpers = [
        PairingHelper.cadre("c-far", "district_leader", home_street="420102009"),
        PairingHelper.cadre("c-a", "staff", home_street=A, department_linked_streets=[B]),
        PairingHelper.cadre("c-b", "staff", home_street="420102009", department_linked_streets=[B]),
    ]
    result = auto_pair(households, helpers, QUOTAS)
    assert [(pair.household_id, pair.helper_id, pair.cost) for pair in result.assigned] == [
        ("h1", "c-a", 0),
        ("h2", "c-b", 1),
        ("h3", "c-far", 3),
    ]
    assert result.total_cost == 4
    assert result.by_cost == {0: 1, 1: 1, 3: 1}
    assert result.by_helper_kind == {"cadre": 3, "branch": 0}
    assert result.unpaired == ()


def test_equal_costs_prefer_lower_helper_ids_and_give_lower_household_ids_the_cheaper_pairs() -> None:
    households = [UnpairedHousehold(f"h{n}", A) for n in (3, 1, 2)]
    helpers = [
        PairingHelper.cadre("c9", "section", home_street=A),
        PairingHelper.cadre("c2", "staff", home_street=C),
        PairingHelper.cadre("c1", "staff", home_street=C),
        PairingHelper.cadre("c5", "section", home_street=C),
    ]
    result = auto_pair(households, helpers, QUOTAS)
    assert [(pair.household_id, pair.helper_id, pair.cost) for pair in result.assigned] == [
        ("h1", "c9", 0),
        ("h2", "c9", 0),
        ("h3", "c1", 3),
    ]


def test_existing_pairings_count_against_the_quota() -> None:
    households = [UnpairedHousehold("h1", A), UnpairedHousehold("h2", A)]
    helpers = [
        PairingHelper.cadre("c1", "section", home_street=A, current_load=2),
        PairingHelper.branch("b1", community_street=A, current_load=1),
        PairingHelper.cadre("c2", "staff", home_street=B),
    ]
    result = auto_pair(households, helpers, QUOTAS)
    assert [(pair.household_id, pair.helper_kind, pair.helper_id) for pair in result.assigned] == [
        ("h1", "branch", "b1"),
        ("h2", "cadre", "c2"),
    ]


def test_a_capacity_shortage_leaves_the_highest_household_ids_of_a_street_unpaired() -> None:
    households = [UnpairedHousehold(f"h{n}", A) for n in range(1, 6)]
    helpers = [PairingHelper.cadre("c1", "section", A), PairingHelper.branch("b1", community_street=B)]
    result = auto_pair(households, helpers, QUOTAS)
    assert len(result.assigned) == 4
    assert result.unpaired == ("h5",)
    assert [(pair.household_id, pair.helper_id) for pair in result.assigned] == [
        ("h1", "c1"),
        ("h2", "c1"),
        ("h3", "b1"),
        ("h4", "b1"),
    ]


def test_without_helpers_every_household_is_unpaired() -> None:
    result = auto_pair([UnpairedHousehold("h2", A), UnpairedHousehold("h1", B)], [], QUOTAS)
    assert result.assigned == () and result.unpaired == ("h1", "h2")


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate household"):
        auto_pair([UnpairedHousehold("h1", A), UnpairedHousehold("h1", B)], [], QUOTAS)


def _random_case(rng: random.Random) -> tuple[list[UnpairedHousehold], list[PairingHelper]]:
    streets = [f"4201020{n:02d}" for n in range(1, 5)]
    households = [UnpairedHousehold(f"h{n:03d}", rng.choice(streets)) for n in range(rng.randint(1, 30))]
    helpers = []
    for n in range(rng.randint(1, 12)):
        linked = rng.sample(streets, rng.randint(0, 2))
        if rng.random() < 0.7:
            rank: CadreRank = rng.choice(["district_leader", "division", "section", "staff"])
            helpers.append(PairingHelper.cadre(f"c{n:02d}", rank, rng.choice(streets), linked, rng.randint(0, 2)))
        else:
            helpers.append(PairingHelper.branch(f"b{n:02d}", rng.choice([None, *streets]), linked))
    return households, helpers


def _optimal_cost(households: list[UnpairedHousehold], helpers: list[PairingHelper]) -> tuple[int, int]:
    slots = [helper for helper in helpers for _ in range(helper.capacity(QUOTAS))]
    if not slots:
        return 0, 0
    costs = np.array([[slot.cost(household.street_code) for slot in slots] for household in households])
    rows, columns = linear_sum_assignment(costs)
    return len(rows), int(costs[rows, columns].sum())


def test_auto_pairing_matches_an_exact_assignment_on_random_cases() -> None:
    rng = random.Random(7)
    for _ in range(150):
        households, helpers = _random_case(rng)
        result = auto_pair(households, helpers, QUOTAS)
        assert (len(result.assigned), result.total_cost) == _optimal_cost(households, helpers)
        load = Counter((pair.helper_kind, pair.helper_id) for pair in result.assigned)
        for helper in helpers:
            assert load[(helper.kind, helper.helper_id)] <= helper.capacity(QUOTAS)
        for pair in result.assigned:
            helper = next(h for h in helpers if (h.kind, h.helper_id) == (pair.helper_kind, pair.helper_id))
            household = next(h for h in households if h.household_id == pair.household_id)
            assert pair.cost == helper.cost(household.street_code)
        assert sorted([p.household_id for p in result.assigned] + list(result.unpaired)) == sorted(
            h.household_id for h in households
        )


def test_the_same_input_in_another_order_gives_the_same_pairing() -> None:
    cohort = reference_cohort(seed=11)
    first = auto_pair(cohort.households, cohort.helpers, cohort.quotas)
    rng = random.Random(3)
    households, helpers = list(cohort.households), list(cohort.helpers)
    rng.shuffle(households)
    rng.shuffle(helpers)
    assert auto_pair(households, helpers, cohort.quotas) == first


def test_the_reference_cohort_has_the_documented_size_and_enough_capacity() -> None:
    cohort = reference_cohort()
    kinds = Counter(helper.kind for helper in cohort.helpers)
    ranks = Counter(helper.rank for helper in cohort.helpers if helper.rank)
    assert len(cohort.households) == 3407
    assert len({household.street_code for household in cohort.households}) == 14
    assert kinds == {"cadre": 999, "branch": 186}
    assert dict(ranks) == REFERENCE_CADRE_MIX
    assert total_capacity(cohort.helpers, cohort.quotas) == 3951


def test_the_reference_cohort_pairs_completely_well_under_a_second() -> None:
    cohort = reference_cohort()
    started = time.perf_counter()
    result = auto_pair(cohort.households, cohort.helpers, cohort.quotas)
    elapsed = time.perf_counter() - started
    assert len(result.assigned) == 3407 and result.unpaired == ()
    load = Counter(pair.helper_id for pair in result.assigned)
    assert all(load[helper.helper_id] <= helper.capacity(cohort.quotas) for helper in cohort.helpers)
    assert result.by_helper_kind["cadre"] + result.by_helper_kind["branch"] == 3407
    assert elapsed < 0.5
