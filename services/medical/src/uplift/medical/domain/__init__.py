"""The medical service's rules, pure: the policy-year parameters and the five lines of defense (五道防线)."""

from uplift.medical.domain.adjudication import (
    Accumulators,
    Adjudication,
    ClaimFacts,
    FundDeltas,
    FundState,
    Line,
    Payer,
    adjudicate_claim,
    crossed_low_threshold,
    reverse_claim,
)
from uplift.medical.domain.policy_year import (
    CapBase,
    Category,
    CharityBase,
    FundUsage,
    PolicyYear,
    frozen_change_violations,
)

__all__ = [
    "Accumulators",
    "Adjudication",
    "CapBase",
    "Category",
    "CharityBase",
    "ClaimFacts",
    "FundDeltas",
    "FundState",
    "FundUsage",
    "Line",
    "Payer",
    "PolicyYear",
    "adjudicate_claim",
    "crossed_low_threshold",
    "frozen_change_violations",
    "reverse_claim",
]
