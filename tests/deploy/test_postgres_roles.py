"""deploy/postgres/10-service-roles.sh, run as the postgres image would run it, against a real PostgreSQL:
each service's role owns its schema and nothing else, and each service's migrations run as that role.

Roles are global to a PostgreSQL server, so this needs a server where the test user is a superuser and the
four role names are free (the embedded server of the test session is); otherwise it is skipped.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
import pytest

from uplift.common.embedded import EmbeddedServerError, find_pginstall, plain_postgres_url
from uplift.common.migrations import upgrade
from uplift.common.testing import fresh_database, run_isolated

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
INIT_SCRIPT = REPO / "deploy" / "postgres" / "10-service-roles.sh"
SERVICES = ("registry", "matching", "medical", "metrics")


def psql_directory() -> Path | None:
    on_path = shutil.which("psql")
    if on_path:
        return Path(on_path).parent
    try:
        return find_pginstall() / "bin"
    except EmbeddedServerError:
        return None


async def server_allows_provisioning(server_url: str) -> bool:
    connection = await asyncpg.connect(server_url)
    try:
        superuser = await connection.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        taken = await connection.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)", list(SERVICES))
        return bool(superuser) and taken == 0
    finally:
        await connection.close()


async def drop_service_roles(server_url: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        for service in SERVICES:
            await connection.execute(f'DROP ROLE IF EXISTS "{service}"')
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def role_urls(database_server_url: str) -> Iterator[dict[str, str]]:
    """service -> URL logging in as that service's role, on a fresh database provisioned by the script."""
    psql = psql_directory()
    if psql is None or shutil.which("sh") is None:
        pytest.skip("needs sh and psql")
    server_url = plain_postgres_url(database_server_url)
    if not run_isolated(server_allows_provisioning(server_url)):
        pytest.skip("the test server's user is not a superuser, or the service role names are taken")

    server = urlsplit(server_url)
    passwords = {service: secrets.token_hex(24) for service in SERVICES}
    try:
        with fresh_database(database_server_url, prefix="uplift_test_roles_") as database_url:
            database = urlsplit(database_url).path.lstrip("/")
            environment = {
                "PATH": f"{psql}{os.pathsep}{os.environ.get('PATH', '')}",
                "PGHOST": server.hostname or "127.0.0.1",
                "PGPORT": str(server.port or 5432),
                "PGPASSWORD": unquote(server.password or ""),
                "POSTGRES_USER": unquote(server.username or "postgres"),
                "POSTGRES_DB": database,
                **{f"{service.upper()}_DB_PASSWORD": password for service, password in passwords.items()},
            }
            subprocess.run(["sh", str(INIT_SCRIPT)], env=environment, check=True, capture_output=True, timeout=60)
            yield {
                service: f"postgresql://{service}:{password}@{server.hostname}:{server.port}/{database}"
                for service, password in passwords.items()
            }
    finally:
        run_isolated(drop_service_roles(server_url))


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_each_role_works_in_its_own_schema_by_default(role_urls: dict[str, str], service: str) -> None:
    async with connected(role_urls[service]) as connection:
        who = await connection.fetchrow("SELECT current_user AS role, current_schema() AS schema")
        await connection.execute(f"CREATE TABLE probe_{service} (id int)")
        schema = await connection.fetchval(
            f"SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = 'probe_{service}'::regclass"
        )
        owner = await connection.fetchval(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", service
        )

    assert (who["role"], who["schema"]) == (service, service)
    assert schema == service
    assert owner == service


async def test_a_role_can_neither_read_nor_write_another_services_schema(role_urls: dict[str, str]) -> None:
    async with connected(role_urls["medical"]) as medical:
        await medical.execute("CREATE TABLE claims_probe (id int)")
        await medical.execute("INSERT INTO claims_probe VALUES (1)")

    async with connected(role_urls["registry"]) as registry:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await registry.fetch("SELECT * FROM medical.claims_probe")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await registry.execute("CREATE TABLE medical.intruder (id int)")


async def test_no_role_may_create_objects_in_public_or_new_schemas(role_urls: dict[str, str]) -> None:
    async with connected(role_urls["metrics"]) as metrics:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await metrics.execute("CREATE TABLE public.stray (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await metrics.execute("CREATE SCHEMA stray")


def test_each_services_migrations_run_as_its_own_role(role_urls: dict[str, str]) -> None:
    # `upgrade` runs its own event loop: keep it off the one pytest-asyncio runs tests on.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        for service in SERVICES:
            pool.submit(upgrade, service, role_urls[service]).result()

    async def tables_by_schema() -> dict[str, set[str]]:
        async with connected(role_urls["registry"]) as connection:
            rows = await connection.fetch(
                "SELECT schemaname, tablename FROM pg_tables"
                " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
        found: dict[str, set[str]] = {}
        for row in rows:
            found.setdefault(row["schemaname"], set()).add(row["tablename"])
        return found

    tables = run_isolated(tables_by_schema())
    assert set(tables) <= set(SERVICES)  # nothing in public
    for service in SERVICES:
        assert {"alembic_version", "outbox", "inbox"} <= tables[service], service
