"""Tables of the matching schema: employers and postings (岗位库), the seekers projected from the registry
(对象库), profiles, job fairs, applications and placements, trainings.

Money is `numeric(14, 2)`; skills are arrays of vocabulary codes. Hot reads (open postings, seekers) go through
SQLAlchemy Core on `Model.__table__` (PERFORMANCE.md). The only personal data held here is an applicant's contact
name and phone, given with consent and stored encrypted (`FieldCipher`, associated data = the column name).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from uplift.common.db import new_id
from uplift.matching.db import Base, metadata, platform

MONEY = sa.Numeric(14, 2)
SKILLS = ARRAY(sa.Text)

__all__ = [
    "Application",
    "Base",
    "Employer",
    "JobFair",
    "Placement",
    "Posting",
    "SeekerHousehold",
    "SeekerPerson",
    "SeekerProfile",
    "Training",
    "TrainingEnrolment",
    "WorkingAgeParameters",
    "metadata",
    "platform",
    "table_of",
]


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)


def _timestamp() -> Mapped[dt.datetime]:
    return mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class Employer(Base):
    __tablename__ = "employers"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    credit_code: Mapped[str | None] = mapped_column(sa.Text)  # 统一社会信用代码
    street_code: Mapped[str | None] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = _timestamp()
    updated_at: Mapped[dt.datetime] = _timestamp()


class Posting(Base):
    """A job in the pool; `district_code` is derived from the street (its first six digits)."""

    __tablename__ = "postings"
    __table_args__ = (
        sa.CheckConstraint("openings >= 0", name="openings_not_negative"),
        sa.CheckConstraint("monthly_wage >= 0", name="wage_not_negative"),
        sa.CheckConstraint("weekly_hours > 0 AND weekly_hours <= 80", name="hours_in_range"),
        sa.CheckConstraint("remote OR street_code IS NOT NULL", name="street_or_remote"),
        sa.Index("ix_postings_open_id", "open", "id"),
        sa.Index("ix_postings_employer_id", "employer_id"),
        sa.Index("ix_postings_updated_at", "updated_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    employer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("employers.id", name="fk_postings_employer_id_employers"), nullable=False
    )
    occupation: Mapped[str] = mapped_column(sa.Text, nullable=False)
    essential_skills: Mapped[list[str]] = mapped_column(SKILLS, nullable=False)
    optional_skills: Mapped[list[str]] = mapped_column(SKILLS, nullable=False)
    monthly_wage: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    weekly_hours: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    street_code: Mapped[str | None] = mapped_column(sa.Text)
    district_code: Mapped[str | None] = mapped_column(sa.Text)
    remote: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    physical_demand: Mapped[str] = mapped_column(sa.Text, nullable=False)
    accessible: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    min_education: Mapped[str | None] = mapped_column(sa.Text)
    openings: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    valid_from: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    valid_to: Mapped[dt.date | None] = mapped_column(sa.Date)
    open: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    public_welfare: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = _timestamp()
    updated_at: Mapped[dt.datetime] = _timestamp()


class SeekerHousehold(Base):
    """The newest registry snapshot of a household, as far as matching needs it."""

    __tablename__ = "seeker_households"
    __table_args__ = (sa.Index("ix_seeker_households_updated_at", "updated_at"),)

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    category: Mapped[str] = mapped_column(sa.Text, nullable=False)
    street_code: Mapped[str] = mapped_column(sa.Text, nullable=False)
    community_code: Mapped[str] = mapped_column(sa.Text, nullable=False)
    updated_at: Mapped[dt.datetime] = _timestamp()


class SeekerPerson(Base):
    """The newest registry snapshot of a person (no personal data: the registry sends none)."""

    __tablename__ = "seeker_persons"
    __table_args__ = (
        sa.Index("ix_seeker_persons_household_id", "household_id"),
        sa.Index("ix_seeker_persons_updated_at", "updated_at"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    birth_year: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    sex: Mapped[str] = mapped_column(sa.Text, nullable=False)
    work_ability: Mapped[str] = mapped_column(sa.Text, nullable=False)
    employment_status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    disability_level: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False)
    chronic_illness: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    education: Mapped[str] = mapped_column(sa.Text, nullable=False)
    skills: Mapped[list[str]] = mapped_column(SKILLS, nullable=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    updated_at: Mapped[dt.datetime] = _timestamp()


class SeekerProfile(Base):
    """What the seeker (or their helper) wants, plus the skills trainings here added; `version` moves on every
    write, so that other workers' seeker indexes see the change."""

    __tablename__ = "seeker_profiles"
    __table_args__ = (sa.Index("ix_seeker_profiles_updated_at", "updated_at"),)

    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    desired_occupations: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False, default=list)
    desired_hours: Mapped[int | None] = mapped_column(sa.Integer)
    max_hours: Mapped[int | None] = mapped_column(sa.Integer)
    min_wage: Mapped[Decimal | None] = mapped_column(MONEY)
    location_pref: Mapped[str] = mapped_column(sa.Text, nullable=False, default="same_district")
    prefers_remote: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    no_heavy_work: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    trained_skills: Mapped[list[str]] = mapped_column(SKILLS, nullable=False, default=list)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1, server_default="1")
    updated_at: Mapped[dt.datetime] = _timestamp()


class WorkingAgeParameters(Base):
    """Retirement ages from `registry.parameters.set`, one row per version (in force from `effective_from`)."""

    __tablename__ = "working_age_parameters"

    effective_from: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    retirement_age_male: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    retirement_age_female: Mapped[int] = mapped_column(sa.Integer, nullable=False)


class JobFair(Base):
    __tablename__ = "job_fairs"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    held_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    posting_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), nullable=False)
    seeker_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), nullable=False)
    k: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # the `:assign` answer, once assigned
    assigned_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _timestamp()


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        sa.Index("ix_applications_posting_id", "posting_id"),
        sa.Index("ix_applications_person_id", "person_id"),
        sa.Index("ix_applications_job_fair_id", "job_fair_id"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    posting_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        sa.ForeignKey("postings.id", name="fk_applications_posting_id_postings"),
        nullable=False,
    )
    job_fair_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)  # business date of the last step
    score: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 4))
    contact_name: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # encrypted
    contact_phone: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # encrypted
    placement_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = _timestamp()
    updated_at: Mapped[dt.datetime] = _timestamp()


class Placement(Base):
    """A hire: what `matching.placement.hired` announced, and when it ended."""

    __tablename__ = "placements"
    __table_args__ = (
        sa.Index("ix_placements_person_id", "person_id"),
        sa.Index("ix_placements_household_id", "household_id"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    application_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, unique=True)
    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    posting_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    monthly_wage: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    public_welfare: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    remote: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    started_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    ended_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    created_at: Mapped[dt.datetime] = _timestamp()


class Training(Base):
    __tablename__ = "trainings"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    skills: Mapped[list[str]] = mapped_column(SKILLS, nullable=False)
    starts_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    ends_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    capacity: Mapped[int | None] = mapped_column(sa.Integer)
    remote: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    created_at: Mapped[dt.datetime] = _timestamp()


class TrainingEnrolment(Base):
    __tablename__ = "training_enrolments"

    training_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        sa.ForeignKey("trainings.id", name="fk_training_enrolments_training_id_trainings"),
        primary_key=True,
    )
    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    enrolled_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    completed_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    created_at: Mapped[dt.datetime] = _timestamp()


def table_of(model: type[Base]) -> sa.Table:
    """The Core table of a model (use cases query through Core)."""
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table
