"""Pre-aggregated counts for the dashboard (household_counts, fact_coverage, household_contributions), an index
on community_spans.valid_from (moves in a period) and one on the relapses' dates; the counts are filled from the
projections already there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from uplift.metrics.db import SCHEMA

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE = sa.Text(collation="C")  # org codes: "C" so that prefix matches use the indexes
COUNTERS = ("enrolled", "lifted", "in_programme", "paired", "covered", "monitored", "rated", "satisfied")


def upgrade() -> None:
    op.create_index("ix_community_spans_valid_from", "community_spans", ["valid_from"], schema=SCHEMA)
    op.create_index(
        "ix_household_status_events_relapsed_on",
        "household_status_events",
        ["effective_on"],
        schema=SCHEMA,
        postgresql_where=sa.text("kind = 'relapsed'"),
    )
    op.create_table(
        "household_counts",
        sa.Column("scope_code", CODE, primary_key=True),
        sa.Column("cohort", sa.Text(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS),
        schema=SCHEMA,
    )
    op.create_table(
        "fact_coverage",
        sa.Column("kind", sa.Text(), primary_key=True),
        sa.Column("scope_code", CODE, primary_key=True),
        sa.Column("cohort", sa.Text(), primary_key=True),
        sa.Column("fact_on", sa.Date(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("households", sa.Integer(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "household_contributions",
        sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("cohort", sa.Text()),
        sa.Column("counts", JSONB, nullable=False),
        sa.Column("coverage", JSONB, nullable=False),
        schema=SCHEMA,
    )
    # Fill them (and rewrite the spans, to the same rows) from the projections, as a rebuild would; the
    # service's own code, so that the counts are exactly what its consumers would have kept.
    from uplift.metrics.aggregates import refresh_derived_sync

    refresh_derived_sync(op.get_bind(), None)


def downgrade() -> None:
    for table in ("household_contributions", "fact_coverage", "household_counts"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_index("ix_household_status_events_relapsed_on", "household_status_events", schema=SCHEMA)
    op.drop_index("ix_community_spans_valid_from", "community_spans", schema=SCHEMA)
