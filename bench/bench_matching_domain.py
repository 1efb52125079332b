"""Benchmark of the matching domain (no I/O): job-fair edges and assignment, and recommendations.

Generates a seeded city (10 districts × 14 streets) with 50,000 seekers and 20,000 postings (~50,000 openings),
then measures:

- building each seeker's top-k feasible postings (`build_job_fair_edges`, numpy);
- the assignment (`assign_job_fair`): graph build, the lexicographic min-cost flow, the greedy baseline, and the
  whole call; the objective beside the greedy's;
- recommendations for one seeker over all 20,000 postings (`recommend_postings`, pure Python), p50/p95 over
  a sample of seekers, and candidates for one posting over all seekers;
- peak resident memory after each phase (ru_maxrss: includes numpy and OR-Tools, which tracemalloc misses).

Aims (docs PERFORMANCE.md): job fair 50,000 × 20,000 (k = 50) solves in under 5 s; recommendations over 20,000
postings p95 under 100 ms. Wall times on a shared machine are noisy: CPU seconds are printed beside them.

    uv run python bench/bench_matching_domain.py [--seekers 50000 --postings 20000 --k 50 --seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from uplift.matching.domain.assignment import (
    JobFairGraph,
    assign_greedy,
    assign_job_fair,
    objective_of,
    solve_lexicographic,
)
from uplift.matching.domain.job_fair_edges import build_job_fair_edges
from uplift.matching.domain.scoring import (
    EDUCATION_ORDER,
    HouseholdStatus,
    LocationPreference,
    PhysicalDemand,
    Posting,
    Seeker,
    SeekerProfile,
    WorkAbility,
    recommend_postings,
    recommend_seekers,
)
from uplift.matching.domain.skills import DEFAULT_VOCABULARY

TODAY = date(2026, 3, 2)
PHYSICAL_DEMANDS: tuple[PhysicalDemand, ...] = ("light", "medium", "heavy")
WORK_ABILITIES: tuple[WorkAbility, ...] = ("full", "partial")
HOUSEHOLD_STATUSES: tuple[HouseholdStatus, ...] = ("enrolled", "transition", "exited")
LOCATION_PREFERENCES: tuple[LocationPreference, ...] = ("same_district", "same_street", "any")
T = TypeVar("T")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def timed(action: Callable[[], T]) -> tuple[T, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, round(time.perf_counter() - wall, 3), round(time.process_time() - cpu, 3)


class City:
    """A seeded city: districts, their streets, and skill and education mixes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.districts = [f"4201{d:02d}" for d in range(2, 12)]
        self.streets = {d: [f"{d}{s:03d}" for s in range(1, 15)] for d in self.districts}
        self.skills = [skill.code for skill in DEFAULT_VOCABULARY.skills]

    def uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128))

    def place(self) -> tuple[str, str]:
        district = self.rng.choice(self.districts)
        return self.rng.choice(self.streets[district]), district

    def posting(self) -> Posting:
        rng = self.rng
        street, district = self.place()
        remote = rng.random() < 0.08
        return Posting(
            posting_id=self.uuid(),
            employer_id=self.uuid(),
            occupation="generated",
            essential_skills=frozenset(rng.sample(self.skills, rng.choice([0, 1, 1, 2, 2, 3]))),
            optional_skills=frozenset(rng.sample(self.skills, rng.randint(0, 3))),
            monthly_wage=Decimal(rng.randrange(220_000, 800_000, 100)) / 100,
            weekly_hours=rng.choice([20, 24, 30, 36, 40, 40, 44, 48]),
            street_code=None if remote else street,
            district_code=None if remote else district,
            remote=remote,
            physical_demand=rng.choices(PHYSICAL_DEMANDS, weights=[50, 35, 15])[0],
            accessible=rng.random() < 0.4,
            min_education=rng.choices([None, *EDUCATION_ORDER[1:6]], weights=[40, 10, 25, 15, 7, 3])[0],
            openings=rng.randint(1, 4),
            valid_from=date(2026, 1, 1),
            valid_to=rng.choice([None, date(2026, 6, 30), date(2026, 12, 31), date(2026, 2, 28)]),
            open=rng.random() < 0.97,
            public_welfare=rng.random() < 0.10,
        )

    def seeker(self) -> Seeker:
        rng = self.rng
        street, district = self.place()
        disability = rng.choices([0, 1, 2, 3, 4], weights=[85, 5, 4, 4, 2])[0]
        return Seeker(
            person_id=self.uuid(),
            birth_year=rng.randint(1966, 2008),
            sex=rng.choice(["male", "female"]),
            work_ability=rng.choices(WORK_ABILITIES, weights=[85, 15])[0],
            disability_level=disability,
            chronic_illness=rng.random() < 0.10,
            household_status=rng.choices(HOUSEHOLD_STATUSES, weights=[70, 15, 15])[0],
            zero_employment_household=rng.random() < 0.12,
            street_code=street,
            district_code=district,
            skills=frozenset(rng.sample(self.skills, rng.randint(1, 4))),
            education=rng.choices(list(EDUCATION_ORDER[:7]), weights=[5, 15, 35, 20, 15, 7, 3])[0],
            profile=SeekerProfile(
                desired_hours=rng.choice([None, 20, 30, 40, 40]),
                max_hours=rng.choices([None, 24, 30], weights=[85, 8, 7])[0],
                min_wage=rng.choice([None, None, *(Decimal(w) for w in range(2300, 4600, 200))]),
                location_pref=rng.choices(LOCATION_PREFERENCES, weights=[60, 15, 25])[0],
                prefers_remote=rng.random() < 0.10,
                no_heavy_work=rng.random() < 0.10,
            ),
        )


