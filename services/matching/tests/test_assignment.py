import itertools
import random
from collections import Counter
from decimal import Decimal
from uuid import UUID

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from uplift.matching.domain.assignment import (
    AssignmentResult,
    GroupRate,
    InvitedSeeker,
    JobFairGraph,
    Objective,
    assign_job_fair,
)

Edges = list[tuple[UUID, int]]


def pid(n: int) -> UUID:
    return UUID(int=n)


def seeker(n: int, tier: int, edges: dict[int, int], disability: int = 0) -> InvitedSeeker:
    return InvitedSeeker(pid(n), tier, disability, [(pid(p), units) for p, units in edges.items()])


def pairs(result: AssignmentResult) -> set[tuple[int, int]]:
    return {(a.person_id.int, a.posting_id.int) for a in result.assignments}


# --- crafted instances ------------------------------------------------------------------------------------


def test_the_flow_places_a_tier_1_seeker_whom_greedy_leaves_out() -> None:
    # Greedy gives A the posting both A and B can take (A's best edge), and B has nowhere else to go.
    seekers = [seeker(1, 1, {100: 9000, 200: 5000}), seeker(2, 1, {100: 8000})]
    result = assign_job_fair(seekers, {pid(100): 1, pid(200): 1})
    assert pairs(result) == {(1, 200), (2, 100)}
    assert result.objective == Objective(2, 0, Decimal("1.3000"))
    assert result.greedy == Objective(1, 0, Decimal("0.9000"))
    assert result.objective > result.greedy


def test_a_tier_2_seeker_outranks_a_better_scoring_tier_3_seeker() -> None:
    seekers = [seeker(1, 3, {100: 9900}), seeker(2, 2, {100: 2000}, disability=2)]
    result = assign_job_fair(seekers, {pid(100): 1})
    assert pairs(result) == {(2, 100)}
    assert result.objective == Objective(0, 1, Decimal("0.2000"))


def test_placing_more_tier_1_seekers_beats_any_amount_of_tier_2() -> None:
    # Placing tier-1 seeker 1 at posting 100 blocks two tier-2 seekers (via 100 and the chain through 200).
    seekers = [
        seeker(1, 1, {100: 1000}),
        seeker(2, 2, {100: 9000, 200: 9000}),
        seeker(3, 2, {200: 9000}),
    ]
    result = assign_job_fair(seekers, {pid(100): 1, pid(200): 1})
    assert result.objective.tier1_matched == 1
    assert result.objective.tier2_matched == 1


def test_within_a_tier_the_total_score_is_maximised() -> None:
    seekers = [seeker(1, 3, {100: 9000, 200: 8000}), seeker(2, 3, {100: 8500, 200: 1000})]
    result = assign_job_fair(seekers, {pid(100): 1, pid(200): 1})
    assert pairs(result) == {(1, 200), (2, 100)}  # 1.65 beats greedy's 0.9 + 0.1
    assert result.objective.total_score == Decimal("1.6500")
    assert result.greedy.total_score == Decimal("1.0000")


def test_openings_are_capacities_and_the_answer_reports_fill_and_rates() -> None:
    seekers = [
        seeker(1, 1, {100: 7000}),
        seeker(2, 2, {100: 6000}, disability=1),
        seeker(3, 3, {100: 5000}),
        seeker(4, 3, {200: 4000}),
        seeker(5, 2, {}, disability=3),  # invited, nothing feasible
    ]
    result = assign_job_fair(seekers, {pid(100): 2, pid(200): 1, pid(300): 4})
    assert pairs(result) == {(1, 100), (2, 100), (4, 200)}
    assert result.filled == 3
    assert result.openings == 7
    assert {p.int: n for p, n in result.filled_by_posting.items()} == {100: 2, 200: 1}
    assert result.rates_by_tier == {
        1: GroupRate(1, 1, Decimal("1.0000")),
        2: GroupRate(2, 1, Decimal("0.5000")),
        3: GroupRate(2, 1, Decimal("0.5000")),
    }
    assert result.rates_by_disability == {
        0: GroupRate(3, 2, Decimal("0.6667")),
        1: GroupRate(1, 1, Decimal("1.0000")),
        3: GroupRate(1, 0, Decimal("0.0000")),
    }
    assert [a.person_id.int for a in result.assignments] == [1, 2, 4]
    assert result.assignments[0].score == Decimal("0.7000") and result.assignments[0].tier == 1


