"""The platform tables of the registry schema: outbox, inbox, dead letters, parked events, versions, keys, runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

from uplift.common.migrations import create_platform_tables, drop_platform_tables
from uplift.registry.db import SCHEMA, platform

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables(op.get_bind(), platform, SCHEMA)


def downgrade() -> None:
    drop_platform_tables(op.get_bind(), platform)
