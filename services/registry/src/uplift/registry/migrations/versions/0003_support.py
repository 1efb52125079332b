"""Cadres, party branches, contracts, pairings, visits, plan measures, the policy toolbox (seeded), alerts.

The policy toolbox is seeded here, as data, with the catalogue of `domain/policy_catalogue.py` as it stands at
this revision: operators edit policies through the API afterwards, and a later release that adds policies
does so in a migration of its own, so a restart never overwrites an operator's edit.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from uplift.registry.db import SCHEMA
from uplift.registry.domain.policy_catalogue import SEED_POLICIES

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> tuple[sa.Column[Any], sa.Column[Any]]:
    return (
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def _household_fk() -> sa.Column[Any]:
    return sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.households.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "cadres",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("rank", sa.Text, nullable=False),
        sa.Column("department_code", sa.Text, sa.ForeignKey(f"{SCHEMA}.org_units.code"), nullable=False),
        sa.Column("home_street_code", sa.Text, sa.ForeignKey(f"{SCHEMA}.org_units.code"), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        *_timestamps(),
        sa.CheckConstraint("rank IN ('district_leader', 'division', 'section', 'staff')", name="rank"),
        schema=SCHEMA,
    )
    op.create_index("ix_cadres_department_code", "cadres", ["department_code"], schema=SCHEMA)
    op.create_index("ix_cadres_home_street_code", "cadres", ["home_street_code"], schema=SCHEMA)
    op.create_index("ix_cadres_updated_at_id", "cadres", ["updated_at", "id"], schema=SCHEMA)

    op.create_table(
        "party_branches",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("department_code", sa.Text, sa.ForeignKey(f"{SCHEMA}.org_units.code")),
        sa.Column("community_code", sa.Text, sa.ForeignKey(f"{SCHEMA}.org_units.code")),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        *_timestamps(),
        sa.CheckConstraint("(department_code IS NULL) <> (community_code IS NULL)", name="one_owner"),
        schema=SCHEMA,
    )
    op.create_index("ix_party_branches_department_code", "party_branches", ["department_code"], schema=SCHEMA)
    op.create_index("ix_party_branches_community_code", "party_branches", ["community_code"], schema=SCHEMA)

    op.create_table(
        "contracts",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("helper_kind", sa.Text, nullable=False),
        sa.Column("helper_id", UUID(as_uuid=True), nullable=False),
        sa.Column("department_code", sa.Text),
        sa.Column("signed_on", sa.Date, nullable=False),
        sa.Column("period_from", sa.Date, nullable=False),
        sa.Column("period_to", sa.Date, nullable=False),
        *_timestamps(),
        sa.CheckConstraint("period_to >= period_from", name="period"),
        schema=SCHEMA,
    )
    op.create_index("ix_contracts_helper_id", "contracts", ["helper_id"], schema=SCHEMA)
    op.create_index("ix_contracts_department_code", "contracts", ["department_code"], schema=SCHEMA)

    op.create_table(
        "pairings",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _household_fk(),
        sa.Column("helper_kind", sa.Text, nullable=False),
        sa.Column("helper_id", UUID(as_uuid=True), nullable=False),
        sa.Column("department_code", sa.Text),
        sa.Column("street_code", sa.Text, nullable=False),
        sa.Column("started_on", sa.Date, nullable=False),
        sa.Column("ended_on", sa.Date),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("assigned_by", sa.Text, nullable=False),
        sa.Column("end_reason", sa.Text),
        *_timestamps(),
        sa.CheckConstraint("helper_kind IN ('cadre', 'branch')", name="helper_kind"),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_pairings_active_household",
        "pairings",
        ["household_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("active"),
    )
    op.create_index(
        "ix_pairings_active_helper", "pairings", ["helper_id"], schema=SCHEMA, postgresql_where=sa.text("active")
    )
    op.create_index("ix_pairings_household_id", "pairings", ["household_id"], schema=SCHEMA)
    op.create_index("ix_pairings_helper_id", "pairings", ["helper_id"], schema=SCHEMA)
    op.create_index("ix_pairings_department_code", "pairings", ["department_code"], schema=SCHEMA)

    op.create_table(
        "visits",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _household_fk(),
        sa.Column("helper_kind", sa.Text, nullable=False),
        sa.Column("helper_id", UUID(as_uuid=True), nullable=False),
        sa.Column("department_code", sa.Text),
        sa.Column("visited_on", sa.Date, nullable=False),
        sa.Column("findings_encrypted", sa.LargeBinary),
        sa.Column("needs", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("satisfaction", sa.SmallInteger),
        sa.Column("recorded_by", sa.Text, nullable=False),
        *_timestamps(),
        sa.CheckConstraint("satisfaction BETWEEN 1 AND 5", name="satisfaction"),
        schema=SCHEMA,
    )
    op.create_index("ix_visits_household_id_visited_on", "visits", ["household_id", "visited_on"], schema=SCHEMA)
    op.create_index("ix_visits_helper_id", "visits", ["helper_id"], schema=SCHEMA)
    op.create_index("ix_visits_department_code", "visits", ["department_code"], schema=SCHEMA)
    op.create_index("ix_visits_visited_on", "visits", ["visited_on"], schema=SCHEMA)

    op.create_table(
        "policies",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("area", sa.Text, nullable=False),
        sa.Column("name_zh", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("eligibility", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        *_timestamps(),
        schema=SCHEMA,
    )
    op.create_index("ix_policies_area", "policies", ["area"], schema=SCHEMA)
    policies = sa.table(
        "policies",
        sa.column("code"),
        sa.column("area"),
        sa.column("name_zh"),
        sa.column("name_en"),
        sa.column("description"),
        sa.column("eligibility"),
        schema=SCHEMA,
    )
    op.bulk_insert(
        policies,
        [
            {
                "code": policy.code,
                "area": policy.area,
                "name_zh": policy.name_zh,
                "name_en": policy.name_en,
                "description": policy.description,
                "eligibility": policy.eligibility,
            }
            for policy in SEED_POLICIES
        ],
    )

    op.create_table(
        "measures",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _household_fk(),
        sa.Column("policy_code", sa.Text, sa.ForeignKey(f"{SCHEMA}.policies.code"), nullable=False),
        sa.Column("person_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
        sa.Column("helper_kind", sa.Text),
        sa.Column("helper_id", UUID(as_uuid=True)),
        sa.Column("department_code", sa.Text),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="planned"),
        sa.Column("completed_on", sa.Date),
        sa.Column("note", sa.Text),
        sa.Column("planned_by", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        *_timestamps(),
        sa.CheckConstraint("status IN ('planned', 'completed', 'cancelled')", name="status"),
        schema=SCHEMA,
    )
    op.create_index("ix_measures_household_id", "measures", ["household_id"], schema=SCHEMA)
    op.create_index("ix_measures_helper_id", "measures", ["helper_id"], schema=SCHEMA)
    op.create_index("ix_measures_department_code", "measures", ["department_code"], schema=SCHEMA)

    op.create_table(
        "alerts",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _household_fk(),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("facts", JSONB, nullable=False, server_default="{}"),
        sa.Column("status", sa.Text, nullable=False, server_default="open"),
        sa.Column("raised_on", sa.Date, nullable=False),
        sa.Column("last_triggered_on", sa.Date, nullable=False),
        sa.Column("triggers", sa.Integer, nullable=False, server_default="1"),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.Text),
        sa.Column("resolved_on", sa.Date),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_by", sa.Text),
        sa.Column("resolution_note", sa.Text),
        *_timestamps(),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status"),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_alerts_unresolved_household_kind",
        "alerts",
        ["household_id", "kind"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    op.create_index("ix_alerts_household_id", "alerts", ["household_id"], schema=SCHEMA)
    op.create_index("ix_alerts_status_kind", "alerts", ["status", "kind"], schema=SCHEMA)
    op.create_index("ix_alerts_updated_at_id", "alerts", ["updated_at", "id"], schema=SCHEMA)


def downgrade() -> None:
    for table in ("alerts", "measures", "policies", "visits", "pairings", "contracts", "party_branches", "cadres"):
        op.drop_table(table, schema=SCHEMA)
