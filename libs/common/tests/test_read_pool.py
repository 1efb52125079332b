"""The read pool runs compiled Core selects on asyncpg, opening on first use and closing cleanly."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from uplift.common.read_pool import CompiledSelect, ReadPool, compile_select
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


# --- the pool itself: a few connections, handed over in turn, dropped when broken --------------------------------

PID = CompiledSelect("SELECT pg_backend_pid() AS pid", (), {})
SLOW_PID = CompiledSelect("SELECT pg_backend_pid() AS pid, pg_sleep($1::float8)", ("seconds",), {})
DIVIDE = CompiledSelect("SELECT 1 / $1::int AS q", ("by",), {})


def plain(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://")


async def test_never_more_connections_than_max_size_and_every_waiter_is_served(database_url: str) -> None:
    pool = ReadPool(plain(database_url), max_size=2)
    seen_sizes: list[int] = []

    async def read() -> int:
        row = await pool.fetchrow(SLOW_PID, seconds=0.02)
        seen_sizes.append(pool.size)
        assert row is not None
        return int(row["pid"])

    try:
        pids = await asyncio.gather(*(read() for _ in range(20)))
        assert len(pids) == 20
        assert len(set(pids)) == 2  # twenty reads over two connections, both used
        assert max(seen_sizes) == 2 and pool.size == 2
    finally:
        await pool.close()


async def test_a_database_error_keeps_the_connection_and_a_lost_one_is_replaced(database_url: str) -> None:
    pool = ReadPool(plain(database_url), max_size=1)
    try:
        first = await pool.fetchrow(PID)
        assert first is not None
        with pytest.raises(asyncpg.DivisionByZeroError):
            await pool.fetchrow(DIVIDE, by=0)
        again = await pool.fetchrow(PID)
        assert again is not None and again["pid"] == first["pid"]  # the same connection, usable after the error

        killer = await asyncpg.connect(plain(database_url))
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", first["pid"]) is True
        finally:
            await killer.close()
        replaced = None
        failures = 0
        for _ in range(50):  # the lost connection fails at most one read, then a new one is opened in its place
            try:
                replaced = await pool.fetchrow(PID)
                break
            except Exception:  # which one depends on when the client notices the lost socket
                failures += 1
                await asyncio.sleep(0.05)
        assert failures <= 1
        assert replaced is not None and replaced["pid"] != first["pid"]
        assert pool.size == 1
    finally:
        await pool.close()


async def test_cancelled_reads_leak_no_connection(database_url: str) -> None:
    pool = ReadPool(plain(database_url), max_size=1)
    try:
        holder = asyncio.create_task(pool.fetchrow(SLOW_PID, seconds=0.3))
        await asyncio.sleep(0.1)
        waiting = asyncio.create_task(pool.fetchrow(PID))  # waits for the only connection
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        held = await holder
        assert held is not None
        after_waiter = await asyncio.wait_for(pool.fetchrow(PID), 5)
        assert after_waiter is not None and after_waiter["pid"] == held["pid"]  # handed back, not lost

        running = asyncio.create_task(pool.fetchrow(SLOW_PID, seconds=5))
        await asyncio.sleep(0.1)
        running.cancel()  # mid-query: that connection is dropped, another takes its place
        with pytest.raises(asyncio.CancelledError):
            await running
        after_query = await asyncio.wait_for(pool.fetchrow(PID), 5)
        assert after_query is not None and after_query["pid"] != held["pid"]
        assert pool.size == 1
    finally:
        await pool.close()


async def test_close_lets_reads_in_flight_finish_and_the_pool_opens_again(database_url: str) -> None:
    pool = ReadPool(plain(database_url), max_size=1)
    in_flight = asyncio.create_task(pool.fetchrow(SLOW_PID, seconds=0.2))
    await asyncio.sleep(0.05)
    await pool.close()
    finished = await in_flight
    assert finished is not None
    assert pool.size == 0  # its connection was closed when it came back
    reopened = await pool.fetchrow(PID)
    assert reopened is not None and reopened["pid"] != finished["pid"]
    await pool.close()
