"""Dynamic monitoring (动态监测): the alert rules as pure functions.

Each rule returns an `AlertTrigger` (kind, severity and the facts that triggered it, JSON-ready: money as
decimal strings, dates as ISO strings) or None. Keeping one open alert per (household, kind) and the
open → acknowledged → resolved lifecycle belong to the service. Thresholds come from the `Parameters` in force
on the date the rule concerns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from uplift.registry.domain.lifecycle import HouseholdStatus
from uplift.registry.domain.months import add_months, add_years
from uplift.registry.domain.parameters import Parameters, Sex

RATIO_PLACES = Decimal("0.0001")
MONTHS_PER_YEAR = 12


class AlertKind(StrEnum):
    INCOME_DROP = "income_drop"
    MEDICAL_HARDSHIP = "medical_hardship"
    JOB_LOST = "job_lost"
    PENSION_GAP = "pension_gap"
    VISIT_OVERDUE = "visit_overdue"
    RELAPSE_RISK = "relapse_risk"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# The signals that, on a household under monitoring, also raise relapse_risk (返贫风险).
RELAPSE_SIGNALS = frozenset({AlertKind.INCOME_DROP, AlertKind.MEDICAL_HARDSHIP, AlertKind.JOB_LOST})


@dataclass(frozen=True)
class AlertTrigger:
    kind: AlertKind
    severity: Severity
    facts: dict[str, Any]


@dataclass(frozen=True)
class HouseholdStanding:
    """Where the household stands in the lifecycle, as the rules need it."""

    status: HouseholdStatus
    monitoring_until: date | None = None  # set only after a 脱贫 exit

    def under_monitoring(self, on: date) -> bool:
        return (
            self.status is HouseholdStatus.EXITED and self.monitoring_until is not None and on <= self.monitoring_until
        )


def _money(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _ratio(value: Decimal) -> str:
    return str(value.quantize(RATIO_PLACES, rounding=ROUND_HALF_UP))


def income_drop(previous: Decimal | None, current: Decimal, params: Parameters) -> AlertTrigger | None:
    """Per-capita income fell by more than the threshold (30%), or crossed from above the line to at or below.

    Crossing the line is the graver signal (high); a drop that stays above the line is medium.
    """
    if previous is None or current >= previous:
        return None
    line = params.dibao_line
    crossed_line = previous > line >= current
    drop_ratio = (previous - current) / previous if previous > 0 else Decimal(0)
    dropped_sharply = drop_ratio > params.alert_thresholds.income_drop_ratio
    if not (crossed_line or dropped_sharply):
        return None
    return AlertTrigger(
        AlertKind.INCOME_DROP,
        Severity.HIGH if crossed_line else Severity.MEDIUM,
        {
            "previous_per_capita_income": _money(previous),
            "per_capita_income": _money(current),
            "drop_ratio": _ratio(drop_ratio),
            "threshold_ratio": _ratio(params.alert_thresholds.income_drop_ratio),
            "dibao_line": _money(line),
            "crossed_line": crossed_line,
        },
    )


@dataclass(frozen=True)
class MedicalClaimFact:
    """A settled, not reversed claim of a member, as the medical service reported it."""

    claim_id: str
    person_id: str
    discharged_on: date
    out_of_pocket: Decimal
    cap_met: bool | None


def medical_hardship(
    claims: Iterable[MedicalClaimFact],
    monthly_income: Decimal,
    on: date,
    params: Parameters,
    new_claim: MedicalClaimFact | None = None,
) -> AlertTrigger | None:
    """Out-of-pocket spending over the past 12 months beyond 50% of a year's income, or a claim over its cap.

    The 12 months end on `on` (by discharge date, both ends inclusive). `claims` are the household members'
    claims (the window is applied here); `new_claim`, the claim being evaluated, also counts when it has
    `cap_met = false` — the cap test looks only at it, so an old uncapped claim does not re-raise an alert
    that an operator has resolved.
    """
    window_start = add_months(on, -MONTHS_PER_YEAR) + timedelta(days=1)
    in_window = {claim.claim_id: claim for claim in claims if window_start <= claim.discharged_on <= on}
    if new_claim is not None and window_start <= new_claim.discharged_on <= on:
        in_window[new_claim.claim_id] = new_claim
    out_of_pocket = sum((claim.out_of_pocket for claim in in_window.values()), Decimal("0.00"))
    ratio = params.alert_thresholds.medical_hardship_ratio
    limit = (monthly_income * MONTHS_PER_YEAR * ratio).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    over_income = out_of_pocket > limit
    cap_missed = new_claim is not None and new_claim.cap_met is False
    if not (over_income or cap_missed):
        return None
    facts: dict[str, Any] = {
        "window_from": window_start.isoformat(),
        "window_to": on.isoformat(),
        "out_of_pocket_12m": _money(out_of_pocket),
        "limit": _money(limit),
        "threshold_ratio": _ratio(ratio),
        "monthly_income": _money(monthly_income),
        "over_income": over_income,
        "claims": sorted(in_window),
    }
    if cap_missed and new_claim is not None:
        facts["cap_missed_claim_id"] = new_claim.claim_id
        facts["cap_missed_person_id"] = new_claim.person_id
    return AlertTrigger(AlertKind.MEDICAL_HARDSHIP, Severity.HIGH, facts)


def job_lost(standing: HouseholdStanding, person_id: str, placement_id: str, ended_on: date) -> AlertTrigger | None:
    """A member's placement ended while the household is in transition or under monitoring."""
    in_transition = standing.status is HouseholdStatus.TRANSITION
    monitored = standing.under_monitoring(ended_on)
    if not (in_transition or monitored):
        return None
    return AlertTrigger(
        AlertKind.JOB_LOST,
        Severity.HIGH,
        {
            "person_id": person_id,
            "placement_id": placement_id,
            "ended_on": ended_on.isoformat(),
            "household_status": str(standing.status),
            "under_monitoring": monitored,
        },
    )


