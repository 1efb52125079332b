"""Hot reads on a small asyncpg pool of their own (PERFORMANCE.md: simple hot reads at ≥ 50% of a bare endpoint).

The ORM session checks a connection out with a ping and rolls it back on return: three round trips around a
one-row read, plus SQLAlchemy's per-statement cost. Connections of this pool only ever run autocommit SELECTs
prepared once (asyncpg caches prepared statements per connection), so the reset on release is skipped. The pool
opens on first use (a service starts even while its database is down) and closes with the service.

    BY_ID = compile_select(sa.select(claims.c.id, ...).where(claims.c.id == sa.bindparam("claim_id")))
    row = await runtime.read_pool.fetchrow(BY_ID, claim_id=claim_id)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect


@dataclass(frozen=True)
class CompiledSelect:
    """A Core select compiled for asyncpg: the SQL and its parameters in `$n` order (with bound defaults)."""

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[name] if name in params else self.defaults[name] for name in self.names]


def compile_select(statement: sa.Select[Any]) -> CompiledSelect:
    """Compile once; values bound in the statement itself (e.g. a LIMIT) become defaults."""
    compiled = statement.compile(dialect=asyncpg_dialect(paramstyle="numeric_dollar"))
    names = tuple(compiled.positiontup or ())
    return CompiledSelect(str(compiled), names, dict(compiled.params))


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Nothing to reset: these connections run only autocommit SELECTs."""


class ReadPool:
    def __init__(self, dsn: str, *, max_size: int = 10) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _acquire_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._max_size, reset=_no_reset
                    )
        return self._pool

    async def fetchrow(self, select: CompiledSelect, **params: Any) -> asyncpg.Record | None:
        pool = await self._acquire_pool()
        async with pool.acquire() as connection:
            return await connection.fetchrow(select.sql, *select.args(params))

    async def fetch(self, select: CompiledSelect, **params: Any) -> Sequence[asyncpg.Record]:
        pool = await self._acquire_pool()
        async with pool.acquire() as connection:
            return await connection.fetch(select.sql, *select.args(params))

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
