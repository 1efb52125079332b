"""Job matching (DOMAIN.md §8): seekers, postings, the hard filters, the score, and recommendations both ways.

The score is Σ weight × component over six components, each in [0, 1], rounded half-up to 4 places. Ranking
and the job-fair assignment work in integer *score units* (score × 10⁴). Two implementations compute it:

- `score()` keeps each component as an exact `Fraction` and returns them with their weighted contributions;
- `pair_score_units()` is the hot loop of the recommendations: it applies the hard filters and adds the
  components as one exact integer fraction (no Decimal, no float), so its rounding is exact and it runs in
  about a microsecond. Tests check that the two agree on every pair, and that it excludes exactly the pairs
  that `hard_filter_reasons()` explains.

Sex, age and disability never enter the score: they act only through the hard filters (and the priority tier,
which orders the job-fair assignment, not the score).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from math import floor
from typing import Literal, TypeVar
from uuid import UUID

Sex = Literal["male", "female"]
WorkAbility = Literal["full", "partial", "none"]
HouseholdStatus = Literal["enrolled", "transition", "exited"]
LocationPreference = Literal["same_street", "same_district", "any"]
PhysicalDemand = Literal["light", "medium", "heavy"]
Education = Literal[
    "none", "primary", "junior_high", "senior_high", "vocational", "college", "bachelor", "postgraduate"
]

EDUCATION_ORDER: tuple[Education, ...] = (
    "none",
    "primary",
    "junior_high",
    "senior_high",
    "vocational",
    "college",
    "bachelor",
    "postgraduate",
)
EDUCATION_RANK: Mapping[str, int] = {level: rank for rank, level in enumerate(EDUCATION_ORDER)}

SCORE_PLACES = 4
SCORE_UNITS_PER_ONE = 10**SCORE_PLACES  # a score of 1 is 10 000 units

COMPONENT_WEIGHTS: Mapping[str, Decimal] = {
    "essential_skills": Decimal("0.35"),
    "optional_skills": Decimal("0.10"),
    "wage": Decimal("0.20"),
    "location": Decimal("0.15"),
    "hours": Decimal("0.10"),
    "education": Decimal("0.10"),
}
assert sum(COMPONENT_WEIGHTS.values()) == 1

LOCATION_SAME_STREET = Fraction(1)
LOCATION_SAME_DISTRICT = Fraction(3, 5)
LOCATION_OTHER = Fraction(0)
LOCATION_REMOTE_PREFERRED = Fraction(1)
LOCATION_REMOTE_NOT_PREFERRED = Fraction(3, 5)

_T = TypeVar("_T")

PUBLIC_WELFARE_ELIGIBLE_STATUSES: frozenset[str] = frozenset({"enrolled", "transition"})
HEAVY_WORK_MIN_DISABILITY = 1  # heavy postings are excluded from disability level 1 up
ACCESSIBLE_WORKPLACE_MIN_DISABILITY = 3  # non-accessible postings are excluded from disability level 3 up


def _weight_units(component: str, value: Fraction = Fraction(1)) -> int:
    units = Fraction(COMPONENT_WEIGHTS[component]) * value * SCORE_UNITS_PER_ONE
    assert units.denominator == 1, f"{component} × {value} is not a whole number of score units"
    return int(units)


# The integer kernel's constants, derived from the weights above so that they cannot drift apart.
_ESSENTIAL_UNITS = _weight_units("essential_skills")
_OPTIONAL_UNITS = _weight_units("optional_skills")
_WAGE_UNITS = _weight_units("wage")
_HOURS_UNITS = _weight_units("hours")
_EDUCATION_UNITS = _weight_units("education")
_SAME_STREET_UNITS = _weight_units("location", LOCATION_SAME_STREET)
_SAME_DISTRICT_UNITS = _weight_units("location", LOCATION_SAME_DISTRICT)
_REMOTE_PREFERRED_UNITS = _weight_units("location", LOCATION_REMOTE_PREFERRED)
_REMOTE_NOT_PREFERRED_UNITS = _weight_units("location", LOCATION_REMOTE_NOT_PREFERRED)
_NO_MAXIMUM_HOURS = 1 << 62


def score_from_units(units: int) -> Decimal:
    """A score in units of 10⁻⁴ as a 4-place Decimal (5000 → 0.5000)."""
    return Decimal(units).scaleb(-SCORE_PLACES)


def round_half_up(value: Fraction, places: int = SCORE_PLACES) -> Decimal:
    """`value` rounded half-up to `places` decimals, exactly (0.12345 → 0.1235)."""
    scaled = floor(value * 10**places + Fraction(1, 2))
    return Decimal(scaled).scaleb(-places)


def _cents(amount: Decimal, what: str) -> int:
    cents = amount * 100
    if cents != cents.to_integral_value() or cents < 0:
        raise ValueError(f"{what} must be a non-negative amount in yuan with at most two decimals, got {amount}")
    return int(cents)


# --- parameters -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkingAge:
    """Working age is 16 up to the retirement age, which is a parameter by sex (DOMAIN.md §2).

    The defaults are 60 for men and 55 for women; districts raise them as the national reform does, so the
    caller passes the version in force. Age is counted from the birth year, as the registry projects it.
    """

    minimum_age: int = 16
    retirement_age_male: int = 60
    retirement_age_female: int = 55

    def retirement_age(self, sex: Sex) -> int:
        return self.retirement_age_male if sex == "male" else self.retirement_age_female

    def includes(self, age: int, sex: Sex) -> bool:
        return self.minimum_age <= age < self.retirement_age(sex)


DEFAULT_WORKING_AGE = WorkingAge()


def age_on(birth_year: int, on: date) -> int:
    """Age as the registry counts it for matching: from the birth year alone."""
    return on.year - birth_year


# --- seekers and postings ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeekerProfile:
    """What the seeker (or their helper) wants and can do; constraints act as hard filters."""

    desired_occupations: frozenset[str] = frozenset()  # shown to employers; not part of the score (§8)
    desired_hours: int | None = None  # weekly
    max_hours: int | None = None  # weekly; a caregiving constraint
    min_wage: Decimal | None = None  # monthly, yuan
    location_pref: LocationPreference = "same_district"
    prefers_remote: bool = False
    no_heavy_work: bool = False
    min_wage_cents: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.desired_hours is not None and self.desired_hours <= 0:
            raise ValueError(f"desired weekly hours must be positive, got {self.desired_hours}")
        if self.max_hours is not None and self.max_hours <= 0:
            raise ValueError(f"maximum weekly hours must be positive, got {self.max_hours}")
        if self.location_pref not in ("same_street", "same_district", "any"):
            raise ValueError(f"unknown location preference {self.location_pref!r}")
        object.__setattr__(self, "desired_occupations", frozenset(self.desired_occupations))
        minimum = 0 if self.min_wage is None else _cents(self.min_wage, "minimum wage")
        object.__setattr__(self, "min_wage_cents", minimum)


@dataclass(frozen=True, slots=True)
class Seeker:
    """A person of the programme looking for work, as matching projects it from registry events (§8)."""

    person_id: UUID
    birth_year: int
    sex: Sex
    work_ability: WorkAbility
    disability_level: int  # 0 = none, 1–4 as in the disability certificate
    chronic_illness: bool
    household_status: HouseholdStatus
    zero_employment_household: bool  # 零就业家庭
    street_code: str
    district_code: str
    skills: frozenset[str]
    education: Education | None
    profile: SeekerProfile = SeekerProfile()
    terms: SeekerTerms = field(init=False, repr=False, compare=False)  # what the ranking kernel reads

    def __post_init__(self) -> None:
        if not 0 <= self.disability_level <= 4:
            raise ValueError(f"disability level must be 0–4, got {self.disability_level}")
        object.__setattr__(self, "skills", frozenset(self.skills))
        object.__setattr__(self, "terms", SeekerTerms.of(self))

    @property
    def public_welfare_eligible(self) -> bool:
        """公益性岗位 are for households in the programme now: enrolled or in transition, not exited."""
        return self.household_status in PUBLIC_WELFARE_ELIGIBLE_STATUSES

    @property
    def excluded_from_heavy_work(self) -> bool:
        return self.disability_level >= HEAVY_WORK_MIN_DISABILITY or self.chronic_illness or self.profile.no_heavy_work

    @property
    def needs_accessible_workplace(self) -> bool:
        return self.disability_level >= ACCESSIBLE_WORKPLACE_MIN_DISABILITY


@dataclass(frozen=True, slots=True)
class Posting:
    """A job in the pool (岗位库). Derived fields are computed once here so the ranking loop only compares."""

    posting_id: UUID
    employer_id: UUID
    occupation: str
    essential_skills: frozenset[str]
    optional_skills: frozenset[str]
    monthly_wage: Decimal
    weekly_hours: int
    street_code: str | None  # None for a remote posting
    district_code: str | None
    remote: bool
    physical_demand: PhysicalDemand
    accessible: bool  # accessible for disabled people
    min_education: Education | None
    openings: int
    valid_from: date
    valid_to: date | None  # inclusive; None = open-ended
    open: bool
    public_welfare: bool  # 公益性岗位
    wage_cents: int = field(init=False, repr=False, compare=False)
    min_education_rank: int = field(init=False, repr=False, compare=False)
    heavy: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.weekly_hours <= 0:
            raise ValueError(f"weekly hours must be positive, got {self.weekly_hours}")
        if self.openings < 0:
            raise ValueError(f"openings cannot be negative, got {self.openings}")
        if self.physical_demand not in ("light", "medium", "heavy"):
            raise ValueError(f"unknown physical demand {self.physical_demand!r}")
        if self.min_education is not None and self.min_education not in EDUCATION_RANK:
            raise ValueError(f"unknown education level {self.min_education!r}")
        object.__setattr__(self, "essential_skills", frozenset(self.essential_skills))
        object.__setattr__(self, "optional_skills", frozenset(self.optional_skills))
        object.__setattr__(self, "wage_cents", _cents(self.monthly_wage, "monthly wage"))
        rank = 0 if self.min_education is None else EDUCATION_RANK[self.min_education]
        object.__setattr__(self, "min_education_rank", rank)
        object.__setattr__(self, "heavy", self.physical_demand == "heavy")

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


# --- hard filters -----------------------------------------------------------------------------------------


class ExclusionCode(StrEnum):
    NOT_WORKING_AGE = "not_working_age"
    NO_WORK_ABILITY = "no_work_ability"
    HOURS_ABOVE_MAXIMUM = "hours_above_maximum"
    HEAVY_WORK = "heavy_work"
    NOT_ACCESSIBLE = "not_accessible"
    LOCATION = "location"
    PUBLIC_WELFARE_INELIGIBLE = "public_welfare_ineligible"
    POSTING_CLOSED = "posting_closed"
    POSTING_NOT_VALID = "posting_not_valid"


@dataclass(frozen=True, slots=True)
class Exclusion:
    code: ExclusionCode
    message: str


LocationRelation = Literal["remote", "same_street", "same_district", "other"]


def location_relation(seeker: Seeker, posting: Posting) -> LocationRelation:
    """Where the posting is as seen from the seeker's home: the basis of both the filter and the score."""
    if posting.remote:
        return "remote"
    if posting.street_code is not None and posting.street_code == seeker.street_code:
        return "same_street"
    if posting.district_code is not None and posting.district_code == seeker.district_code:
        return "same_district"
    return "other"


