"""Org units, households, persons, status history, incomes, parameters, rewards, audit log, placements, claims,
imports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from uplift.registry.db import SCHEMA

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(14, 2)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "org_units",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("parent_code", sa.Text, sa.ForeignKey(f"{SCHEMA}.org_units.code")),
        sa.Column("linked_streets", ARRAY(sa.Text), nullable=False, server_default="{}"),
        *_timestamps(),
        schema=SCHEMA,
    )
    op.create_index("ix_org_units_parent_code", "org_units", ["parent_code"], schema=SCHEMA)

    op.create_table(
        "households",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("street_code", sa.Text, sa.ForeignKey(f"{SCHEMA}.org_units.code"), nullable=False),
        sa.Column("community_code", sa.Text, sa.ForeignKey(f"{SCHEMA}.org_units.code"), nullable=False),
        sa.Column("address_enc", sa.LargeBinary),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("cohort", sa.Text, nullable=False),
        sa.Column("enrolled_on", sa.Date, nullable=False),
        sa.Column("recorded_income", MONEY, nullable=False, server_default="0"),
        sa.Column("placement_wages", MONEY, nullable=False, server_default="0"),
        sa.Column("monthly_income", MONEY, nullable=False, server_default="0"),
        sa.Column("dibao_monthly", MONEY, nullable=False, server_default="0"),
        sa.Column("causes", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("size", sa.Integer, nullable=False, server_default="0"),
        sa.Column("zero_employment", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("relapsed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("head_person_id", UUID(as_uuid=True)),
        sa.Column("transition_starts_on", sa.Date),
        sa.Column("transition_ends_on", sa.Date),
        sa.Column("exit_reason", sa.Text),
        sa.Column("exited_on", sa.Date),
        sa.Column("monitoring_until", sa.Date),
        sa.Column("exit_employed_person_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
        sa.Column("exit_previous_status", sa.Text),
        sa.Column("exit_previous_transition_starts_on", sa.Date),
        sa.Column("exit_previous_transition_ends_on", sa.Date),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        *_timestamps(),
        sa.CheckConstraint("status IN ('enrolled', 'transition', 'exited')", name="status"),
        sa.CheckConstraint("recorded_income >= 0 AND placement_wages >= 0", name="income_not_negative"),
        schema=SCHEMA,
    )
    for column in ("street_code", "community_code", "status", "category", "cohort"):
        op.create_index(f"ix_households_{column}", "households", [column], schema=SCHEMA)
    # Only households in transition are looked up by their end date (the daily job): a partial index.
    op.create_index(
        "ix_households_transition_ends_on",
        "households",
        ["transition_ends_on"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'transition'"),
    )
    op.create_index("ix_households_causes", "households", ["causes"], schema=SCHEMA, postgresql_using="gin")
    op.create_index("ix_households_updated_at_id", "households", ["updated_at", "id"], schema=SCHEMA)

    op.create_table(
        "persons",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.households.id"), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("member_since", sa.Date, nullable=False),
        sa.Column("relation", sa.Text, nullable=False),
        sa.Column("name_enc", sa.LargeBinary, nullable=False),
        sa.Column("id_number_enc", sa.LargeBinary, nullable=False),
        sa.Column("phone_enc", sa.LargeBinary),
        sa.Column("id_hash", sa.Text, nullable=False),
        sa.Column("name_hash", sa.Text, nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("sex", sa.Text, nullable=False),
        sa.Column("education", sa.Text, nullable=False),
        sa.Column("work_ability", sa.Text, nullable=False),
        sa.Column("employment_status", sa.Text, nullable=False),
        sa.Column("disability_level", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("chronic_illness", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("illness_note_enc", sa.LargeBinary),
        sa.Column("skills", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("pension_insured", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("medical_insured", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        *_timestamps(),
        sa.UniqueConstraint("id_hash", name="uq_persons_id_hash"),
        schema=SCHEMA,
    )
    op.create_index("ix_persons_household_id", "persons", ["household_id"], schema=SCHEMA)
    op.create_index("ix_persons_name_hash", "persons", ["name_hash"], schema=SCHEMA)

    op.create_table(
        "status_history",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.households.id"), nullable=False),
        sa.Column("on", sa.Date, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("from_status", sa.Text),
        sa.Column("to_status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("ix_status_history_household_id", "status_history", ["household_id"], schema=SCHEMA)

    op.create_table(
        "income_records",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.households.id"), nullable=False),
        sa.Column("recorded_on", sa.Date, nullable=False),
        sa.Column("monthly_income", MONEY, nullable=False),
        sa.Column("active_members", sa.Integer, nullable=False),
        sa.Column("per_capita_income", MONEY, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_income_records_household_id", "income_records", ["household_id"], schema=SCHEMA)

    op.create_table(
        "parameter_versions",
        sa.Column("effective_from", sa.Date, primary_key=True),
        sa.Column("values", JSONB, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )

    op.create_table(
        "rewards",
        sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.households.id"), primary_key=True),
        sa.Column("exited_on", sa.Date, primary_key=True),
        sa.Column("year_index", sa.SmallInteger, primary_key=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("granted_on", sa.Date, nullable=False),
        schema=SCHEMA,
    )

    op.create_table(
        "audit_log",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("subject_type", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("detail", JSONB, nullable=False, server_default="{}"),
        schema=SCHEMA,
    )
    for column in ("at", "actor", "subject_id"):
        op.create_index(f"ix_audit_log_{column}", "audit_log", [column], schema=SCHEMA)

    op.create_table(
        "placements",
        sa.Column("placement_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("person_id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("monthly_wage", MONEY, nullable=False),
        sa.Column("started_on", sa.Date),
        sa.Column("ended_on", sa.Date),
        sa.Column("active", sa.Boolean, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_placements_person_id", "placements", ["person_id"], schema=SCHEMA)
    op.create_index("ix_placements_household_id", "placements", ["household_id"], schema=SCHEMA)

    op.create_table(
        "medical_claims",
        sa.Column("claim_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("person_id", UUID(as_uuid=True), nullable=False),
        sa.Column("out_of_pocket", MONEY, nullable=False),
        sa.Column("discharged_on", sa.Date, nullable=False),
        sa.Column("cap_met", sa.Boolean),
        sa.Column("reversed", sa.Boolean, nullable=False, server_default=sa.false()),
        schema=SCHEMA,
    )
    op.create_index("ix_medical_claims_household_id", "medical_claims", ["household_id"], schema=SCHEMA)

    op.create_table(
        "imports",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("file_type", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("org", sa.Text),
        sa.Column("rows_read", sa.Integer, nullable=False, server_default="0"),
        sa.Column("households_read", sa.Integer, nullable=False, server_default="0"),
        sa.Column("households_applied", sa.Integer, nullable=False, server_default="0"),
        sa.Column("households_enrolled", sa.Integer, nullable=False, server_default="0"),
        sa.Column("households_updated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("households_unchanged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("households_rejected", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rejected", JSONB, nullable=False, server_default="[]"),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("progressed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "imports",
        "medical_claims",
        "placements",
        "audit_log",
        "rewards",
        "parameter_versions",
        "income_records",
        "status_history",
        "persons",
        "households",
        "org_units",
    ):
        op.drop_table(table, schema=SCHEMA)
