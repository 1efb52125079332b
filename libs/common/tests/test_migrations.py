"""Each service's migrations create its own schema with its version table and platform tables inside."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from uplift.common.db import asyncpg_url
from uplift.common.migrations import SERVICES, upgrade_all

pytestmark = pytest.mark.integration

PLATFORM_TABLES = {
    "outbox",
    "inbox",
    "dead_letters",
    "parked_events",
    "aggregate_versions",
    "idempotency_keys",
    "scheduler_runs",
}


async def test_upgrade_all_creates_each_schema_with_its_version_table(database_url: str) -> None:
    dsn = asyncpg_url(database_url).replace("postgresql+asyncpg://", "postgresql://")
    name = f"mig_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    fresh = dsn.rsplit("/", 1)[0] + "/" + name
    try:
        import asyncio

        await asyncio.to_thread(upgrade_all, fresh)
        await asyncio.to_thread(upgrade_all, fresh)  # idempotent
        conn = await asyncpg.connect(fresh)
        try:
            for service in SERVICES:
                tables = {
                    r["table_name"]
                    for r in await conn.fetch(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", service
                    )
                }
                assert PLATFORM_TABLES | {"alembic_version"} <= tables, service
                version = await conn.fetchval(f'SELECT version_num FROM "{service}".alembic_version')
                assert version
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_name = 'alembic_version'"
                )
                == 0
            )
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
