"""Test helpers for services: a migrated database, a running app with an HTTP client, and tokens.

Server fixtures (which PostgreSQL and NATS to use) live in `uplift.common.testing`; this module builds on the
URLs they give.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from uplift.common.app import Runtime, ServiceDefinition, create_service_app, running
from uplift.common.auth import mint_token
from uplift.common.db import PlatformTables, asyncpg_url, service_metadata
from uplift.common.migrations import create_platform_tables
from uplift.common.settings import ServiceSettings, load_settings


async def create_platform_schema(database_url: str, schema: str) -> PlatformTables:
    """A throw-away service schema with only the platform tables (for tests of the platform itself)."""
    _, platform = service_metadata(schema)
    engine = create_async_engine(asyncpg_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.run_sync(lambda c: create_platform_tables(c, platform, schema))
    finally:
        await engine.dispose()
    return platform


def service_settings(service: str, database_url: str, nats_url: str, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": asyncpg_url(database_url),
        "nats_url": nats_url,
        "relay_poll_interval_seconds": 0.2,
        "consumer_backoff_seconds": [0.1, 0.2, 0.3],
        "consumer_max_deliver": 3,
        "scheduler_enabled": False,
        "log_json": True,
        "db_pool_size": 5,
    }
    values.update(overrides)
    return load_settings(service, **values)


def token(role: str, org: str | None = None, perms: tuple[str, ...] = (), **claims: Any) -> str:
    return mint_token(role, org, list(perms), **claims)


def auth(role: str, org: str | None = None, perms: tuple[str, ...] = (), **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, org, perms, **claims)}"}


class RunningService:
    """A service app running its lifespan in-process, with an httpx client bound to it."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@asynccontextmanager
async def run_service(
    definition: ServiceDefinition | None = None,
    settings: ServiceSettings | None = None,
    *,
    app: FastAPI | None = None,
) -> AsyncIterator[RunningService]:
    if app is None:
        assert definition is not None and settings is not None
        app = create_service_app(definition, settings)
    async with running(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield RunningService(app, client)


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    timeout: float = 15.0,
    interval: float = 0.05,
    what: str = "condition",
) -> None:
    """Wait until `check()` is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def unique_name(prefix: str = "t") -> str:
    """A short lowercase identifier usable as a schema, stream and service name in one test."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def new_platform(schema: str) -> PlatformTables:
    return service_metadata(schema)[1]