_ACCEPTED_RELATIONS: Mapping[str, frozenset[str]] = {
    "same_street": frozenset({"remote", "same_street"}),
    "same_district": frozenset({"remote", "same_street", "same_district"}),
    "any": frozenset({"remote", "same_street", "same_district", "other"}),
}


def seeker_exclusions(seeker: Seeker, today: date, *, working_age: WorkingAge = DEFAULT_WORKING_AGE) -> list[Exclusion]:
    """The filters that depend on the seeker alone: they exclude every posting."""
    reasons: list[Exclusion] = []
    age = age_on(seeker.birth_year, today)
    if not working_age.includes(age, seeker.sex):
        retirement = working_age.retirement_age(seeker.sex)
        reasons.append(
            Exclusion(
                ExclusionCode.NOT_WORKING_AGE,
                f"age {age} is outside working age ({working_age.minimum_age} up to the retirement age "
                f"{retirement} for {'men' if seeker.sex == 'male' else 'women'})",
            )
        )
    if seeker.work_ability == "none":
        reasons.append(Exclusion(ExclusionCode.NO_WORK_ABILITY, "the person has no work ability"))
    return reasons


def hard_filter_reasons(
    seeker: Seeker, posting: Posting, today: date, *, working_age: WorkingAge = DEFAULT_WORKING_AGE
) -> list[Exclusion]:
    """Every hard filter that excludes this pair, each with a readable reason; empty when it is feasible."""
    reasons = seeker_exclusions(seeker, today, working_age=working_age)
    max_hours = seeker.profile.max_hours
    if max_hours is not None and posting.weekly_hours > max_hours:
        reasons.append(
            Exclusion(
                ExclusionCode.HOURS_ABOVE_MAXIMUM,
                f"the posting asks {posting.weekly_hours} hours a week, above the seeker's maximum of {max_hours}",
            )
        )
    if posting.heavy and seeker.excluded_from_heavy_work:
        causes = []
        if seeker.disability_level >= HEAVY_WORK_MIN_DISABILITY:
            causes.append(f"disability level {seeker.disability_level}")
        if seeker.chronic_illness:
            causes.append("chronic or serious illness")
        if seeker.profile.no_heavy_work:
            causes.append("the seeker's no-heavy-work constraint")
        reasons.append(Exclusion(ExclusionCode.HEAVY_WORK, f"heavy physical work is excluded: {', '.join(causes)}"))
    if not posting.accessible and seeker.needs_accessible_workplace:
        reasons.append(
            Exclusion(
                ExclusionCode.NOT_ACCESSIBLE,
                "the workplace is not accessible and the seeker's disability level is "
                f"{seeker.disability_level} ({ACCESSIBLE_WORKPLACE_MIN_DISABILITY} or more)",
            )
        )
    preference = seeker.profile.location_pref
    if location_relation(seeker, posting) not in _ACCEPTED_RELATIONS[preference]:
        if preference == "same_street":
            where = f"street {posting.street_code or 'unknown'}"
            accepted = f"their own street {seeker.street_code}"
        else:
            where = f"district {posting.district_code or 'unknown'}"
            accepted = f"their own district {seeker.district_code}"
        reasons.append(
            Exclusion(
                ExclusionCode.LOCATION,
                f"the posting is in {where} and not remote; the seeker accepts only {accepted}",
            )
        )
    if posting.public_welfare and not seeker.public_welfare_eligible:
        reasons.append(
            Exclusion(
                ExclusionCode.PUBLIC_WELFARE_INELIGIBLE,
                "public-welfare posting (公益性岗位) and the seeker's household is "
                f"{seeker.household_status}, not enrolled or in transition",
            )
        )
    if not posting.open:
        reasons.append(Exclusion(ExclusionCode.POSTING_CLOSED, "the posting is closed"))
    if not posting.valid_on(today):
        until = posting.valid_to.isoformat() if posting.valid_to is not None else "open-ended"
        reasons.append(
            Exclusion(
                ExclusionCode.POSTING_NOT_VALID,
                f"the posting is valid from {posting.valid_from.isoformat()} to {until}, not on {today.isoformat()}",
            )
        )
    return reasons


