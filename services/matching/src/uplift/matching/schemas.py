"""Request and response bodies of the matching API (API.md, Matching): `XCreate`, `XUpdate`, `XRead`."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from uplift.common.contracts import EnumCode, StreetCode
from uplift.common.money import MoneyStr, NonNegativeMoney
from uplift.matching.domain.applications import ApplicationStatus
from uplift.matching.domain.scoring import Education, LocationPreference, PhysicalDemand

WeeklyHours = Annotated[int, Field(ge=1, le=80, description="weekly hours, 1–80")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
SkillCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ScoreStr = Annotated[str, Field(pattern=r"^[01]\.[0-9]{4}$", examples=["0.8500"])]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- employers ---------------------------------------------------------------------------------------------


class EmployerCreate(Body):
    name: ShortText
    credit_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{18}$")] | None = None
    street_code: StreetCode | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None


class EmployerUpdate(Body):
    name: ShortText | None = None
    credit_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{18}$")] | None = None
    street_code: StreetCode | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None


class EmployerRead(BaseModel):
    id: uuid.UUID
    name: str
    credit_code: str | None
    street_code: str | None
    description: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


# --- postings ----------------------------------------------------------------------------------------------


class PostingCreate(Body):
    employer_id: uuid.UUID | None = Field(default=None, description="defaults to the employer of the token")
    occupation: ShortText
    essential_skills: list[SkillCode] = Field(default_factory=list, max_length=30)
    optional_skills: list[SkillCode] = Field(default_factory=list, max_length=30)
    monthly_wage: NonNegativeMoney
    weekly_hours: WeeklyHours
    street_code: StreetCode | None = None
    remote: bool = False
    physical_demand: PhysicalDemand = "light"
    accessible: bool = False
    min_education: Education | None = None
    openings: int = Field(ge=0, le=100_000)
    valid_from: dt.date
    valid_to: dt.date | None = None
    open: bool = True
    public_welfare: bool = False


class PostingUpdate(Body):
    occupation: ShortText | None = None
    essential_skills: list[SkillCode] | None = Field(default=None, max_length=30)
    optional_skills: list[SkillCode] | None = Field(default=None, max_length=30)
    monthly_wage: NonNegativeMoney | None = None
    weekly_hours: WeeklyHours | None = None
    street_code: StreetCode | None = None
    remote: bool | None = None
    physical_demand: PhysicalDemand | None = None
    accessible: bool | None = None
    min_education: Education | None = None
    openings: int | None = Field(default=None, ge=0, le=100_000)
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    open: bool | None = None
    public_welfare: bool | None = None


class PostingRead(BaseModel):
    id: uuid.UUID
    employer_id: uuid.UUID
    occupation: str
    essential_skills: list[str]
    optional_skills: list[str]
    monthly_wage: MoneyStr
    weekly_hours: int
    street_code: str | None
    district_code: str | None
    remote: bool
    physical_demand: str
    accessible: bool
    min_education: str | None
    openings: int
    valid_from: dt.date
    valid_to: dt.date | None
    open: bool
    public_welfare: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


# --- skills ------------------------------------------------------------------------------------------------


class SkillRead(BaseModel):
    code: str
    label_zh: str
    label_en: str
    aliases: list[str]
    match_score: float = Field(description="0–100; 100 for an exact name")


class SkillList(BaseModel):
    items: list[SkillRead]


# --- seekers -----------------------------------------------------------------------------------------------


class SeekerConstraints(Body):
    max_weekly_hours: WeeklyHours | None = Field(default=None, description="caregiving: at most these hours")
    no_heavy_work: bool = False


class SeekerProfileUpdate(Body):
    desired_occupations: list[ShortText] = Field(default_factory=list, max_length=20)
    desired_weekly_hours: WeeklyHours | None = None
    min_monthly_wage: NonNegativeMoney | None = None
    location_preference: LocationPreference = "same_district"
    prefers_remote: bool = False
    constraints: SeekerConstraints = Field(default_factory=SeekerConstraints)


class SeekerProfileRead(BaseModel):
    desired_occupations: list[str]
    desired_weekly_hours: int | None
    min_monthly_wage: MoneyStr | None
    location_preference: str
    prefers_remote: bool
    constraints: SeekerConstraints
    trained_skills: list[str]


class PriorityRead(BaseModel):
    tier: int
    label: str


class SeekerRead(BaseModel):
    person_id: uuid.UUID
    household_id: uuid.UUID
    birth_year: int
    age: int
    sex: str
    working_age: bool
    work_ability: str
    employment_status: str
    disability_level: int
    chronic_illness: bool
    education: str
    street_code: str
    community_code: str
    household_status: str
    household_category: str
    public_welfare_eligible: bool
    zero_employment_household: bool
    skills: list[str]
    priority: PriorityRead
    profile: SeekerProfileRead


# --- recommendations ---------------------------------------------------------------------------------------


class ContributionRead(BaseModel):
    value: ScoreStr
    weight: str
    contribution: ScoreStr


class PostingSummary(BaseModel):
    posting_id: uuid.UUID
    employer_id: uuid.UUID
    occupation: str
    monthly_wage: MoneyStr
    weekly_hours: int
    street_code: str | None
    remote: bool
    public_welfare: bool
    openings: int


class RecommendedPosting(PostingSummary):
    score: ScoreStr
    contributions: dict[str, ContributionRead]
    missing_skills: list[str]
    priority: str


class ExclusionRead(BaseModel):
    code: str
    message: str


class ExcludedPostingRead(PostingSummary):
    reasons: list[ExclusionRead]


class RecommendationsRead(BaseModel):
    person_id: uuid.UUID
    priority: PriorityRead
    on: dt.date
    feasible_count: int
    items: list[RecommendedPosting]
    excluded: list[ExcludedPostingRead] | None = Field(
        default=None,
        description="with explain_excluded: the first `excluded_limit` excluded postings, those the seeker's location"
        " admits first, then fewer excluding filters first, then by posting id",
    )
    excluded_count: int | None = Field(default=None, description="with explain_excluded: every excluded posting")
    excluded_by_reason: dict[str, int] | None = Field(
        default=None,
        description="with explain_excluded: excluded postings per filter code (one excluded by several counts under"
        " each)",
    )


class CandidateRead(BaseModel):
    person_id: uuid.UUID
    household_id: uuid.UUID
    street_code: str
    age: int
    disability_level: int
    skills: list[str]
    score: ScoreStr
    contributions: dict[str, ContributionRead]
    missing_skills: list[str]
    priority: str
    tier: int


class CandidatesRead(BaseModel):
    posting_id: uuid.UUID
    on: dt.date
    items: list[CandidateRead]


# --- job fairs ---------------------------------------------------------------------------------------------


class JobFairCreate(Body):
    name: ShortText
    held_on: dt.date
    posting_ids: list[uuid.UUID] = Field(max_length=50_000)
    seeker_ids: list[uuid.UUID] = Field(max_length=200_000)
    k: int = Field(default=50, ge=1, le=500)


class JobFairRead(BaseModel):
    id: uuid.UUID
    name: str
    held_on: dt.date
    posting_ids: list[uuid.UUID]
    seeker_ids: list[uuid.UUID]
    k: int
    assigned: bool
    created_at: dt.datetime


class ObjectiveRead(BaseModel):
    tier1_matched: int
    tier2_matched: int
    total_score: str


class AssignmentRead(BaseModel):
    person_id: uuid.UUID
    posting_id: uuid.UUID
    score: ScoreStr
    tier: int
    application_id: uuid.UUID


class GroupRateRead(BaseModel):
    invited: int
    matched: int
    rate: str


class RatesRead(BaseModel):
    by_tier: dict[str, GroupRateRead]
    by_disability: dict[str, GroupRateRead]


class JobFairAssignmentRead(BaseModel):
    job_fair_id: uuid.UUID
    assignments: list[AssignmentRead]
    objective: ObjectiveRead
    greedy: ObjectiveRead
    filled: int
    openings: int
    rates: RatesRead


# --- applications ------------------------------------------------------------------------------------------


class ApplicationCreate(Body):
    person_id: uuid.UUID
    posting_id: uuid.UUID
    contact_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None = None
    contact_phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 -]{5,20}$")] | None = None


class ApplicationTransition(Body):
    to: ApplicationStatus
    on: dt.date
    monthly_wage: NonNegativeMoney | None = Field(default=None, description="for `hired`: the agreed wage")
    reason: EnumCode | None = Field(default=None, description="for `left`: why the placement ended")


class PlacementRead(BaseModel):
    placement_id: uuid.UUID
    monthly_wage: MoneyStr
    public_welfare: bool
    remote: bool
    started_on: dt.date
    ended_on: dt.date | None


class ApplicationRead(BaseModel):
    id: uuid.UUID
    person_id: uuid.UUID
    household_id: uuid.UUID
    posting_id: uuid.UUID
    job_fair_id: uuid.UUID | None
    status: ApplicationStatus
    status_on: dt.date
    score: str | None
    contact_name: str | None = Field(description="shown in full only to the posting's employer; masked otherwise")
    contact_phone: str | None
    contact_masked: bool
    allowed_transitions: list[ApplicationStatus]
    placement: PlacementRead | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


# --- trainings ---------------------------------------------------------------------------------------------


class TrainingCreate(Body):
    name: ShortText
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    skills: list[SkillCode] = Field(min_length=1, max_length=30)
    starts_on: dt.date
    ends_on: dt.date | None = None
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    remote: bool = False


class TrainingRead(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    skills: list[str]
    starts_on: dt.date
    ends_on: dt.date | None
    capacity: int | None
    remote: bool
    enrolled: int
    created_at: dt.datetime


class EnrolmentCreate(Body):
    person_id: uuid.UUID
    enrolled_on: dt.date | None = None


class EnrolmentComplete(Body):
    completed_on: dt.date | None = None


class EnrolmentRead(BaseModel):
    training_id: uuid.UUID
    person_id: uuid.UUID
    enrolled_on: dt.date
    completed_on: dt.date | None
    skills_added: list[str] = Field(default_factory=list)


def score_text(value: Decimal) -> str:
    """A score or ratio with its four places: `0.8500`."""
    return f"{value:.4f}"


TierKey = Literal["1", "2", "3"]
