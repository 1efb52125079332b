"""The metrics projections (households and their histories and spans, persons, pairings, visits, measures, alerts,
rewards, visit intervals, placements, trainings, claims, fund budgets), the projection versions and the
assessment weights.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from uplift.metrics.db import SCHEMA

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE = sa.Text(collation="C")  # org codes: "C" so that prefix matches use the indexes
MONEY = sa.Numeric(14, 2)

TABLES = (
    "households",
    "household_status_events",
    "household_communities",
    "pairing_events",
    "persons",
    "visits",
    "measures",
    "alerts",
    "rewards",
    "visit_intervals",
    "placements",
    "trainings_completed",
    "claims",
    "fund_budgets",
    "fund_low_events",
    "status_spans",
    "community_spans",
    "helper_spans",
    "projection_versions",
    "assessment_weights",
)


def upgrade() -> None:
    op.create_table(
        "households",
        sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("street_code", CODE, nullable=False),
        sa.Column("community_code", CODE, nullable=False),
        sa.Column("cohort", sa.Text(), nullable=False),
        sa.Column("enrolled_on", sa.Date(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("monthly_income", MONEY, nullable=False),
        sa.Column("relapsed", sa.Boolean(), nullable=False),
        sa.Column("zero_employment", sa.Boolean(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_households_cohort", "households", ["cohort"], schema=SCHEMA)
    op.create_index("ix_households_community_code", "households", ["community_code"], schema=SCHEMA)
    op.create_table(
        "household_status_events",
        sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("exit_reason", sa.Text()),
        sa.Column("monitoring_until", sa.Date()),
        schema=SCHEMA,
    )
    op.create_table(
        "household_communities",
        sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("community_code", CODE, nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_household_communities_community_code", "household_communities", ["community_code"], schema=SCHEMA
    )
    op.create_table(
        "pairing_events",
        sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("helper_kind", sa.Text(), nullable=False),
        sa.Column("helper_id", UUID(as_uuid=True), nullable=False),
        sa.Column("department_code", CODE),
        sa.Column("street_code", CODE, nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_pairing_events_department_code", "pairing_events", ["department_code"], schema=SCHEMA)
    op.create_table(
        "persons",
        sa.Column("person_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("member_since", sa.Date(), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=False),
        sa.Column("sex", sa.Text(), nullable=False),
        sa.Column("work_ability", sa.Text(), nullable=False),
        sa.Column("employment_status", sa.Text(), nullable=False),
        sa.Column("disability_level", sa.Integer(), nullable=False),
        sa.Column("chronic_illness", sa.Boolean(), nullable=False),
        sa.Column("education", sa.Text(), nullable=False),
        sa.Column("pension_insured", sa.Boolean(), nullable=False),
        sa.Column("medical_insured", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_persons_household_id", "persons", ["household_id"], schema=SCHEMA)
    op.create_table(
        "visits",
        sa.Column("visit_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("helper_kind", sa.Text(), nullable=False),
        sa.Column("helper_id", UUID(as_uuid=True), nullable=False),
        sa.Column("department_code", CODE),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("satisfaction", sa.SmallInteger()),
        schema=SCHEMA,
    )
    op.create_index("ix_visits_department_code_visited_on", "visits", ["department_code", "visited_on"], schema=SCHEMA)
    op.create_index("ix_visits_household_id", "visits", ["household_id"], schema=SCHEMA)
    op.create_index("ix_visits_visited_on", "visits", ["visited_on"], schema=SCHEMA)
    op.create_table(
        "measures",
        sa.Column("measure_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("policy_code", sa.Text(), nullable=False),
        sa.Column("helper_kind", sa.Text()),
        sa.Column("helper_id", UUID(as_uuid=True)),
        sa.Column("department_code", CODE),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("completed_on", sa.Date()),
        schema=SCHEMA,
    )
    op.create_index("ix_measures_due_on", "measures", ["due_on"], schema=SCHEMA)
    op.create_index("ix_measures_household_id", "measures", ["household_id"], schema=SCHEMA)
    op.create_table(
        "alerts",
        sa.Column("alert_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("raised_on", sa.Date()),
        sa.Column("resolved_on", sa.Date()),
        schema=SCHEMA,
    )
    op.create_index("ix_alerts_household_id", "alerts", ["household_id"], schema=SCHEMA)
    op.create_table(
        "rewards",
        sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("year_index", sa.SmallInteger(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("granted_on", sa.Date(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "visit_intervals",
        sa.Column("effective_from", sa.Date(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("visit_interval_days", sa.Integer(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "placements",
        sa.Column("placement_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("person_id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("posting_id", UUID(as_uuid=True)),
        sa.Column("monthly_wage", MONEY),
        sa.Column("public_welfare", sa.Boolean()),
        sa.Column("remote", sa.Boolean()),
        sa.Column("started_on", sa.Date()),
        sa.Column("retained_3m_on", sa.Date()),
        sa.Column("retained_6m_on", sa.Date()),
        sa.Column("ended_on", sa.Date()),
        sa.Column("end_reason", sa.Text()),
        schema=SCHEMA,
    )
    op.create_index("ix_placements_household_id", "placements", ["household_id"], schema=SCHEMA)
    op.create_index("ix_placements_started_on", "placements", ["started_on"], schema=SCHEMA)
    op.create_table(
        "trainings_completed",
        sa.Column("training_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("person_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True), nullable=False),
        sa.Column("skills", JSONB, nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_trainings_completed_household_id", "trainings_completed", ["household_id"], schema=SCHEMA)
    op.create_table(
        "claims",
        sa.Column("claim_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("person_id", UUID(as_uuid=True), nullable=False),
        sa.Column("household_id", UUID(as_uuid=True)),
        sa.Column("category", sa.Text()),
        sa.Column("street_code", CODE),
        sa.Column("community_code", CODE),
        sa.Column("policy_year", sa.Integer(), nullable=False),
        sa.Column("discharged_on", sa.Date(), nullable=False),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("in_policy", MONEY, nullable=False),
        sa.Column("supplementary", MONEY, nullable=False),
        sa.Column("charity", MONEY, nullable=False),
        sa.Column("out_of_pocket", MONEY, nullable=False),
        sa.Column("cap_met", sa.Boolean()),
        sa.Column("reversed", sa.Boolean(), nullable=False),
        sa.Column("reversed_on", sa.Date()),
        schema=SCHEMA,
    )
    op.create_index("ix_claims_community_code", "claims", ["community_code"], schema=SCHEMA)
    op.create_index("ix_claims_discharged_on", "claims", ["discharged_on"], schema=SCHEMA)
    op.create_index("ix_claims_household_id", "claims", ["household_id"], schema=SCHEMA)
    op.create_index("ix_claims_policy_year", "claims", ["policy_year"], schema=SCHEMA)
    op.create_table(
        "fund_budgets",
        sa.Column("policy_year", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("supplementary_budget", MONEY, nullable=False),
        sa.Column("charity_budget", MONEY),
        schema=SCHEMA,
    )
    op.create_table(
        "fund_low_events",
        sa.Column("policy_year", sa.Integer(), primary_key=True),
        sa.Column("fund", sa.Text(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("remaining", MONEY, nullable=False),
        sa.Column("budget", MONEY, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "status_spans",
        sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("valid_from", sa.Date(), primary_key=True),
        sa.Column("valid_to", sa.Date()),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("lifted", sa.Boolean(), nullable=False),
        sa.Column("monitoring_until", sa.Date()),
        schema=SCHEMA,
    )
    op.create_table(
        "community_spans",
        sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("valid_from", sa.Date(), primary_key=True),
        sa.Column("valid_to", sa.Date()),
        sa.Column("community_code", CODE, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_community_spans_community_code", "community_spans", ["community_code"], schema=SCHEMA)
    op.create_table(
        "helper_spans",
        sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("valid_from", sa.Date(), primary_key=True),
        sa.Column("valid_to", sa.Date()),
        sa.Column("helper_kind", sa.Text(), nullable=False),
        sa.Column("helper_id", UUID(as_uuid=True), nullable=False),
        sa.Column("department_code", CODE),
        schema=SCHEMA,
    )
    op.create_table(
        "projection_versions",
        sa.Column("writer", sa.Text(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "assessment_weights",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("weights", JSONB, nullable=False),
        sa.Column("set_by", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table, schema=SCHEMA)
