"""The job-fair assignment (为精准扶贫对象送岗位, DOMAIN.md §8): a lexicographic min-cost flow beside a greedy one.

Each invited seeker comes with a priority tier (1 = member of a zero-employment household, 2 = disability level
≥ 1, 3 = everyone else) and its feasible postings with their scores; each posting has as many places as openings.
Only each seeker's top-k edges by score (ties by posting id) are kept. The assignment maximises, in this order:
the tier-1 seekers placed, the tier-2 seekers placed, the total score. Anyone may stay unplaced.

How the order is enforced — stages rather than one flow with tier bonuses. DOMAIN.md sketches a single min-cost
flow whose integer arc value is score × 10⁴ plus a tier bonus larger than any sum of lower terms: B2 > the
largest total score (n × 10⁴) and B1 > n₂ × B2 + n × 10⁴, so B1 ≈ n² × 10⁴ — 2.5 × 10¹³ for 50,000 seekers. The
OR-Tools cost-scaling solver multiplies every cost by the node count + 1 (≈ 7 × 10⁴ here): 1.75 × 10¹⁸, a hair
under int64's 9.2 × 10¹⁸, and over it from about 70,000 seekers; the large costs also add scaling rounds (the
single flow took 8.7 s on the 50,000 × 20,000 bench against 3.4 s for the stages). So the same lexicographic
optimum is reached in three stages whose costs never exceed 10⁴:

1. a max flow over the tier-1 seekers' edges gives T1, the most tier-1 seekers that can be placed;
2. a max flow over tier-1 and tier-2 edges, with the tier-1 source capped at T1, has value T1 + T2, where T2 is
   the most tier-2 seekers placeable beside T1 tier-1 seekers (starting from any flow placing T1 tier-1 seekers,
   augmenting paths never take flow back from a source arc, so some maximum flow keeps all T1 of them);
3. a min-cost flow with cost −(score units) on each edge, where the tier-1 and tier-2 sources must ship exactly
   T1 and T2 units and the tier-3 source may bypass to the sink: the highest total score among the assignments
   placing T1 tier-1 and T2 tier-2 seekers — the lexicographic optimum.

The greedy baseline takes the same edges in order of tier, score descending, person id, posting id, and keeps a
pair when both sides are still free. The optimum is never lexicographically worse; the answer reports both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from math import prod
from operator import itemgetter
from uuid import UUID

import numpy as np
import numpy.typing as npt
from ortools.graph.python import max_flow, min_cost_flow

from uplift.matching.domain.scoring import SCORE_UNITS_PER_ONE, round_half_up, score_from_units

DEFAULT_TOP_K = 50
_LOOKUP_CHUNK = 1 << 16
TIERS = (1, 2, 3)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class InvitedSeeker:
    """A seeker invited to the fair with its feasible postings (the hard filters already applied)."""

    person_id: UUID
    tier: int  # 1, 2 or 3: see `scoring.priority_of`
    disability_level: int
    edges: Sequence[tuple[UUID, int]]  # (posting_id, score units = score × 10⁴)


@dataclass(frozen=True, slots=True)
class Assignment:
    person_id: UUID
    posting_id: UUID
    score: Decimal
    tier: int


@dataclass(frozen=True, slots=True, order=True)
class Objective:
    """Compared lexicographically, field by field, as the assignment maximises it."""

    tier1_matched: int
    tier2_matched: int
    total_score: Decimal


@dataclass(frozen=True, slots=True)
class GroupRate:
    invited: int
    matched: int
    rate: Decimal  # matched ÷ invited, rounded half-up to 4 places


@dataclass(frozen=True, slots=True)
class AssignmentResult:
    assignments: tuple[Assignment, ...]  # ordered by person id
    objective: Objective
    greedy: Objective
    filled: int  # openings filled
    openings: int
    filled_by_posting: Mapping[UUID, int]  # postings with at least one place filled
    rates_by_tier: Mapping[int, GroupRate]  # tiers with at least one invited seeker
    rates_by_disability: Mapping[int, GroupRate]  # disability level → rate, levels with an invited seeker


class AssignmentFailed(RuntimeError):
    """OR-Tools did not prove optimality (it should always: every stage is feasible by construction)."""


@dataclass(frozen=True, slots=True)
class JobFairGraph:
    """The instance as arrays. Seekers are indexed in person-id order and postings in posting-id order, so an
    index comparison is an id comparison; each seeker keeps at most k edges."""

    person_ids: tuple[UUID, ...]
    tiers: IntArray
    disability_levels: IntArray
    posting_ids: tuple[UUID, ...]
    capacities: IntArray
    edge_seeker: IntArray
    edge_posting: IntArray
    edge_units: IntArray

    @property
    def seeker_count(self) -> int:
        return len(self.person_ids)

    @property
    def posting_count(self) -> int:
        return len(self.posting_ids)

    @classmethod
    def build(
        cls, seekers_edges: Sequence[InvitedSeeker], capacities: Mapping[UUID, int], k: int = DEFAULT_TOP_K
    ) -> JobFairGraph:
        """Validate the input and keep each seeker's top-k edges by score (ties by posting id).

        Edges to postings without an opening are dropped first: they could never be used, and would take the
        place of usable ones in a seeker's top k.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        postings = sorted(capacities, key=_uuid_int)
        posting_index = {posting_id.int: index for index, posting_id in enumerate(postings)}
        capacity = np.fromiter((capacities[p] for p in postings), dtype=np.int64, count=len(postings))
        if np.any(capacity < 0):
            raise ValueError("a posting's capacity (openings) cannot be negative")
        seekers = sorted(seekers_edges, key=lambda s: s.person_id.int)
        for previous, current in pairwise(seekers):
            if previous.person_id == current.person_id:
                raise ValueError(f"seeker {current.person_id} is invited twice")
        for seeker in seekers:
            if seeker.tier not in TIERS:
                raise ValueError(f"seeker {seeker.person_id} has tier {seeker.tier}; tiers are 1, 2, 3")

        # Flattened once and looked up with C-level loops: this runs over millions of edges.
        edge_counts = np.fromiter((len(s.edges) for s in seekers), dtype=np.int64, count=len(seekers))
        edge_seeker = np.repeat(np.arange(len(seekers), dtype=np.int64), edge_counts)
        edges = [edge for s in seekers for edge in s.edges]
        edge_posting = np.empty(len(edges), dtype=np.int64)
        try:
            # In chunks: a list of millions of 128-bit ints at once would cost ~100 MB.
            for start in range(0, len(edges), _LOOKUP_CHUNK):
                chunk = edges[start : start + _LOOKUP_CHUNK]
                edge_posting[start : start + len(chunk)] = list(
                    map(posting_index.__getitem__, [posting_id.int for posting_id, _units in chunk])
                )
        except KeyError as unknown:
            raise ValueError(f"an edge names unknown posting {UUID(int=unknown.args[0])}") from None
        edge_units = np.fromiter(map(itemgetter(1), edges), dtype=np.int64, count=len(edges))
        if np.any((edge_units < 0) | (edge_units > SCORE_UNITS_PER_ONE)):
            raise ValueError(f"score units must be 0–{SCORE_UNITS_PER_ONE}")
        posting_span = max(len(postings), 1)
        pair_keys = np.sort(edge_seeker * posting_span + edge_posting)
        if np.any(pair_keys[1:] == pair_keys[:-1]):
            raise ValueError("a seeker has two edges to the same posting")

        usable = capacity[edge_posting] > 0
        edge_seeker, edge_posting, edge_units = edge_seeker[usable], edge_posting[usable], edge_units[usable]
        # Each seeker's edges best first (score descending, then posting id), and only the first k of them.
        order = _order_by(edge_seeker, SCORE_UNITS_PER_ONE - edge_units, edge_posting)
        edge_seeker, edge_posting, edge_units = edge_seeker[order], edge_posting[order], edge_units[order]
        kept_counts = np.bincount(edge_seeker, minlength=len(seekers))
        group_start = np.repeat(np.cumsum(kept_counts) - kept_counts, kept_counts)
        within_top_k = np.arange(len(edge_seeker)) - group_start < k

        return cls(
            person_ids=tuple(s.person_id for s in seekers),
            tiers=np.fromiter((s.tier for s in seekers), dtype=np.int64, count=len(seekers)),
            disability_levels=np.fromiter((s.disability_level for s in seekers), dtype=np.int64, count=len(seekers)),
            posting_ids=tuple(postings),
            capacities=capacity,
            edge_seeker=edge_seeker[within_top_k],
            edge_posting=edge_posting[within_top_k],
            edge_units=edge_units[within_top_k],
        )


