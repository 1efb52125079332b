"""The medical tables: policy years, funds, accumulators, claims, and the registry projection.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from uplift.medical.db import SCHEMA

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(14, 2)


def upgrade() -> None:
    op.create_table(
        "policy_years",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("document", JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("year", name="pk_policy_years"),
        schema=SCHEMA,
    )
    op.create_table(
        "funds",
        sa.Column("policy_year", sa.Integer, nullable=False),
        sa.Column("fund", sa.Text, nullable=False),
        sa.Column("budget", MONEY),
        sa.Column("used", MONEY, nullable=False, server_default="0"),
        sa.Column("low_threshold_ratio", sa.Numeric(6, 4), nullable=False),
        sa.PrimaryKeyConstraint("policy_year", "fund", name="pk_funds"),
        sa.ForeignKeyConstraint(
            ["policy_year"], [f"{SCHEMA}.policy_years.year"], name="fk_funds_policy_year_policy_years"
        ),
        sa.CheckConstraint("fund IN ('supplementary', 'charity')", name="ck_funds_fund_name"),
        sa.CheckConstraint("used >= 0 AND (budget IS NULL OR used <= budget)", name="ck_funds_within_budget"),
        schema=SCHEMA,
    )
    op.create_table(
        "accumulators",
        sa.Column("person_id", UUID(as_uuid=True), nullable=False),
        sa.Column("policy_year", sa.Integer, nullable=False),
        sa.Column("admissions", sa.Integer, nullable=False, server_default="0"),
        sa.Column("basic_paid", MONEY, nullable=False, server_default="0"),
        sa.Column("ci_base", MONEY, nullable=False, server_default="0"),
        sa.Column("ci_paid", MONEY, nullable=False, server_default="0"),
        sa.Column("assistance_paid", MONEY, nullable=False, server_default="0"),
        sa.Column("charity_paid", MONEY, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("person_id", "policy_year", name="pk_accumulators"),
        schema=SCHEMA,
    )
    op.create_table(
        "claims",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("person_id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True)),
        sa.Column("category", sa.Text),
        sa.Column("street_code", sa.Text),
        sa.Column("community_code", sa.Text),
        sa.Column("medically_insured", sa.Boolean, nullable=False),
        sa.Column("hospital_code", sa.Text, nullable=False),
        sa.Column("settlement_no", sa.Text, nullable=False),
        sa.Column("hospital_level", sa.SmallInteger, nullable=False),
        sa.Column("admitted_on", sa.Date, nullable=False),
        sa.Column("discharged_on", sa.Date, nullable=False),
        sa.Column("policy_year", sa.Integer, nullable=False),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("in_policy", MONEY, nullable=False),
        sa.Column("out_of_policy", MONEY, nullable=False),
        sa.Column("deductible", MONEY, nullable=False),
        sa.Column("basic", MONEY, nullable=False),
        sa.Column("critical_illness", MONEY, nullable=False),
        sa.Column("assistance", MONEY, nullable=False),
        sa.Column("charity", MONEY, nullable=False),
        sa.Column("supplementary", MONEY, nullable=False),
        sa.Column("out_of_pocket", MONEY, nullable=False),
        sa.Column("oop_ratio", sa.Numeric(6, 4), nullable=False),
        sa.Column("in_policy_self_pay", MONEY, nullable=False),
        sa.Column("cap_met", sa.Boolean),
        sa.Column("fund_short", sa.Boolean, nullable=False),
        sa.Column("charity_fund_short", sa.Boolean, nullable=False),
        sa.Column("ci_base_added", MONEY, nullable=False),
        sa.Column("bases", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("reversed_at", sa.DateTime(timezone=True)),
        sa.Column("reversed_on", sa.Date),
        sa.Column("reversal_reason", sa.Text),
        sa.Column("reversal_code", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_claims"),
        sa.CheckConstraint("status IN ('settled', 'reversed')", name="ck_claims_status"),
        sa.CheckConstraint(
            "basic + critical_illness + assistance + charity + supplementary + out_of_pocket = total",
            name="ck_claims_lines_add_up",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_claims_settlement_settled",
        "claims",
        ["hospital_code", "settlement_no"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'settled'"),
    )
    op.create_index("ix_claims_person_id_policy_year", "claims", ["person_id", "policy_year", "id"], schema=SCHEMA)
    op.create_index("ix_claims_policy_year_status", "claims", ["policy_year", "status"], schema=SCHEMA)
    op.create_index("ix_claims_updated_at", "claims", ["updated_at"], schema=SCHEMA)

    op.create_table(
        "persons",
        sa.Column("person_id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("id_hash", sa.Text, nullable=False),
        sa.Column("medical_insured", sa.Boolean, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("person_id", name="pk_persons"),
        schema=SCHEMA,
    )
    op.create_index("ix_persons_id_hash", "persons", ["id_hash"], schema=SCHEMA)
    op.create_table(
        "memberships",
        sa.Column("person_id", UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("medical_insured", sa.Boolean, nullable=False),
        sa.Column("effective_on", sa.Date, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("person_id", "seq", name="pk_memberships"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_memberships_person_id_effective_on", "memberships", ["person_id", "effective_on"], schema=SCHEMA
    )
    op.create_table(
        "households",
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("street_code", sa.Text, nullable=False),
        sa.Column("community_code", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("household_id", name="pk_households"),
        schema=SCHEMA,
    )
    op.create_table(
        "household_statuses",
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("street_code", sa.Text, nullable=False),
        sa.Column("community_code", sa.Text, nullable=False),
        sa.Column("effective_on", sa.Date, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("household_id", "seq", name="pk_household_statuses"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_household_statuses_household_id_effective_on",
        "household_statuses",
        ["household_id", "effective_on"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "household_statuses",
        "households",
        "memberships",
        "persons",
        "claims",
        "accumulators",
        "funds",
        "policy_years",
    ):
        op.drop_table(table, schema=SCHEMA)
