"""Database plumbing shared by every service: engine, sessions, naming, mixins and the platform tables.

Each service owns one PostgreSQL schema. `service_metadata(schema)` gives it a MetaData with our constraint
naming convention and the platform tables every service has (outbox, inbox, dead letters, parked events,
aggregate versions, idempotency keys, scheduler runs); the service's own models are declared on a Base built
from that metadata by `declarative_base_for`.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_last_ms = 0
_counter = 0


def new_id() -> uuid.UUID:
    """A time-ordered UUIDv7 (RFC 9562): 48-bit milliseconds, a 12-bit counter for order within a millisecond
    (method 1), 62 random bits. Good index locality, sortable by creation within a process."""
    global _last_ms, _counter
    ms = time.time_ns() // 1_000_000
    if ms > _last_ms:
        _last_ms, _counter = ms, int.from_bytes(os.urandom(2)) & 0x3FF  # leave room to count up
    else:
        _counter += 1
        if _counter > 0xFFF:  # more than ~3,000 ids in one millisecond: borrow the next one
            _last_ms, _counter = _last_ms + 1, 0
        ms = _last_ms
    rand_b = int.from_bytes(os.urandom(8)) & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms << 80) | (0x7 << 76) | (_counter << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PlatformTables:
    """The platform's tables inside one service schema."""

    def __init__(self, metadata: sa.MetaData) -> None:
        self.outbox = sa.Table(
            "outbox",
            metadata,
            sa.Column("position", sa.BigInteger, sa.Identity(always=True), primary_key=True),
            sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
            sa.Column("event_type", sa.Text, nullable=False),
            sa.Column("subject", sa.Text, nullable=False),
            sa.Column("aggregate_type", sa.Text, nullable=False),
            sa.Column("aggregate_id", sa.Text, nullable=False),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.Column("envelope", JSONB, nullable=False),
            sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.Column("published_at", sa.DateTime(timezone=True)),
            sa.Index(
                "ix_outbox_unpublished",
                "position",
                postgresql_where=sa.text("published_at IS NULL"),
            ),
            sa.Index("ix_outbox_occurred_at", "occurred_at"),
        )
        self.aggregate_versions = sa.Table(
            "aggregate_versions",
            metadata,
            sa.Column("aggregate_type", sa.Text, primary_key=True),
            sa.Column("aggregate_id", sa.Text, primary_key=True),
            sa.Column("seq", sa.BigInteger, nullable=False),
        )
        self.inbox = sa.Table(
            "inbox",
            metadata,
            sa.Column("consumer", sa.Text, primary_key=True),
            sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
            sa.Column("event_type", sa.Text, nullable=False),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        )
        self.dead_letters = sa.Table(
            "dead_letters",
            metadata,
            sa.Column("id", UUID(as_uuid=True), primary_key=True),
            sa.Column("consumer", sa.Text, nullable=False),
            sa.Column("event_id", UUID(as_uuid=True), nullable=False),
            sa.Column("event_type", sa.Text, nullable=False),
            sa.Column("subject", sa.Text, nullable=False),
            sa.Column("envelope", JSONB, nullable=False),
            sa.Column("error", sa.Text, nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("status", sa.Text, nullable=False, server_default="open"),  # open | retried
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.Column("retried_at", sa.DateTime(timezone=True)),
            sa.UniqueConstraint("consumer", "event_id"),
        )
        self.parked_events = sa.Table(
            "parked_events",
            metadata,
            sa.Column("consumer", sa.Text, primary_key=True),
            sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
            sa.Column("parent_key", sa.Text, nullable=False, index=True),
            sa.Column("envelope", JSONB, nullable=False),
            sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        )
        self.idempotency_keys = sa.Table(
            "idempotency_keys",
            metadata,
            sa.Column("principal", sa.Text, primary_key=True),
            sa.Column("key", sa.Text, primary_key=True),
            sa.Column("method", sa.Text, nullable=False),
            sa.Column("path", sa.Text, nullable=False),
            sa.Column("body_hash", sa.Text, nullable=False),
            sa.Column("status_code", sa.Integer),
            sa.Column("response_headers", JSONB),
            sa.Column("response_body", sa.LargeBinary),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.Column("completed_at", sa.DateTime(timezone=True)),
        )
        self.scheduler_runs = sa.Table(
            "scheduler_runs",
            metadata,
            sa.Column("job", sa.Text, primary_key=True),
            sa.Column("run_on", sa.Date, primary_key=True),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.Column("finished_at", sa.DateTime(timezone=True)),
            sa.Column("result", JSONB),
        )


def service_metadata(schema: str) -> tuple[sa.MetaData, PlatformTables]:
    """The MetaData of one service schema, with the platform tables already declared on it."""
    metadata = sa.MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    return metadata, PlatformTables(metadata)


def declarative_base_for(metadata: sa.MetaData) -> type[DeclarativeBase]:
    """A declarative Base whose models live in `metadata`'s schema."""

    class Base(DeclarativeBase):
        pass

    Base.metadata = metadata
    return Base


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now(), onupdate=sa.func.now()
    )


class VersionMixin:
    """An optimistic-concurrency counter exposed as the ETag."""

    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)


def asyncpg_url(database_url: str) -> str:
    """Any PostgreSQL URL as SQLAlchemy's asyncpg URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url[len(prefix) :]
    return database_url


def create_engine(database_url: str, *, pool_size: int = 10, max_overflow: int = 10, **kw: Any) -> AsyncEngine:
    return create_async_engine(
        asyncpg_url(database_url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        **kw,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


# SQLSTATEs meaning "the server is not there for you right now": class 08 (connection exception) and the
# operator interventions admin_shutdown, crash_shutdown and cannot_connect_now.
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


# A table, column, schema or function the code expects is not there: code deployed ahead of its migration.
_SCHEMA_BEHIND_SQLSTATES = ("42P01", "42703", "3F000", "42883")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what caused it (SQLAlchemy wraps the driver's error)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or getattr(seen, "orig", None)


def is_infrastructure_error(exc: BaseException) -> bool:
    """True for a lost, refused or shutting-down database connection (retry later; not the caller's fault)."""
    for seen in _causes(exc):
        if isinstance(seen, OSError | ConnectionError | asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
            return True
        if isinstance(seen, sa.exc.DBAPIError) and (
            seen.connection_invalidated or isinstance(seen, sa.exc.InterfaceError)
        ):
            return True
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
    return False


def is_schema_behind_code(exc: BaseException) -> bool:
    """True when the database lacks a table, column, schema or function the code uses: the service runs ahead of
    its migration. A consumer waits for the migration instead of dead-lettering every event meanwhile."""
    return any(getattr(seen, "sqlstate", None) in _SCHEMA_BEHIND_SQLSTATES for seen in _causes(exc))


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name (e.g. "relay:registry")."""
    import hashlib

    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
