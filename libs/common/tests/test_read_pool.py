"""The read pool runs compiled Core selects on asyncpg, opening on first use and closing cleanly."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from uplift.common.read_pool import ReadPool, compile_select
from uplift.common.testkit import create_platform_schema, unique_name

pytestmark = pytest.mark.integration


async def test_compiled_select_reads_rows_by_parameter(database_url: str) -> None:
    schema = unique_name("rp")
    platform = await create_platform_schema(database_url, schema)
    versions = platform.aggregate_versions
    pool = ReadPool(database_url.replace("postgresql+asyncpg://", "postgresql://"), max_size=2)
    by_id = compile_select(
        sa.select(versions.c.seq).where(
            versions.c.aggregate_type == sa.bindparam("kind"), versions.c.aggregate_id == sa.bindparam("ident")
        )
    )
    assert "$1" in by_id.sql and "$2" in by_id.sql and by_id.names == ("kind", "ident")
    try:
        assert await pool.fetchrow(by_id, kind="household", ident="h-1") is None  # opens the pool lazily
        engine = create_async_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(sa.insert(versions).values(aggregate_type="household", aggregate_id="h-1", seq=7))
        await engine.dispose()
        row = await pool.fetchrow(by_id, kind="household", ident="h-1")
        assert row is not None and row["seq"] == 7
        rows = await pool.fetch(compile_select(sa.select(versions.c.aggregate_id).order_by(versions.c.aggregate_id)))
        assert [r["aggregate_id"] for r in rows] == ["h-1"]
    finally:
        await pool.close()
    await pool.close()  # closing twice is harmless