def test_only_the_top_k_edges_of_each_seeker_are_kept_ties_by_posting_id() -> None:
    seekers = [seeker(1, 3, {500: 9000, 400: 7000, 300: 7000, 200: 7000, 100: 1000})]
    graph = JobFairGraph.build(seekers, {pid(p): 1 for p in (100, 200, 300, 400, 500)}, k=3)
    kept = [(graph.posting_ids[p].int, u) for p, u in zip(graph.edge_posting, graph.edge_units, strict=True)]
    assert kept == [(500, 9000), (200, 7000), (300, 7000)]
    # with k = 1 only posting 500 is an option, although it is full of someone better placed there
    blocked = [*seekers, seeker(2, 1, {500: 100})]
    result = assign_job_fair(blocked, {pid(p): 1 for p in (100, 200, 300, 400, 500)}, k=1)
    assert pairs(result) == {(2, 500)}


def test_postings_without_openings_do_not_use_up_the_top_k() -> None:
    seekers = [seeker(1, 3, {100: 9000, 200: 5000})]
    result = assign_job_fair(seekers, {pid(100): 0, pid(200): 1}, k=1)
    assert pairs(result) == {(1, 200)}


def test_an_empty_fair_assigns_nothing() -> None:
    result = assign_job_fair([], {})
    assert result.assignments == () and result.filled == 0 and result.openings == 0
    assert result.objective == result.greedy == Objective(0, 0, Decimal("0.0000"))
    assert result.rates_by_tier == {}