# --- the score --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Priority:
    """The job-fair tier: 1 = member of a zero-employment household, 2 = disability level ≥ 1, 3 = others."""

    tier: int
    label: str


PRIORITY_ZERO_EMPLOYMENT_HOUSEHOLD = Priority(1, "zero_employment_household")
PRIORITY_DISABILITY = Priority(2, "disability")
PRIORITY_GENERAL = Priority(3, "general")


def priority_of(seeker: Seeker) -> Priority:
    if seeker.zero_employment_household:
        return PRIORITY_ZERO_EMPLOYMENT_HOUSEHOLD
    if seeker.disability_level >= 1:
        return PRIORITY_DISABILITY
    return PRIORITY_GENERAL


@dataclass(frozen=True, slots=True)
class Contribution:
    """One component: raw value in [0, 1], weight, and weight × value, each rounded half-up to 4 places.

    (The raw value is rounded for display only; the total is computed from the exact values.)
    """

    value: Decimal
    weight: Decimal
    contribution: Decimal


@dataclass(frozen=True, slots=True)
class Score:
    """The score of a pair.

    `total` is the exact weighted sum rounded once, so it may differ by up to 0.0003 from the sum of the
    rounded contributions.
    """

    total: Decimal
    units: int  # total × 10⁴
    contributions: Mapping[str, Contribution]
    missing_skills: tuple[str, ...]  # essential skills the seeker lacks: they feed training suggestions
    priority: Priority