@dataclass(frozen=True)
class PensionFacts:
    person_id: str
    born_on: date
    sex: Sex
    pension_insured: bool


def pension_gap(members: Iterable[PensionFacts], on: date, params: Parameters) -> AlertTrigger | None:
    """新"三无": active members within `pension_gap_years` (5) of retirement age, without pension insurance.

    "Within" means on or after the day the member is `retirement age − 5` and before the retirement birthday;
    members already past retirement age are left to other measures. One alert per household lists them all.
    """
    years = params.alert_thresholds.pension_gap_years
    uncovered = []
    for member in sorted(members, key=lambda member: member.person_id):
        if member.pension_insured:
            continue
        retirement_age = params.retirement_age.for_sex(member.sex)
        retires_on = add_years(member.born_on, retirement_age)
        if add_years(member.born_on, retirement_age - years) <= on < retires_on:
            uncovered.append({"person_id": member.person_id, "retires_on": retires_on.isoformat(), "sex": member.sex})
    if not uncovered:
        return None
    return AlertTrigger(AlertKind.PENSION_GAP, Severity.MEDIUM, {"years": years, "members": uncovered})


def visit_overdue(
    paired_on: date, last_visited_on: date | None, today: date, params: Parameters
) -> AlertTrigger | None:
    """A paired household had no visit for longer than `visit_interval_days` (counted from the pairing when
    it was never visited, or from a visit before this pairing)."""
    since = max(paired_on, last_visited_on) if last_visited_on is not None else paired_on
    days = (today - since).days
    interval = params.visit_interval_days
    if days <= interval:
        return None
    return AlertTrigger(
        AlertKind.VISIT_OVERDUE,
        Severity.MEDIUM if days > 2 * interval else Severity.LOW,
        {
            "paired_on": paired_on.isoformat(),
            "last_visited_on": last_visited_on.isoformat() if last_visited_on else None,
            "days_without_visit": days,
            "interval_days": interval,
        },
    )


def relapse_risk(standing: HouseholdStanding, signals: Sequence[AlertTrigger], on: date) -> AlertTrigger | None:
    """返贫风险: income_drop, medical_hardship or job_lost on a household under monitoring."""
    kinds = sorted({signal.kind for signal in signals if signal.kind in RELAPSE_SIGNALS})
    if not kinds or not standing.under_monitoring(on):
        return None
    return AlertTrigger(
        AlertKind.RELAPSE_RISK,
        Severity.HIGH,
        {
            "signals": [str(kind) for kind in kinds],
            "monitoring_until": standing.monitoring_until.isoformat() if standing.monitoring_until else None,
            "on": on.isoformat(),
        },
    )