def bench_job_fair(seekers: list[Seeker], postings: list[Posting], k: int) -> tuple[dict[str, Any], dict[str, Any]]:
    invited, edges_wall, edges_cpu = timed(lambda: build_job_fair_edges(seekers, postings, TODAY, k=k))
    edges_report = {
        "seconds": edges_wall,
        "cpu_seconds": edges_cpu,
        "edges": sum(len(s.edges) for s in invited),
        "seekers_with_edges": sum(1 for s in invited if s.edges),
        # top-k by score concentrates on universally attractive postings (no essential skill, remote):
        "distinct_postings_in_edges": len({posting_id for s in invited for posting_id, _units in s.edges}),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    capacities = {p.posting_id: p.openings for p in postings if p.open}
    # The production call first, so that the peak memory after it is its own (plus the inputs).
    result, assign_wall, assign_cpu = timed(lambda: assign_job_fair(invited, capacities, k))
    assign_peak_rss = round(peak_rss_mib(), 1)
    graph, graph_wall, graph_cpu = timed(lambda: JobFairGraph.build(invited, capacities, k))
    chosen, solve_wall, solve_cpu = timed(lambda: solve_lexicographic(graph))
    greedy, greedy_wall, greedy_cpu = timed(lambda: assign_greedy(graph))
    assert result.objective == objective_of(graph, chosen) and result.greedy == objective_of(graph, greedy)
    optimum, baseline = result.objective, result.greedy
    assignment_report = {
        "graph_build_seconds": graph_wall,
        "graph_build_cpu_seconds": graph_cpu,
        "solve_seconds": solve_wall,
        "solve_cpu_seconds": solve_cpu,
        "greedy_seconds": greedy_wall,
        "greedy_cpu_seconds": greedy_cpu,
        "assign_job_fair_seconds": assign_wall,
        "assign_job_fair_cpu_seconds": assign_cpu,
        "peak_rss_mib_after_assign_job_fair": assign_peak_rss,
        "objective": {
            "tier1_matched": optimum.tier1_matched,
            "tier2_matched": optimum.tier2_matched,
            "total_score": str(optimum.total_score),
        },
        "greedy": {
            "tier1_matched": baseline.tier1_matched,
            "tier2_matched": baseline.tier2_matched,
            "total_score": str(baseline.total_score),
        },
        "more_tier1_placed_than_greedy": optimum.tier1_matched - baseline.tier1_matched,
        "more_tier2_placed_than_greedy": optimum.tier2_matched - baseline.tier2_matched,
        "score_ratio_to_greedy": round(float(optimum.total_score / baseline.total_score), 4)
        if baseline.total_score
        else None,
        "filled": result.filled,
        "openings": result.openings,
        "rates_by_tier": {str(t): str(r.rate) for t, r in result.rates_by_tier.items()},
        "invited_by_tier": {str(t): r.invited for t, r in result.rates_by_tier.items()},
        "rates_by_disability": {str(d): str(r.rate) for d, r in result.rates_by_disability.items()},
    }
    return edges_report, assignment_report


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))]


def main() -> dict[str, Any]:
    """Run the benchmark and return its figures (bench/run.py calls this; run as a script it prints them)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seekers", type=int, default=50_000)
    parser.add_argument("--postings", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--recommend-samples", type=int, default=200)
    parser.add_argument("--candidate-samples", type=int, default=10)
    args = parser.parse_args()

    report: dict[str, Any] = {"seekers": args.seekers, "postings": args.postings, "k": args.k, "seed": args.seed}
    report["peak_rss_mib_start"] = round(peak_rss_mib(), 1)
    city = City(random.Random(args.seed))
    (postings, seekers), generate_wall, _cpu = timed(
        lambda: ([city.posting() for _ in range(args.postings)], [city.seeker() for _ in range(args.seekers)])
    )
    report["generate_seconds"] = generate_wall
    report["openings"] = sum(p.openings for p in postings)
    report["peak_rss_mib_after_generate"] = round(peak_rss_mib(), 1)

    report["edges"], report["assignment"] = bench_job_fair(seekers, postings, args.k)

    # --- recommendations ---
    sample = random.Random(args.seed + 1).sample(seekers, min(args.recommend_samples, len(seekers)))
    latencies = []
    for seeker in sample:
        start = time.perf_counter()
        recommend_postings(seeker, postings, TODAY, limit=20)
        latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    report["recommend_postings_ms"] = {
        "samples": len(latencies),
        "p50": round(percentile(latencies, 0.50), 2),
        "p95": round(percentile(latencies, 0.95), 2),
        "max": round(latencies[-1], 2),
        "mean": round(statistics.fmean(latencies), 2),
    }
    candidate_latencies = []
    for posting in random.Random(args.seed + 2).sample(postings, min(args.candidate_samples, len(postings))):
        start = time.perf_counter()
        recommend_seekers(posting, seekers, TODAY, limit=20)
        candidate_latencies.append((time.perf_counter() - start) * 1000)
    candidate_latencies.sort()
    report["recommend_seekers_ms"] = {
        "samples": len(candidate_latencies),
        "over_seekers": len(seekers),
        "p50": round(percentile(candidate_latencies, 0.50), 2),
        "max": round(candidate_latencies[-1], 2),
    }
    report["peak_rss_mib"] = round(peak_rss_mib(), 1)
    report["aims"] = {
        "job_fair_solve_under_5s": report["assignment"]["solve_seconds"] < 5,
        "job_fair_assign_call_under_5s": report["assignment"]["assign_job_fair_seconds"] < 5,
        "recommendations_p95_under_100ms": report["recommend_postings_ms"]["p95"] < 100,
    }
    return report


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