def _coverage(required: frozenset[str], held: frozenset[str]) -> Fraction:
    return Fraction(len(required & held), len(required)) if required else Fraction(1)


def score_components(seeker: Seeker, posting: Posting) -> dict[str, Fraction]:
    """The six components as exact fractions in [0, 1], in weight order."""
    profile = seeker.profile
    wage_fit = (
        min(Fraction(1), Fraction(posting.wage_cents, profile.min_wage_cents))
        if profile.min_wage_cents
        else Fraction(1)
    )
    relation = location_relation(seeker, posting)
    if relation == "remote":
        location = LOCATION_REMOTE_PREFERRED if profile.prefers_remote else LOCATION_REMOTE_NOT_PREFERRED
    else:
        location = {
            "same_street": LOCATION_SAME_STREET,
            "same_district": LOCATION_SAME_DISTRICT,
            "other": LOCATION_OTHER,
        }[relation]
    desired = profile.desired_hours
    hours = posting.weekly_hours
    hours_fit = 1 - Fraction(abs(hours - desired), max(hours, desired)) if desired is not None else Fraction(1)
    seeker_education = EDUCATION_RANK[seeker.education] if seeker.education is not None else 0
    education = Fraction(1 if seeker_education >= posting.min_education_rank else 0)
    return {
        "essential_skills": _coverage(posting.essential_skills, seeker.skills),
        "optional_skills": _coverage(posting.optional_skills, seeker.skills),
        "wage": wage_fit,
        "location": location,
        "hours": hours_fit,
        "education": education,
    }