def _uuid_int(value: UUID) -> int:
    return value.int


def _order_by(*keys: IntArray) -> IntArray:
    """The stable order sorting by the first key, then the next...: all keys are non-negative integers.

    Packed into one int64 key when they fit (one argsort is about 7× faster than numpy's lexsort).
    """
    spans = [int(key.max()) + 1 if len(key) else 1 for key in keys]
    if prod(spans) < 2**62:
        packed = np.zeros(len(keys[0]), dtype=np.int64)
        for key, span in zip(keys, spans, strict=True):
            packed = packed * span + key
        return np.argsort(packed, kind="stable")
    return np.lexsort(tuple(reversed(keys)))


# --- the optimum ----------------------------------------------------------------------------------------------


def solve_lexicographic(graph: JobFairGraph) -> BoolArray:
    """The chosen edges (a mask over the graph's edges) of the lexicographic optimum; see the module doc."""
    edge_tiers = graph.tiers[graph.edge_seeker]
    tier1_invited = int(np.count_nonzero(graph.tiers == 1))
    tier2_invited = int(np.count_nonzero(graph.tiers == 2))
    tier1_placeable = _max_flow(graph, edge_tiers, {1: tier1_invited}) if tier1_invited else 0
    tier2_placeable = (
        _max_flow(graph, edge_tiers, {1: tier1_placeable, 2: tier2_invited}) - tier1_placeable if tier2_invited else 0
    )
    return _max_score_flow(graph, tier1_placeable, tier2_placeable)


