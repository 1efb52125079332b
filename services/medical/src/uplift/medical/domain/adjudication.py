"""Adjudication of one hospital settlement through the five lines of defense (五道防线), DOMAIN.md §9.

The lines are applied in order, each to what the previous ones left:

1. 基本医疗保险 (basic medical insurance): the in-policy cost (政策范围内费用) above the
   deductible (起付线) at the hospital level's ratio, up to the yearly cap. The deductible is
   reduced by `repeat_factor` from the person's second admission of the year and waived for the
   categories in `deductible_waived`.
2. 大病保险 (critical-illness insurance): the yearly running total of the in-policy self-pay left
   by line 1 is paid band by band above the threshold (起付标准); 低保 and 特困 get the tilt
   (政策倾斜): a lower threshold, higher ratios and no annual cap.
3. 医疗救助 (government medical assistance, incl. 临时救助): a share of what is left, per
   category, up to a yearly limit.
4. 慈善救助 (charity relief): a share of the out-of-policy cost (自费), or of everything still
   unpaid, up to a yearly limit per person and the charity fund.
5. 大病附加保险 (supplementary critical-illness insurance, bought by the district): tops up so
   that the in-policy self-pay (or the whole out-of-pocket) of 低保 and 特困 is at most
   `cap_ratio` of the cost, as far as its fund goes (兜底); when the fund runs short the claim is
   flagged for temporary assistance.

A person not medically insured gets nothing from lines 1 and 2. Every amount is a `Decimal`
rounded half-up to the cent at each line, so the lines plus the out-of-pocket add up to the total
exactly. Nothing here does I/O: the caller brings the person's accumulators for the year and the
funds' remainders, and stores what comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from typing import Literal

from uplift.medical.domain.policy_year import (
    HOSPITAL_LEVEL_KEYS,
    CapBase,
    Category,
    CharityBase,
    PolicyYear,
    Tilt,
)

CENT = Decimal("0.01")
RATIO_PLACES = Decimal("0.0001")
ZERO = Decimal("0.00")
ONE = Decimal(1)

# Enough digits that no intermediate product of an amount and a ratio is ever rounded by the context itself;
# the only rounding is the explicit half-up to the cent that the policy prescribes.
_PRECISION = 60

HospitalLevel = Literal[1, 2, 3]


class Payer(StrEnum):
    """Who pays a line, in the order the lines are applied."""

    BASIC = "basic"
    CRITICAL_ILLNESS = "critical_illness"
    ASSISTANCE = "assistance"
    CHARITY = "charity"
    SUPPLEMENTARY = "supplementary"


def round_to_cent(amount: Decimal) -> Decimal:
    """Half-up to the cent, as the policy rounds every line."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _is_cents(amount: Decimal) -> bool:
    return amount.is_finite() and amount == amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _money(amount: Decimal) -> str:
    return str(round_to_cent(amount))


def _require_amount(name: str, amount: Decimal) -> None:
    if not isinstance(amount, Decimal) or not _is_cents(amount) or amount < 0:
        raise ValueError(f"{name} must be a non-negative Decimal in whole cents, not {amount!r}")


@dataclass(frozen=True)
class ClaimFacts:
    """What adjudication needs to know about one settlement."""

    hospital_level: HospitalLevel
    total: Decimal
    in_policy: Decimal
    category: Category | None
    medically_insured: bool

    def __post_init__(self) -> None:
        if self.hospital_level not in (1, 2, 3):
            raise ValueError(f"hospital_level must be 1, 2 or 3, got {self.hospital_level!r}")
        _require_amount("total", self.total)
        _require_amount("in_policy", self.in_policy)
        if self.total <= 0:
            raise ValueError("total must be above 0")
        if self.in_policy > self.total:
            raise ValueError("in_policy must not exceed total")

    @property
    def out_of_policy(self) -> Decimal:
        """The out-of-policy cost (自费)."""
        return self.total - self.in_policy


@dataclass(frozen=True)
class Accumulators:
    """A person's running totals for one policy year, over settled and not reversed claims."""

    admissions: int
    basic_paid: Decimal
    ci_base: Decimal  # running in-policy self-pay after line 1, on which critical illness works
    ci_paid: Decimal
    assistance_paid: Decimal
    charity_paid: Decimal

    def __post_init__(self) -> None:
        if self.admissions < 0:
            raise ValueError(f"admissions must not be negative, got {self.admissions}")
        for name in ("basic_paid", "ci_base", "ci_paid", "assistance_paid", "charity_paid"):
            _require_amount(name, getattr(self, name))

    @classmethod
    def zero(cls) -> Accumulators:
        """The accumulators of a person with no claim yet in the year."""
        return cls(0, ZERO, ZERO, ZERO, ZERO, ZERO)


