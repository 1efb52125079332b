"""A seeded, synthetic copy of the first cohort for pairing tests and benchmarks.

The reference cohort has 3,407 households over 14 streets, 999 cadres and 186 party branches. The design does
not give the cadres' rank mix, so this one is chosen to look like a district (few district leaders, many
division- and section-level cadres) while covering the cohort under the default quotas:

    30 district leaders × 5 + 520 division × 5 + 380 section × 2 + 69 staff × 1 = 3,579
    186 branches × 2                                                              =   372
    capacity                                                                        3,951 ≥ 3,407

(Any mix of 999 cadres has at most 999 × 5 + 372 = 5,367 places; a mostly staff-level one would fall short:
20 / 120 / 400 / 459 gives only 2,331.) `scale` grows every count in proportion, e.g. to a 50,000-household
district. No personal data: ids are synthetic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from uplift.registry.domain.pairing import PairingHelper, UnpairedHousehold
from uplift.registry.domain.parameters import CadreRank, PairingQuotas

REFERENCE_HOUSEHOLDS = 3407
REFERENCE_CADRE_MIX: dict[CadreRank, int] = {
    "district_leader": 30,
    "division": 520,
    "section": 380,
    "staff": 69,
}
REFERENCE_BRANCHES = 186
REFERENCE_STREETS = 14
REFERENCE_DEPARTMENTS = 60
DISTRICT_CODE = "420102"


@dataclass(frozen=True)
class PairingCohort:
    households: tuple[UnpairedHousehold, ...]
    helpers: tuple[PairingHelper, ...]
    quotas: PairingQuotas


def reference_cohort(
    seed: int = 2026,
    households: int = REFERENCE_HOUSEHOLDS,
    streets: int = REFERENCE_STREETS,
    quotas: PairingQuotas | None = None,
) -> PairingCohort:
    """The reference cohort, or one of `households` with helpers and departments grown in proportion."""
    rng = random.Random(seed)
    scale = households / REFERENCE_HOUSEHOLDS
    street_codes = [f"{DISTRICT_CODE}{number:03d}" for number in range(1, streets + 1)]
    # Streets differ in size: some old neighbourhoods hold far more dibao households than others.
    street_weights = [rng.uniform(0.4, 2.5) for _ in street_codes]

    departments = max(1, round(REFERENCE_DEPARTMENTS * scale))
    linked_streets_of: list[frozenset[str]] = []
    for _ in range(departments):
        count = rng.choices([0, 1, 2, 3], weights=[3, 4, 2, 1])[0]
        linked_streets_of.append(frozenset(rng.sample(street_codes, min(count, len(street_codes)))))

    cohort_households = tuple(
        UnpairedHousehold(f"hh-{number:06d}", rng.choices(street_codes, weights=street_weights)[0])
        for number in range(1, households + 1)
    )

    helpers: list[PairingHelper] = []
    ranks = [rank for rank, count in REFERENCE_CADRE_MIX.items() for _ in range(max(1, round(count * scale)))]
    for number, rank in enumerate(ranks, start=1):
        department = rng.randrange(departments)
        helpers.append(
            PairingHelper.cadre(
                f"cadre-{number:06d}",
                rank,
                rng.choice(street_codes),
                linked_streets_of[department],
            )
        )
    for number in range(1, max(1, round(REFERENCE_BRANCHES * scale)) + 1):
        # About two in three branches are community branches; the rest belong to a department.
        if rng.random() < 0.65:
            branch = PairingHelper.branch(f"branch-{number:05d}", community_street=rng.choice(street_codes))
        else:
            linked = linked_streets_of[rng.randrange(departments)]
            branch = PairingHelper.branch(f"branch-{number:05d}", department_linked_streets=linked)
        helpers.append(branch)
    return PairingCohort(cohort_households, tuple(helpers), quotas or PairingQuotas())