def score(seeker: Seeker, posting: Posting) -> Score:
    """The score of a pair with its contributions (the hard filters are checked separately)."""
    components = score_components(seeker, posting)
    contributions: dict[str, Contribution] = {}
    total = Fraction(0)
    for name, value in components.items():
        weight = COMPONENT_WEIGHTS[name]
        weighted = Fraction(weight) * value
        total += weighted
        contributions[name] = Contribution(round_half_up(value), weight, round_half_up(weighted))
    units = floor(total * SCORE_UNITS_PER_ONE + Fraction(1, 2))
    return Score(
        total=score_from_units(units),
        units=units,
        contributions=contributions,
        missing_skills=tuple(sorted(posting.essential_skills - seeker.skills)),
        priority=priority_of(seeker),
    )


# --- the ranking kernel -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeekerTerms:
    """A seeker reduced to what `pair_score_units` reads: prepared once per ranking instead of once per pair."""

    skills: frozenset[str]
    min_wage_cents: int  # 0: no minimum
    desired_hours: int  # 0: no desire
    max_hours: int
    excludes_heavy: bool
    needs_accessible: bool
    accepts_same_district: bool
    accepts_other_district: bool
    street_code: str
    district_code: str
    remote_location_units: int
    public_welfare_eligible: bool
    education_rank: int

    @classmethod
    def of(cls, seeker: Seeker) -> SeekerTerms:
        profile = seeker.profile
        return cls(
            skills=seeker.skills,
            min_wage_cents=profile.min_wage_cents,
            desired_hours=profile.desired_hours or 0,
            max_hours=profile.max_hours if profile.max_hours is not None else _NO_MAXIMUM_HOURS,
            excludes_heavy=seeker.excluded_from_heavy_work,
            needs_accessible=seeker.needs_accessible_workplace,
            accepts_same_district=profile.location_pref != "same_street",
            accepts_other_district=profile.location_pref == "any",
            street_code=seeker.street_code,
            district_code=seeker.district_code,
            remote_location_units=(_REMOTE_PREFERRED_UNITS if profile.prefers_remote else _REMOTE_NOT_PREFERRED_UNITS),
            public_welfare_eligible=seeker.public_welfare_eligible,
            education_rank=EDUCATION_RANK[seeker.education] if seeker.education is not None else 0,
        )


