"""Seeker profiles carry a version, and the projection tables an index on updated_at: the per-process seeker
index (candidates for a posting) asks for the tables' (count, Σ seq/version) on every request and re-reads
only the rows updated since it last looked.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from uplift.matching.db import SCHEMA

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "seeker_profiles", sa.Column("version", sa.Integer, nullable=False, server_default="1"), schema=SCHEMA
    )
    op.create_index("ix_seeker_persons_updated_at", "seeker_persons", ["updated_at"], schema=SCHEMA)
    op.create_index("ix_seeker_households_updated_at", "seeker_households", ["updated_at"], schema=SCHEMA)
    op.create_index("ix_seeker_profiles_updated_at", "seeker_profiles", ["updated_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_seeker_profiles_updated_at", "seeker_profiles", schema=SCHEMA)
    op.drop_index("ix_seeker_households_updated_at", "seeker_households", schema=SCHEMA)
    op.drop_index("ix_seeker_persons_updated_at", "seeker_persons", schema=SCHEMA)
    op.drop_column("seeker_profiles", "version", schema=SCHEMA)
