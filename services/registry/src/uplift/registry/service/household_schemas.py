"""Request and response bodies of households and persons (API.md, Registry); unknown fields are 422."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from uplift.common.contracts import (
    Category,
    Cause,
    CommunityCode,
    Education,
    EmploymentStatus,
    ExitReason,
    Helper,
    HouseholdStatus,
    Sex,
    VocabularyCode,
    WorkAbility,
)
from uplift.common.money import MoneyStr, NonNegativeMoney

Relation = Literal["head", "spouse", "child", "parent", "grandchild", "grandparent", "sibling", "other"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 -]{4,30}$")]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Cohort = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberFields(_Body):
    """What can be said of a member on entry and changed later (the ID number never changes)."""

    name: Name
    phone: Phone | None = None
    relation: Relation
    education: Education = "none"
    work_ability: WorkAbility
    employment_status: EmploymentStatus
    disability_level: int = Field(default=0, ge=0, le=4)
    chronic_illness: bool = False
    illness_note: Note | None = None
    skills: list[VocabularyCode] = Field(default_factory=list, max_length=50)
    pension_insured: bool = False
    medical_insured: bool = False


class MemberCreate(MemberFields):
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    birth_date: dt.date | None = None  # when sent, must agree with the ID number
    sex: Sex | None = None  # when sent, must agree with the ID number
    member_since: dt.date | None = None  # default: the enrolment date (or today when added later)


class MemberUpdate(_Body):
    name: Name | None = None
    phone: Phone | None = None
    relation: Relation | None = None
    education: Education | None = None
    work_ability: WorkAbility | None = None
    employment_status: EmploymentStatus | None = None
    disability_level: int | None = Field(default=None, ge=0, le=4)
    chronic_illness: bool | None = None
    illness_note: Note | None = None
    skills: list[VocabularyCode] | None = Field(default=None, max_length=50)
    pension_insured: bool | None = None
    medical_insured: bool | None = None


class HouseholdCreate(_Body):
    community_code: CommunityCode
    address: Address
    category: Category
    monthly_income: NonNegativeMoney = Decimal("0.00")  # what the operator records (placements add to it)
    dibao_monthly: NonNegativeMoney = Decimal("0.00")
    causes: list[Cause] = Field(default_factory=list)
    cohort: Cohort
    enrolled_on: dt.date
    members: list[MemberCreate] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _one_head(self) -> HouseholdCreate:
        heads = sum(1 for member in self.members if member.relation == "head")
        if heads != 1:
            raise ValueError(f"a household has exactly one member with relation 'head', this one has {heads}")
        return self


class HouseholdUpdate(_Body):
    """Fields an operator may change; `recorded_income` is the operator's part of the monthly income."""

    community_code: CommunityCode | None = None
    address: Address | None = None
    category: Category | None = None
    recorded_income: NonNegativeMoney | None = None
    dibao_monthly: NonNegativeMoney | None = None
    causes: list[Cause] | None = None
    cohort: Cohort | None = None


class TransitionRead(BaseModel):
    starts_on: dt.date
    ends_on: dt.date


class ExitRead(BaseModel):
    reason: ExitReason
    exited_on: dt.date
    monitoring_until: dt.date | None = None
    employed_person_ids: list[uuid.UUID] = Field(default_factory=list)


class MemberRead(BaseModel):
    person_id: uuid.UUID
    version: int
    active: bool
    member_since: dt.date
    relation: Relation
    name: str
    id_number: str
    phone: str | None = None
    birth_year: int
    birth_date: dt.date | None = None  # only unmasked: it is part of the ID number
    sex: Sex
    education: Education
    work_ability: WorkAbility
    employment_status: EmploymentStatus
    disability_level: int
    chronic_illness: bool
    illness_note: str | None = None  # only unmasked
    skills: list[str]
    pension_insured: bool
    medical_insured: bool


class HouseholdRead(BaseModel):
    id: uuid.UUID
    version: int
    status: HouseholdStatus
    category: Category
    street_code: str
    community_code: str
    address: str | None
    cohort: str
    enrolled_on: dt.date
    recorded_income: MoneyStr
    placement_wages: MoneyStr
    monthly_income: MoneyStr
    per_capita_income: MoneyStr | None
    dibao_monthly: MoneyStr
    causes: list[Cause]
    size: int
    zero_employment: bool
    relapsed: bool
    head_person_id: uuid.UUID | None
    transition: TransitionRead | None
    exit: ExitRead | None
    helper: Helper | None = None
    pii_masked: bool
    members: list[MemberRead]
    updated_at: dt.datetime


class HouseholdSummary(BaseModel):
    """A list item: no personal data, so lists need no audit."""

    id: uuid.UUID
    version: int
    status: HouseholdStatus
    category: Category
    street_code: str
    community_code: str
    cohort: str
    enrolled_on: dt.date
    monthly_income: MoneyStr
    dibao_monthly: MoneyStr
    causes: list[Cause]
    size: int
    zero_employment: bool
    relapsed: bool
    transition: TransitionRead | None
    exit: ExitRead | None
    updated_at: dt.datetime


class HouseholdCreated(BaseModel):
    id: uuid.UUID
    version: int
    person_ids: list[uuid.UUID]


class PersonLookup(_Body):
    """Exactly one of `id_number` and `name` (POST keeps them out of URLs and logs)."""

    id_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] | None = None
    name: Name | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PersonLookup:
        if (self.id_number is None) == (self.name is None):
            raise ValueError("give exactly one of id_number and name")
        return self


class PersonMatch(BaseModel):
    person_id: uuid.UUID
    household_id: uuid.UUID
    active: bool
    relation: str
    name: str
    id_number: str
    birth_year: int
    sex: Sex