@dataclass(frozen=True)
class FundState:
    """What is left in the year's funds before this claim; None = unlimited."""

    supplementary_remaining: Decimal | None
    charity_remaining: Decimal | None = None

    def __post_init__(self) -> None:
        if self.supplementary_remaining is not None:
            _require_amount("supplementary_remaining", self.supplementary_remaining)
        if self.charity_remaining is not None:
            _require_amount("charity_remaining", self.charity_remaining)


@dataclass(frozen=True)
class FundDeltas:
    """How much this claim takes from each fund (a reversal gives it back)."""

    supplementary: Decimal
    charity: Decimal


@dataclass(frozen=True)
class Line:
    """One line's payment and the figures it was computed from (money with two places, ratios as given)."""

    payer: Payer
    amount: Decimal
    basis: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class Adjudication:
    """The breakdown of one claim, the person's accumulators after it and what it takes from the funds."""

    total: Decimal
    in_policy: Decimal
    out_of_policy: Decimal
    deductible: Decimal
    lines: tuple[Line, ...]
    out_of_pocket: Decimal
    oop_ratio: Decimal
    in_policy_self_pay: Decimal
    cap_met: bool | None  # None: the person is outside the supplementary insurance's categories
    fund_short: bool  # the supplementary fund could not pay the whole top-up: flag for temporary assistance
    charity_fund_short: bool  # the charity fund could not pay what the charity rule allowed
    ci_base_added: Decimal  # what this claim added to the critical-illness running total (ci_base)
    accumulators: Accumulators
    fund_deltas: FundDeltas

    def paid_by(self, payer: Payer) -> Decimal:
        """The amount of `payer`'s line."""
        return next(line.amount for line in self.lines if line.payer == payer)


def _critical_illness_paid_up_to(
    running_total: Decimal, threshold: Decimal, bands: Sequence[tuple[Decimal | None, Decimal]]
) -> Decimal:
    """F(x): what critical illness pays on a running total `running_total`, band by band.

    `bands` holds (upto, ratio) with absolute upper bounds; the first band starts at the threshold, so bands
    wholly below it pay nothing, and a band straddling it pays only its part above it.
    """
    paid = Decimal(0)
    lower = threshold
    for upto, ratio in bands:
        upper = running_total if upto is None else min(running_total, upto)
        if upper > lower:
            paid += (upper - lower) * ratio
        if upto is not None:
            lower = max(lower, upto)
    return paid


def _capped(amount: Decimal, *limits: Decimal | None) -> Decimal:
    """`amount` limited by every limit that exists (None = unlimited); limits below zero count as zero."""
    for limit in limits:
        if limit is not None:
            amount = min(amount, max(ZERO, limit))
    return amount


def adjudicate_claim(
    claim: ClaimFacts, params: PolicyYear, acc: Accumulators, funds: FundState
) -> Adjudication:
    """Run `claim` through the five lines with the year's `params`, the person's `acc` and `funds`."""
    with localcontext() as context:
        context.prec = _PRECISION
        return _adjudicate(claim, params, acc, funds)