def pair_score_units(terms: SeekerTerms, posting: Posting, today: date) -> int:
    """The pair's score in units (exactly rounded half-up), or -1 when a posting-dependent filter excludes it.

    The seeker-only filters (working age, work ability) are checked once by the caller. The weighted sum is
    accumulated as one integer fraction numerator / denominator: the essential, optional, wage and hours
    components are fractions, location and education whole units.
    """
    if (
        not posting.open
        or today < posting.valid_from
        or (posting.valid_to is not None and today > posting.valid_to)
        or posting.weekly_hours > terms.max_hours
        or (posting.heavy and terms.excludes_heavy)
        or (terms.needs_accessible and not posting.accessible)
        or (posting.public_welfare and not terms.public_welfare_eligible)
    ):
        return -1
    if posting.remote:
        whole_units = terms.remote_location_units
    elif posting.street_code is not None and posting.street_code == terms.street_code:
        whole_units = _SAME_STREET_UNITS
    elif posting.district_code is not None and posting.district_code == terms.district_code:
        if not terms.accepts_same_district:
            return -1
        whole_units = _SAME_DISTRICT_UNITS
    elif terms.accepts_other_district:
        whole_units = 0
    else:
        return -1
    if terms.education_rank >= posting.min_education_rank:
        whole_units += _EDUCATION_UNITS

    essential = posting.essential_skills
    if essential:
        numerator = _ESSENTIAL_UNITS * len(essential & terms.skills)
        denominator = len(essential)
    else:
        numerator = _ESSENTIAL_UNITS
        denominator = 1
    optional = posting.optional_skills
    if optional:
        count = len(optional)
        numerator = numerator * count + _OPTIONAL_UNITS * len(optional & terms.skills) * denominator
        denominator *= count
    else:
        numerator += _OPTIONAL_UNITS * denominator
    minimum = terms.min_wage_cents
    if minimum:
        wage = posting.wage_cents
        numerator = numerator * minimum + _WAGE_UNITS * (wage if wage < minimum else minimum) * denominator
        denominator *= minimum
    else:
        numerator += _WAGE_UNITS * denominator
    desired = terms.desired_hours
    if desired:
        # 1 − |hours − desired| / max(hours, desired) = min / max
        hours = posting.weekly_hours
        low, high = (hours, desired) if hours < desired else (desired, hours)
        numerator = numerator * high + _HOURS_UNITS * low * denominator
        denominator *= high
    else:
        numerator += _HOURS_UNITS * denominator
    numerator += whole_units * denominator
    return (2 * numerator + denominator) // (2 * denominator)


def feasible_score_units(
    seeker: Seeker, posting: Posting, today: date, *, working_age: WorkingAge = DEFAULT_WORKING_AGE
) -> int | None:
    """The pair's score in units when every hard filter passes, else None (one pair; rankings batch this)."""
    if seeker_exclusions(seeker, today, working_age=working_age):
        return None
    units = pair_score_units(seeker.terms, posting, today)
    return units if units >= 0 else None


# --- recommendations --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostingRecommendation:
    posting: Posting
    score: Score


@dataclass(frozen=True, slots=True)
class ExcludedPosting:
    posting: Posting
    reasons: tuple[Exclusion, ...]


@dataclass(frozen=True, slots=True)
class PostingRecommendations:
    priority: Priority
    recommended: tuple[PostingRecommendation, ...]  # best first
    feasible_count: int  # postings that passed every hard filter
    excluded: tuple[ExcludedPosting, ...]  # only when asked to explain; in the order given


