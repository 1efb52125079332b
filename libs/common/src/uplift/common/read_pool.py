"""Hot reads on a small asyncpg pool of their own (PERFORMANCE.md: simple hot reads at ≥ 50% of a bare endpoint).

The ORM session checks a connection out with a ping and rolls it back on return: three round trips around a
one-row read, plus SQLAlchemy's per-statement cost. Connections of this pool only ever run autocommit SELECTs
prepared once (asyncpg caches prepared statements per connection), so there is nothing to reset on release. The
pool opens connections on use (a service starts even while its database is down) and closes with the service.

    BY_ID = compile_select(sa.select(claims.c.id, ...).where(claims.c.id == sa.bindparam("claim_id")))
    row = await runtime.read_pool.fetchrow(BY_ID, claim_id=claim_id)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
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


# Errors after which the server closes the session (connection exceptions, shutdowns, the database dropped).
_CONNECTION_ENDING = ("08", "57P")


class ReadPool:
    """A few connections for autocommit SELECTs, opened on demand up to `max_size`, handed to waiters in turn.

    Not asyncpg's `Pool`: its acquire/release (a proxy object per acquire, a shielded task and a reset per
    release) cost about as much CPU as the one-row read itself. A connection here only ever runs one prepared
    SELECT at a time and is idle in between, so there is nothing to reset. A connection that fails or is
    interrupted mid-query (lost, cancelled) is dropped, a closed idle one skipped, and a new one opened in its
    place; a database error (the query ran and failed) leaves the connection usable.
    """

    def __init__(self, dsn: str, *, max_size: int = 10) -> None:
        if max_size < 1:
            raise ValueError("a read pool needs at least one connection")
        self._dsn = dsn
        self._max_size = max_size
        self._idle: list[asyncpg.Connection] = []
        self._mine: set[asyncpg.Connection] = set()  # open or in use, of this pool (not of before a close)
        self._opening = 0
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()

    @property
    def size(self) -> int:
        """Connections open or being opened."""
        return len(self._mine) + self._opening

    async def _checkout(self) -> asyncpg.Connection:
        while True:
            while self._idle:
                connection = self._idle.pop()
                if not connection.is_closed():
                    return connection
                self._mine.discard(connection)
            if self.size < self._max_size:
                self._opening += 1
                try:
                    connection = await asyncpg.connect(self._dsn)
                except BaseException:
                    self._opening -= 1
                    self._hand_over(None)  # its place is free again: a waiter may try
                    raise
                self._opening -= 1
                self._mine.add(connection)
                return connection
            waiter: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():  # handed over, then cancelled: pass it on
                    late = waiter.result()
                    if late is None:
                        self._hand_over(None)
                    else:
                        self._checkin(late)
                raise
            if handed is not None:
                return handed
            # None: a place came free (a connection was dropped or failed to open); look again

    def _hand_over(self, connection: asyncpg.Connection | None) -> bool:
        """Give `connection` (or, with None, the news of a free place) to the first live waiter."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    def _checkin(self, connection: asyncpg.Connection) -> None:
        if connection not in self._mine or connection.is_closed():
            self._mine.discard(connection)
            connection.terminate()  # harmless when already closed
            self._hand_over(None)
        elif not self._hand_over(connection):
            self._idle.append(connection)

    async def _run(self, method: str, select: CompiledSelect, params: dict[str, Any]) -> Any:
        connection = await self._checkout()
        try:
            result = await getattr(connection, method)(select.sql, *select.args(params))
        except asyncpg.PostgresError as error:
            if str(error.sqlstate).startswith(_CONNECTION_ENDING):
                self._mine.discard(connection)
            self._checkin(connection)  # the server answered with an error: the connection is ready again
            raise
        except BaseException:
            self._mine.discard(connection)  # lost, or interrupted mid-protocol: never reuse it
            self._checkin(connection)
            raise
        self._checkin(connection)
        return result

    async def fetchrow(self, select: CompiledSelect, **params: Any) -> asyncpg.Record | None:
        record: asyncpg.Record | None = await self._run("fetchrow", select, params)
        return record

    async def fetch(self, select: CompiledSelect, **params: Any) -> Sequence[asyncpg.Record]:
        records: Sequence[asyncpg.Record] = await self._run("fetch", select, params)
        return records

    async def close(self) -> None:
        """Close the idle connections; those in use close when they come back. The pool opens again on use."""
        idle, self._idle = self._idle, []
        self._mine.clear()
        while self._hand_over(None):  # waiters look again (and open connections of their own)
            pass
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.close(timeout=5)