@pytest.mark.parametrize(
    ("seekers", "capacities", "message"),
    [
        ([seeker(1, 3, {999: 5000})], {pid(100): 1}, "unknown posting"),
        ([seeker(1, 4, {100: 5000})], {pid(100): 1}, "tier"),
        ([seeker(1, 3, {100: 10001})], {pid(100): 1}, "score units"),
        ([seeker(1, 3, {100: 1}), seeker(1, 2, {})], {pid(100): 1}, "invited twice"),
        ([InvitedSeeker(pid(1), 3, 0, [(pid(100), 1), (pid(100), 2)])], {pid(100): 1}, "same posting"),
        ([seeker(1, 3, {100: 1})], {pid(100): -1}, "negative"),
    ],
)
def test_bad_input_is_refused(seekers: list[InvitedSeeker], capacities: dict[UUID, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        assign_job_fair(seekers, capacities)


# --- random instances against exact solvers ---------------------------------------------------------------


def top_k(edges: Edges, k: int, capacities: dict[UUID, int]) -> Edges:
    usable = [(p, u) for p, u in edges if capacities[p] > 0]
    return sorted(usable, key=lambda e: (-e[1], e[0]))[:k]


def brute_force_objective(seekers: list[InvitedSeeker], capacities: dict[UUID, int], k: int) -> tuple[int, int, int]:
    """Every way of giving each seeker one of its edges or nothing; the lexicographic best."""
    options = [[None, *top_k(list(s.edges), k, capacities)] for s in seekers]
    best = (-1, -1, -1)
    for choice in itertools.product(*options):
        used = Counter(edge[0] for edge in choice if edge is not None)
        if any(used[p] > capacities[p] for p in used):
            continue
        value = (
            sum(1 for s, e in zip(seekers, choice, strict=True) if e is not None and s.tier == 1),
            sum(1 for s, e in zip(seekers, choice, strict=True) if e is not None and s.tier == 2),
            sum(e[1] for e in choice if e is not None),
        )
        best = max(best, value)
    return best


def assignment_objective(seekers: list[InvitedSeeker], capacities: dict[UUID, int], k: int) -> tuple[int, int, int]:
    """The Hungarian method (scipy) with one column per opening plus one "stay unplaced" column per seeker,
    and lexicographic weights small enough to stay exact in float64."""
    openings = [p for p, capacity in sorted(capacities.items()) for _ in range(capacity)]
    n = len(seekers)
    tier2_bonus = n * 10_000 + 1
    tier1_bonus = (n + 1) * tier2_bonus
    forbidden = -(n + 1) * tier1_bonus * 10
    weights = np.full((n, len(openings) + n), float(forbidden))
    for row, s in enumerate(seekers):
        weights[row, len(openings) + row] = 0.0
        bonus = {1: tier1_bonus, 2: tier2_bonus, 3: 0}[s.tier]
        for posting_id, units in top_k(list(s.edges), k, capacities):
            for column, opening in enumerate(openings):
                if opening == posting_id:
                    weights[row, column] = float(bonus + units)
    rows, columns = linear_sum_assignment(weights, maximize=True)
    total = int(weights[rows, columns].sum())
    assert total >= 0
    tier1, rest = divmod(total, tier1_bonus)
    tier2, units = divmod(rest, tier2_bonus)
    return tier1, tier2, units


def random_instance(rng: random.Random, seekers: int, postings: int) -> tuple[list[InvitedSeeker], dict[UUID, int]]:
    posting_ids = [pid(rng.randrange(1, 10**6)) for _ in range(postings)]
    capacities = {p: rng.choice([0, 1, 1, 1, 2, 3]) for p in posting_ids}
    invited = []
    for n in rng.sample(range(1, 10**6), seekers):
        chosen = rng.sample(list(capacities), rng.randint(0, min(postings, 4)))
        units = [rng.choice([1000, 2500, 5000, 5000, 7500, 10000]) for _ in chosen]  # ties on purpose
        invited.append(InvitedSeeker(pid(n), rng.choice([1, 2, 3, 3]), rng.randint(0, 2), list(zip(chosen, units))))
    return invited, capacities


def as_tuple(objective: Objective) -> tuple[int, int, int]:
    return objective.tier1_matched, objective.tier2_matched, int(objective.total_score * 10_000)


def check_feasible(result: AssignmentResult, invited: list[InvitedSeeker], capacities: dict[UUID, int]) -> None:
    given = {(s.person_id, p): (u, s.tier) for s in invited for p, u in s.edges}
    for a in result.assignments:
        units, tier = given[(a.person_id, a.posting_id)]  # never an edge that was not given
        assert (a.score, a.tier) == (Decimal(units).scaleb(-4), tier)
    assert len({a.person_id for a in result.assignments}) == len(result.assignments)
    for posting_id, filled in Counter(a.posting_id for a in result.assignments).items():
        assert filled <= capacities[posting_id]  # never more than the openings
    assert result.filled == len(result.assignments) <= sum(capacities.values())


def test_tiny_random_fairs_reach_the_brute_force_optimum() -> None:
    rng = random.Random(7)
    for _ in range(120):
        invited, capacities = random_instance(rng, rng.randint(1, 5), rng.randint(1, 3))
        k = rng.choice([1, 2, 50])
        result = assign_job_fair(invited, capacities, k=k)
        check_feasible(result, invited, capacities)
        assert as_tuple(result.objective) == brute_force_objective(invited, capacities, k)
        assert result.objective >= result.greedy


def test_small_random_fairs_reach_the_hungarian_optimum_and_never_lose_to_greedy() -> None:
    rng = random.Random(2026)
    greedy_lost_priority = 0
    for _ in range(150):
        invited, capacities = random_instance(rng, rng.randint(1, 14), rng.randint(1, 8))
        k = rng.choice([2, 3, 50])
        result = assign_job_fair(invited, capacities, k=k)
        check_feasible(result, invited, capacities)
        assert as_tuple(result.objective) == assignment_objective(invited, capacities, k)
        assert result.objective >= result.greedy
        greedy_lost_priority += result.greedy.tier1_matched < result.objective.tier1_matched
    assert greedy_lost_priority > 0  # the instances are hard enough to tell the two apart
