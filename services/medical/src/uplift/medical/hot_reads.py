"""The hottest read, `GET /claims/{id}`, on a small asyncpg pool of its own (PERFORMANCE.md: hot reads).

The statement is a SQLAlchemy Core `select` compiled once for asyncpg and run as a prepared statement. The pool
is the service's, not the engine's, because the engine checks each connection out with a ping and rolls it back
on return — three round trips around a one-row read. Here a connection runs nothing but this autocommit SELECT,
so it needs neither: the pool's reset on release is skipped. The pool opens on first use (the service starts
even when its database is not up yet) and closes with the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import sqlalchemy as sa
from fastapi import FastAPI, Request
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from uplift.common.settings import ServiceSettings
from uplift.medical.models import Claim, table_of

claims_table = table_of(Claim)

_CLAIM_BY_ID = str(
    sa.select(*claims_table.c)
    .where(claims_table.c.id == sa.bindparam("claim_id"))
    .compile(dialect=asyncpg_dialect(paramstyle="numeric_dollar"))
)


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Connections of this pool only ever run one autocommit SELECT: there is no session state to reset."""


class HotReads:
    """Single-row reads on a dedicated asyncpg pool."""

    def __init__(self, dsn: str, max_size: int) -> None:
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

    async def claim(self, claim_id: uuid.UUID) -> dict[str, Any] | None:
        """One claim as a mapping of its columns, or None."""
        pool = await self._acquire_pool()
        async with pool.acquire() as connection:
            row = await connection.fetchrow(_CLAIM_BY_ID, claim_id)
        if row is None:
            return None
        claim = dict(row)
        if isinstance(claim["bases"], str):  # asyncpg hands JSONB over as text
            claim["bases"] = json.loads(claim["bases"])
        return claim

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def hot_reads_of(request: Request) -> HotReads:
    hot_reads: HotReads = request.app.state.hot_reads
    return hot_reads


def with_hot_reads(app: FastAPI, settings: ServiceSettings) -> FastAPI:
    """Give `app` its `HotReads` (on `app.state.hot_reads`), closed when the app's lifespan ends."""
    platform_lifespan: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hot_reads = HotReads(settings.asyncpg_dsn, max_size=max(2, settings.db_pool_size))
        app.state.hot_reads = hot_reads
        try:
            async with platform_lifespan(app):
                yield
        finally:
            await hot_reads.close()

    app.router.lifespan_context = lifespan
    return app