def _nodes(graph: JobFairGraph) -> tuple[int, int]:
    """Seekers are nodes 0..n-1, postings n..n+m-1, then the sink and one source per tier."""
    sink = graph.seeker_count + graph.posting_count
    return sink, sink + 1  # sink, first tier source (tier t is first + t - 1)


def _max_flow(graph: JobFairGraph, edge_tiers: IntArray, source_caps: Mapping[int, int]) -> int:
    """The most seekers of the given tiers placeable at once, each tier's source capped as given."""
    sink, first_source = _nodes(graph)
    super_source = first_source + len(TIERS)
    n = graph.seeker_count
    tails: list[IntArray] = []
    heads: list[IntArray] = []
    caps: list[IntArray] = []
    for tier, cap in source_caps.items():
        members = np.flatnonzero(graph.tiers == tier)
        tier_source = first_source + tier - 1
        tails += [np.array([super_source]), np.full(len(members), tier_source)]
        heads += [np.array([tier_source]), members]
        caps += [np.array([cap]), np.ones(len(members), dtype=np.int64)]
    used = np.isin(edge_tiers, list(source_caps))
    tails += [graph.edge_seeker[used], n + np.arange(graph.posting_count)]
    heads += [n + graph.edge_posting[used], np.full(graph.posting_count, sink)]
    caps += [np.ones(int(np.count_nonzero(used)), dtype=np.int64), graph.capacities]
    solver = max_flow.SimpleMaxFlow()
    solver.add_arcs_with_capacity(
        np.concatenate(tails).astype(np.int32),
        np.concatenate(heads).astype(np.int32),
        np.concatenate(caps).astype(np.int64),
    )
    status = solver.solve(super_source, sink)
    if status != solver.OPTIMAL:
        raise AssignmentFailed(f"max flow ended with status {status}")
    return int(solver.optimal_flow())


def _max_score_flow(graph: JobFairGraph, tier1_placed: int, tier2_placed: int) -> BoolArray:
    sink, first_source = _nodes(graph)
    n = graph.seeker_count
    edge_count = len(graph.edge_units)
    tier3_invited = int(np.count_nonzero(graph.tiers == 3))
    solver = min_cost_flow.SimpleMinCostFlow()
    # The seeker → posting arcs go first, so arc i is edge i.
    solver.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(
            [
                graph.edge_seeker,
                first_source + graph.tiers - 1,
                n + np.arange(graph.posting_count),
                np.array([first_source + 2]),
            ]
        ).astype(np.int32),
        np.concatenate(
            [
                n + graph.edge_posting,
                np.arange(n),
                np.full(graph.posting_count, sink),
                np.array([sink]),  # tier 3 may stay unplaced; tiers 1 and 2 must place exactly T1 and T2
            ]
        ).astype(np.int32),
        np.concatenate(
            [
                np.ones(edge_count, dtype=np.int64),
                np.ones(n, dtype=np.int64),
                graph.capacities,
                np.array([tier3_invited]),
            ]
        ).astype(np.int64),
        np.concatenate([-graph.edge_units, np.zeros(n + graph.posting_count + 1, dtype=np.int64)]).astype(np.int64),
    )
    solver.set_node_supply(first_source, tier1_placed)
    solver.set_node_supply(first_source + 1, tier2_placed)
    solver.set_node_supply(first_source + 2, tier3_invited)
    solver.set_node_supply(sink, -(tier1_placed + tier2_placed + tier3_invited))
    status = solver.solve()
    if status != solver.OPTIMAL:
        raise AssignmentFailed(f"min-cost flow ended with status {status}")
    flows = solver.flows(np.arange(edge_count, dtype=np.int32)) if edge_count else np.zeros(0)
    return np.asarray(flows) > 0


