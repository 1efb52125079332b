"""The matching tables: employers, postings, the registry projection, profiles, job fairs, applications,
placements, trainings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from uplift.matching.db import SCHEMA

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(14, 2)
ID = UUID(as_uuid=True)
SKILLS = ARRAY(sa.Text)


def _created_at() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _updated_at() -> sa.Column[object]:
    return sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "employers",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("credit_code", sa.Text),
        sa.Column("street_code", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name="pk_employers"),
        schema=SCHEMA,
    )
    op.create_table(
        "postings",
        sa.Column("id", ID, nullable=False),
        sa.Column("employer_id", ID, nullable=False),
        sa.Column("occupation", sa.Text, nullable=False),
        sa.Column("essential_skills", SKILLS, nullable=False),
        sa.Column("optional_skills", SKILLS, nullable=False),
        sa.Column("monthly_wage", MONEY, nullable=False),
        sa.Column("weekly_hours", sa.Integer, nullable=False),
        sa.Column("street_code", sa.Text),
        sa.Column("district_code", sa.Text),
        sa.Column("remote", sa.Boolean, nullable=False),
        sa.Column("physical_demand", sa.Text, nullable=False),
        sa.Column("accessible", sa.Boolean, nullable=False),
        sa.Column("min_education", sa.Text),
        sa.Column("openings", sa.Integer, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("public_welfare", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name="pk_postings"),
        sa.ForeignKeyConstraint(["employer_id"], [f"{SCHEMA}.employers.id"], name="fk_postings_employer_id_employers"),
        sa.CheckConstraint("openings >= 0", name="ck_postings_openings_not_negative"),
        sa.CheckConstraint("monthly_wage >= 0", name="ck_postings_wage_not_negative"),
        sa.CheckConstraint("weekly_hours > 0 AND weekly_hours <= 80", name="ck_postings_hours_in_range"),
        sa.CheckConstraint("remote OR street_code IS NOT NULL", name="ck_postings_street_or_remote"),
        schema=SCHEMA,
    )
    op.create_index("ix_postings_open_id", "postings", ["open", "id"], schema=SCHEMA)
    op.create_index("ix_postings_employer_id", "postings", ["employer_id"], schema=SCHEMA)
    op.create_index("ix_postings_updated_at", "postings", ["updated_at"], schema=SCHEMA)

    op.create_table(
        "seeker_households",
        sa.Column("household_id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("street_code", sa.Text, nullable=False),
        sa.Column("community_code", sa.Text, nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("household_id", name="pk_seeker_households"),
        schema=SCHEMA,
    )
    op.create_table(
        "seeker_persons",
        sa.Column("person_id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("household_id", ID, nullable=False),
        sa.Column("birth_year", sa.Integer, nullable=False),
        sa.Column("sex", sa.Text, nullable=False),
        sa.Column("work_ability", sa.Text, nullable=False),
        sa.Column("employment_status", sa.Text, nullable=False),
        sa.Column("disability_level", sa.SmallInteger, nullable=False),
        sa.Column("chronic_illness", sa.Boolean, nullable=False),
        sa.Column("education", sa.Text, nullable=False),
        sa.Column("skills", SKILLS, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("person_id", name="pk_seeker_persons"),
        schema=SCHEMA,
    )
    op.create_index("ix_seeker_persons_household_id", "seeker_persons", ["household_id"], schema=SCHEMA)
    op.create_table(
        "seeker_profiles",
        sa.Column("person_id", ID, nullable=False),
        sa.Column("desired_occupations", ARRAY(sa.Text), nullable=False),
        sa.Column("desired_hours", sa.Integer),
        sa.Column("max_hours", sa.Integer),
        sa.Column("min_wage", MONEY),
        sa.Column("location_pref", sa.Text, nullable=False),
        sa.Column("prefers_remote", sa.Boolean, nullable=False),
        sa.Column("no_heavy_work", sa.Boolean, nullable=False),
        sa.Column("trained_skills", SKILLS, nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("person_id", name="pk_seeker_profiles"),
        schema=SCHEMA,
    )
    op.create_table(
        "working_age_parameters",
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("retirement_age_male", sa.Integer, nullable=False),
        sa.Column("retirement_age_female", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("effective_from", name="pk_working_age_parameters"),
        schema=SCHEMA,
    )
    op.create_table(
        "job_fairs",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("held_on", sa.Date, nullable=False),
        sa.Column("posting_ids", ARRAY(ID), nullable=False),
        sa.Column("seeker_ids", ARRAY(ID), nullable=False),
        sa.Column("k", sa.Integer, nullable=False),
        sa.Column("result", JSONB),
        sa.Column("assigned_at", sa.DateTime(timezone=True)),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_job_fairs"),
        schema=SCHEMA,
    )
    op.create_table(
        "applications",
        sa.Column("id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("household_id", ID, nullable=False),
        sa.Column("posting_id", ID, nullable=False),
        sa.Column("job_fair_id", ID),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_on", sa.Date, nullable=False),
        sa.Column("score", sa.Numeric(5, 4)),
        sa.Column("contact_name", sa.LargeBinary),
        sa.Column("contact_phone", sa.LargeBinary),
        sa.Column("placement_id", ID),
        sa.Column("version", sa.Integer, nullable=False),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name="pk_applications"),
        sa.ForeignKeyConstraint(["posting_id"], [f"{SCHEMA}.postings.id"], name="fk_applications_posting_id_postings"),
        schema=SCHEMA,
    )
    op.create_index("ix_applications_posting_id", "applications", ["posting_id"], schema=SCHEMA)
    op.create_index("ix_applications_person_id", "applications", ["person_id"], schema=SCHEMA)
    op.create_index("ix_applications_job_fair_id", "applications", ["job_fair_id"], schema=SCHEMA)
    op.create_table(
        "placements",
        sa.Column("id", ID, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("household_id", ID, nullable=False),
        sa.Column("posting_id", ID, nullable=False),
        sa.Column("monthly_wage", MONEY, nullable=False),
        sa.Column("public_welfare", sa.Boolean, nullable=False),
        sa.Column("remote", sa.Boolean, nullable=False),
        sa.Column("started_on", sa.Date, nullable=False),
        sa.Column("ended_on", sa.Date),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_placements"),
        sa.UniqueConstraint("application_id", name="uq_placements_application_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_placements_person_id", "placements", ["person_id"], schema=SCHEMA)
    op.create_index("ix_placements_household_id", "placements", ["household_id"], schema=SCHEMA)
    op.create_table(
        "trainings",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("skills", SKILLS, nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date),
        sa.Column("capacity", sa.Integer),
        sa.Column("remote", sa.Boolean, nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_trainings"),
        schema=SCHEMA,
    )
    op.create_table(
        "training_enrolments",
        sa.Column("training_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("household_id", ID, nullable=False),
        sa.Column("enrolled_on", sa.Date, nullable=False),
        sa.Column("completed_on", sa.Date),
        _created_at(),
        sa.PrimaryKeyConstraint("training_id", "person_id", name="pk_training_enrolments"),
        sa.ForeignKeyConstraint(
            ["training_id"], [f"{SCHEMA}.trainings.id"], name="fk_training_enrolments_training_id_trainings"
        ),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "training_enrolments",
        "trainings",
        "placements",
        "applications",
        "job_fairs",
        "working_age_parameters",
        "seeker_profiles",
        "seeker_persons",
        "seeker_households",
        "postings",
        "employers",
    ):
        op.drop_table(table, schema=SCHEMA)