def _adjudicate(claim: ClaimFacts, params: PolicyYear, acc: Accumulators, funds: FundState) -> Adjudication:
    category = claim.category
    in_policy = claim.in_policy
    out_of_policy = claim.out_of_policy
    admission = acc.admissions + 1

    # Line 1 — 基本医疗保险.
    basic_rules = params.basic
    level_key = HOSPITAL_LEVEL_KEYS[claim.hospital_level - 1]
    if claim.medically_insured:
        level_deductible = basic_rules.deductible[level_key]
        ratio = basic_rules.ratio[level_key]
        waived = category is not None and category in basic_rules.deductible_waived
        if waived:
            deductible = ZERO
        elif admission >= 2:
            deductible = round_to_cent(level_deductible * basic_rules.repeat_factor)
        else:
            deductible = level_deductible
        cap_left = max(ZERO, basic_rules.annual_cap - acc.basic_paid)
        basic = min(round_to_cent(max(ZERO, in_policy - deductible) * ratio), cap_left)
        basic_basis = {
            "in_policy": _money(in_policy),
            "hospital_level": level_key,
            "admission": str(admission),
            "deductible": _money(deductible),
            "ratio": str(ratio),
            "annual_cap_left": _money(cap_left),
        }
        if waived:
            basic_basis["deductible_waived"] = "true"
    else:
        deductible = ZERO
        basic = ZERO
        basic_basis = {"in_policy": _money(in_policy), "reason": "not_medically_insured"}
    self_pay_1 = in_policy - basic

    # Line 2 — 大病保险, on the yearly running total of line 1's self-pay.
    ci_rules = params.critical_illness
    if claim.medically_insured:
        tilt: Tilt | None = ci_rules.tilt.get(category) if category is not None else None
        if tilt is None:
            threshold = ci_rules.threshold
            bands = [(band.upto, band.ratio) for band in ci_rules.bands]
        else:  # 政策倾斜 for 低保/特困
            threshold = round_to_cent(ci_rules.threshold * tilt.threshold_factor)
            bands = [(band.upto, min(ONE, band.ratio + tilt.ratio_bonus)) for band in ci_rules.bands]
        running_before = acc.ci_base
        running_after = running_before + self_pay_1
        ci = round_to_cent(
            _critical_illness_paid_up_to(running_after, threshold, bands)
            - _critical_illness_paid_up_to(running_before, threshold, bands)
        )
        uncapped = tilt is not None and tilt.uncapped
        ci_cap_left = None if uncapped else max(ZERO, ci_rules.annual_cap - acc.ci_paid)
        ci = _capped(ci, ci_cap_left)
        ci_base_added = self_pay_1
        ci_basis = {
            "in_policy_self_pay": _money(self_pay_1),
            "running_total_before": _money(running_before),
            "running_total_after": _money(running_after),
            "threshold": _money(threshold),
            "bands": ", ".join(
                f"{'open' if upto is None else _money(upto)}:{ratio}" for upto, ratio in bands
            ),
            "tilt": str(category) if tilt is not None else "none",
            "annual_cap_left": "unlimited" if ci_cap_left is None else _money(ci_cap_left),
        }
    else:
        ci = ZERO
        ci_base_added = ZERO
        ci_basis = {"in_policy_self_pay": _money(self_pay_1), "reason": "not_medically_insured"}
    self_pay_2 = self_pay_1 - ci

    # Line 3 — 医疗救助, for the categories with a rule.
    assistance_rule = params.assistance.get(category) if category is not None else None
    if assistance_rule is not None:
        limit_left = max(ZERO, assistance_rule.annual_limit - acc.assistance_paid)
        assistance = min(round_to_cent(self_pay_2 * assistance_rule.ratio), limit_left)
        assistance_basis = {
            "self_pay": _money(self_pay_2),
            "category": str(category),
            "ratio": str(assistance_rule.ratio),
            "annual_limit_left": _money(limit_left),
        }
    else:
        assistance = ZERO
        assistance_basis = {
            "self_pay": _money(self_pay_2),
            "reason": "no_category" if category is None else "no_assistance_rule",
        }
    self_pay_3 = self_pay_2 - assistance

    # Line 4 — 慈善救助.
    charity_rules = params.charity
    charity_on_remaining = charity_rules.base == CharityBase.REMAINING
    charity_fund_short = False
    if category is not None and category in charity_rules.categories:
        charity_base = self_pay_3 + out_of_policy if charity_on_remaining else out_of_policy
        limit_left = max(ZERO, charity_rules.annual_limit - acc.charity_paid)
        allowed = min(round_to_cent(charity_base * charity_rules.ratio), limit_left)
        charity = _capped(allowed, funds.charity_remaining)
        charity_fund_short = charity < allowed
        charity_basis = {
            "base": str(charity_rules.base),
            "base_amount": _money(charity_base),
            "ratio": str(charity_rules.ratio),
            "annual_limit_left": _money(limit_left),
            "fund_remaining": (
                "unlimited" if funds.charity_remaining is None else _money(funds.charity_remaining)
            ),
        }
    else:
        charity = ZERO
        charity_basis = {
            "out_of_policy": _money(out_of_policy),
            "reason": "no_category" if category is None else "category_not_eligible",
        }
    # Charity on everything unpaid counts against the in-policy self-pay first (s3' = s3 − charity).
    charity_on_in_policy = charity if charity_on_remaining else ZERO

    # Line 5 — 大病附加保险.
    supplementary_rules = params.supplementary
    supplementary_eligible = category is not None and category in supplementary_rules.categories
    fund_short = False
    if supplementary_eligible:
        if supplementary_rules.cap_base == CapBase.IN_POLICY:
            capped_before = self_pay_3 - charity if charity_on_remaining else self_pay_3
            cap = round_to_cent(in_policy * supplementary_rules.cap_ratio)
        else:
            capped_before = self_pay_3 + out_of_policy - charity
            cap = round_to_cent(claim.total * supplementary_rules.cap_ratio)
        need = max(ZERO, capped_before - cap)
        supplementary = _capped(need, funds.supplementary_remaining)
        fund_short = supplementary < need
        in_policy_left = max(ZERO, self_pay_3 - charity_on_in_policy)
        supplementary_basis = {
            "cap_base": str(supplementary_rules.cap_base),
            "capped_amount": _money(capped_before),
            "cap_ratio": str(supplementary_rules.cap_ratio),
            "cap": _money(cap),
            "need": _money(need),
            "fund_remaining": (
                "unlimited"
                if funds.supplementary_remaining is None
                else _money(funds.supplementary_remaining)
            ),
            # It pays the in-policy self-pay first and the out-of-policy cost after it.
            "to_in_policy": _money(min(supplementary, in_policy_left)),
            "to_out_of_policy": _money(supplementary - min(supplementary, in_policy_left)),
        }
    else:
        supplementary = ZERO
        cap = ZERO
        supplementary_basis = {"reason": "no_category" if category is None else "category_not_eligible"}

    out_of_pocket = claim.total - basic - ci - assistance - charity - supplementary
    in_policy_self_pay = max(ZERO, in_policy - basic - ci - assistance - supplementary - charity_on_in_policy)
    cap_met: bool | None = None
    if supplementary_eligible:
        on_in_policy = supplementary_rules.cap_base == CapBase.IN_POLICY
        capped_after = in_policy_self_pay if on_in_policy else out_of_pocket
        cap_met = capped_after <= cap

    lines = (
        Line(Payer.BASIC, basic, basic_basis),
        Line(Payer.CRITICAL_ILLNESS, ci, ci_basis),
        Line(Payer.ASSISTANCE, assistance, assistance_basis),
        Line(Payer.CHARITY, charity, charity_basis),
        Line(Payer.SUPPLEMENTARY, supplementary, supplementary_basis),
    )
    accumulators = Accumulators(
        admissions=admission,
        basic_paid=acc.basic_paid + basic,
        ci_base=acc.ci_base + ci_base_added,
        ci_paid=acc.ci_paid + ci,
        assistance_paid=acc.assistance_paid + assistance,
        charity_paid=acc.charity_paid + charity,
    )
    return Adjudication(
        total=claim.total,
        in_policy=in_policy,
        out_of_policy=out_of_policy,
        deductible=deductible,
        lines=lines,
        out_of_pocket=out_of_pocket,
        oop_ratio=(out_of_pocket / claim.total).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP),
        in_policy_self_pay=in_policy_self_pay,
        cap_met=cap_met,
        fund_short=fund_short,
        charity_fund_short=charity_fund_short,
        ci_base_added=ci_base_added,
        accumulators=accumulators,
        fund_deltas=FundDeltas(supplementary=supplementary, charity=charity),
    )