# --- the greedy baseline --------------------------------------------------------------------------------------


def assign_greedy(graph: JobFairGraph) -> BoolArray:
    """Pairs in order of tier, score descending, person id, posting id; a pair is kept if both sides are free."""
    edge_tiers = graph.tiers[graph.edge_seeker]
    order = _order_by(edge_tiers, SCORE_UNITS_PER_ONE - graph.edge_units, graph.edge_seeker, graph.edge_posting)
    placed = bytearray(graph.seeker_count)
    remaining = graph.capacities.tolist()
    places_left = int(graph.capacities.sum())
    chosen = np.zeros(len(order), dtype=np.bool_)
    # In chunks, as Python lists: fast to loop over, and small (millions of Python ints would cost ~250 MB).
    for start in range(0, len(order), _LOOKUP_CHUNK):
        if not places_left:
            break
        part = order[start : start + _LOOKUP_CHUNK]
        for edge, seeker, posting in zip(
            part.tolist(), graph.edge_seeker[part].tolist(), graph.edge_posting[part].tolist(), strict=True
        ):
            if placed[seeker] or not remaining[posting]:
                continue
            placed[seeker] = 1
            remaining[posting] -= 1
            chosen[edge] = True
            places_left -= 1
            if not places_left:
                break
    return chosen


# --- the answer -----------------------------------------------------------------------------------------------


def objective_of(graph: JobFairGraph, chosen: BoolArray) -> Objective:
    tiers = graph.tiers[graph.edge_seeker[chosen]]
    return Objective(
        tier1_matched=int(np.count_nonzero(tiers == 1)),
        tier2_matched=int(np.count_nonzero(tiers == 2)),
        total_score=score_from_units(int(graph.edge_units[chosen].sum())),
    )


def _rate(invited: int, matched: int) -> GroupRate:
    return GroupRate(invited, matched, round_half_up(Fraction(matched, invited)))


def _rates_by(groups: IntArray, matched_seekers: BoolArray) -> dict[int, GroupRate]:
    rates: dict[int, GroupRate] = {}
    for group in np.unique(groups).tolist():
        members = groups == group
        rates[int(group)] = _rate(int(np.count_nonzero(members)), int(np.count_nonzero(members & matched_seekers)))
    return rates


def assign_job_fair(
    seekers_edges: Sequence[InvitedSeeker], capacities: Mapping[UUID, int], k: int = DEFAULT_TOP_K
) -> AssignmentResult:
    """Assign invited seekers to postings: the lexicographic optimum, with the greedy's objective beside it."""
    graph = JobFairGraph.build(seekers_edges, capacities, k)
    chosen = solve_lexicographic(graph)
    greedy = assign_greedy(graph)

    seekers = graph.edge_seeker[chosen]
    postings = graph.edge_posting[chosen]
    units = graph.edge_units[chosen]
    order = np.argsort(seekers, kind="stable")
    assignments = tuple(
        Assignment(graph.person_ids[s], graph.posting_ids[p], score_from_units(u), int(graph.tiers[s]))
        for s, p, u in zip(seekers[order].tolist(), postings[order].tolist(), units[order].tolist(), strict=True)
    )
    filled_counts = np.bincount(postings, minlength=graph.posting_count)
    matched_seekers = np.zeros(graph.seeker_count, dtype=np.bool_)
    matched_seekers[seekers] = True
    return AssignmentResult(
        assignments=assignments,
        objective=objective_of(graph, chosen),
        greedy=objective_of(graph, greedy),
        filled=len(assignments),
        openings=int(graph.capacities.sum()),
        filled_by_posting={graph.posting_ids[p]: int(filled_counts[p]) for p in np.flatnonzero(filled_counts).tolist()},
        rates_by_tier=_rates_by(graph.tiers, matched_seekers),
        rates_by_disability=_rates_by(graph.disability_levels, matched_seekers),
    )
