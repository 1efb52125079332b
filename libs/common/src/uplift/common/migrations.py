"""Alembic plumbing: every service keeps its migrations in `uplift.<service>/migrations` (shipped with the
package), creates its own schema and keeps its version table inside it.

    python -m uplift.common.migrations upgrade registry [--database-url URL]
    python -m uplift.common.migrations upgrade all
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from uplift.common.db import PlatformTables, asyncpg_url
from uplift.common.relay import outbox_notify_trigger_sql

SERVICES = ("registry", "matching", "medical", "metrics")


def alembic_config(service: str, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", f"uplift.{service}:migrations")
    cfg.set_main_option("sqlalchemy.url", asyncpg_url(database_url).replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def upgrade_all(database_url: str, services: Sequence[str] = SERVICES) -> None:
    for service in services:
        upgrade(service, database_url)


def run_env(*, schema: str, target_metadata: sa.MetaData) -> None:
    """The body of every service's `migrations/env.py` (online mode, async engine)."""
    from alembic import context

    url = (
        context.config.get_main_option("sqlalchemy.url")
        or os.environ.get(f"UPLIFT_{schema.upper()}_DATABASE_URL")
        or os.environ.get("UPLIFT_DATABASE_URL")
    )
    if not url:
        raise RuntimeError(f"no database URL for {schema}: set UPLIFT_DATABASE_URL")

    def do_run(connection: sa.Connection) -> None:
        # A service role owns its schema but may not create schemas: ask before creating.
        exists = connection.execute(
            sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
        ).first()
        if exists is None:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=False,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(asyncpg_url(url))
        try:
            async with engine.begin() as conn:
                await conn.run_sync(do_run)
        finally:
            await engine.dispose()

    asyncio.run(run_async())


def create_platform_tables(bind: sa.Connection, platform: PlatformTables, schema: str) -> None:
    """For a service's first migration: the outbox, inbox and friends, and the relay's NOTIFY trigger."""
    tables = [
        platform.outbox,
        platform.aggregate_versions,
        platform.inbox,
        platform.dead_letters,
        platform.parked_events,
        platform.idempotency_keys,
        platform.scheduler_runs,
    ]
    for table in tables:
        table.create(bind, checkfirst=True)
    for statement in outbox_notify_trigger_sql(schema):
        bind.execute(sa.text(statement))


def drop_platform_tables(bind: sa.Connection, platform: PlatformTables) -> None:
    for table in reversed(
        [
            platform.outbox,
            platform.aggregate_versions,
            platform.inbox,
            platform.dead_letters,
            platform.parked_events,
            platform.idempotency_keys,
            platform.scheduler_runs,
        ]
    ):
        table.drop(bind, checkfirst=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uplift.common.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upgrade", help="apply migrations")
    up.add_argument("service", choices=[*SERVICES, "all"])
    up.add_argument("--database-url", default=None)
    up.add_argument("--revision", default="head")
    args = parser.parse_args(argv)
    services = SERVICES if args.service == "all" else (args.service,)
    for service in services:
        url = (
            args.database_url
            or os.environ.get(f"UPLIFT_{service.upper()}_DATABASE_URL")
            or os.environ.get("UPLIFT_DATABASE_URL")
        )
        if not url:
            print(
                f"no database URL for {service}: set UPLIFT_DATABASE_URL or pass --database-url",
                file=sys.stderr,
            )
            return 2
        upgrade(service, url, args.revision)
        print(f"{service}: migrated to {args.revision}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