@dataclass(frozen=True, slots=True)
class CandidateRecommendation:
    seeker: Seeker
    score: Score


def _best_first(units: list[int], items: list[_T], limit: int, item_id: Callable[[_T], UUID]) -> list[_T]:
    """The `limit` best items by units descending, then by id; only the tied tail is sorted."""
    if limit == 0:
        return []
    if limit < len(units):
        threshold = heapq.nlargest(limit, units)[-1]
        chosen = [(u, item) for u, item in zip(units, items, strict=True) if u >= threshold]
    else:
        chosen = list(zip(units, items, strict=True))
    chosen.sort(key=lambda pair: (-pair[0], item_id(pair[1])))
    return [item for _units, item in chosen[:limit]]


def recommend_postings(
    seeker: Seeker,
    postings: Iterable[Posting],
    today: date,
    limit: int = 20,
    explain_excluded: bool = False,
    *,
    working_age: WorkingAge = DEFAULT_WORKING_AGE,
) -> PostingRecommendations:
    """The feasible postings for a seeker, best score first (ties by posting id), with their contributions.

    With `explain_excluded` the postings that a hard filter excluded come back too, each with its reasons.
    """
    if limit < 0:
        raise ValueError(f"limit cannot be negative, got {limit}")
    postings = postings if isinstance(postings, Sequence) else list(postings)
    priority = priority_of(seeker)
    if seeker_exclusions(seeker, today, working_age=working_age):
        excluded = (
            tuple(
                ExcludedPosting(p, tuple(hard_filter_reasons(seeker, p, today, working_age=working_age)))
                for p in postings
            )
            if explain_excluded
            else ()
        )
        return PostingRecommendations(priority, (), 0, excluded)

    terms = seeker.terms
    units: list[int] = []
    feasible: list[Posting] = []
    rejected: list[Posting] = []
    for posting in postings:
        pair_units = pair_score_units(terms, posting, today)
        if pair_units >= 0:
            units.append(pair_units)
            feasible.append(posting)
        elif explain_excluded:
            rejected.append(posting)
    best = _best_first(units, feasible, limit, _posting_id)
    excluded = tuple(
        ExcludedPosting(p, tuple(hard_filter_reasons(seeker, p, today, working_age=working_age))) for p in rejected
    )
    return PostingRecommendations(
        priority=priority,
        recommended=tuple(PostingRecommendation(p, score(seeker, p)) for p in best),
        feasible_count=len(feasible),
        excluded=excluded,
    )


def recommend_seekers(
    posting: Posting,
    seekers: Iterable[Seeker],
    today: date,
    limit: int = 20,
    *,
    working_age: WorkingAge = DEFAULT_WORKING_AGE,
) -> tuple[CandidateRecommendation, ...]:
    """The seekers for whom the posting passes every hard filter, best score first (ties by person id)."""
    if limit < 0:
        raise ValueError(f"limit cannot be negative, got {limit}")
    units: list[int] = []
    feasible: list[Seeker] = []
    if not posting.open or not posting.valid_on(today):
        return ()
    first_birth_year = {sex: today.year - working_age.retirement_age(sex) + 1 for sex in ("male", "female")}
    last_birth_year = today.year - working_age.minimum_age
    for seeker in seekers:
        # The seeker-only filters of seeker_exclusions(), inlined: this loop runs over every seeker.
        if (
            seeker.work_ability == "none"
            or seeker.birth_year > last_birth_year
            or seeker.birth_year < first_birth_year[seeker.sex]
        ):
            continue
        pair_units = pair_score_units(seeker.terms, posting, today)
        if pair_units >= 0:
            units.append(pair_units)
            feasible.append(seeker)
    best = _best_first(units, feasible, limit, _person_id)
    return tuple(CandidateRecommendation(s, score(s, posting)) for s in best)


def _posting_id(posting: Posting) -> UUID:
    return posting.posting_id


def _person_id(seeker: Seeker) -> UUID:
    return seeker.person_id