def reverse_claim(acc: Accumulators, adjudication: Adjudication) -> Accumulators:
    """The accumulators once the adjudicated claim is reversed: its amounts and its admission subtracted.

    Later claims stay as settled, so only this claim's own contributions come off. Raises
    `ValueError` when the accumulators do not hold the claim (e.g. it was already reversed).
    """
    try:
        return Accumulators(
            admissions=acc.admissions - 1,
            basic_paid=acc.basic_paid - adjudication.paid_by(Payer.BASIC),
            ci_base=acc.ci_base - adjudication.ci_base_added,
            ci_paid=acc.ci_paid - adjudication.paid_by(Payer.CRITICAL_ILLNESS),
            assistance_paid=acc.assistance_paid - adjudication.paid_by(Payer.ASSISTANCE),
            charity_paid=acc.charity_paid - adjudication.paid_by(Payer.CHARITY),
        )
    except ValueError as error:
        raise ValueError(f"the accumulators do not contain this claim: {error}") from error


def crossed_low_threshold(
    budget: Decimal, remaining_before: Decimal, remaining_after: Decimal, low_threshold_ratio: Decimal
) -> bool:
    """Whether a fund's remainder just fell under `low_threshold_ratio` of its budget.

    The service publishes `medical.fund.low` when this is true.

    True only on the claim that crosses the line, so the event goes out once per crossing.
    """
    line = budget * low_threshold_ratio
    return remaining_before >= line > remaining_after
