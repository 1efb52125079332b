"""pytest plugin for Uplift's tests; conftest files load it with `pytest_plugins = ["uplift.common.testing"]`.

Fixtures: `database_url` (a fresh, empty database for the test session, SQLAlchemy asyncpg URL) and `nats_url`
(a NATS server with JetStream), both session-scoped.
"""

from __future__ import annotations

# ====================================================================================================
# Servers: which PostgreSQL and NATS the test session uses.
#
#   1. TEST_DATABASE_URL / TEST_NATS_URL when set (each independently);
#   2. else testcontainers when TEST_USE_DOCKER=1 and a Docker daemon answers;
#   3. else the embedded servers of `make run`, on free ports under a temp folder, removed at session end.
#
# Self-contained: nothing below this section is needed by it.
# ====================================================================================================
import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from uplift.common.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedServerError,
    drop_database,
    ensure_database,
    free_tcp_port,
    plain_postgres_url,
    root_server_dir,
)

TEST_DATABASE_PREFIX = "uplift_test_"
TEST_SERVERS_PREFIX = "uplift-test-servers-"
OWNER_FILE = "owner.pid"
DEFAULT_POSTGRES_IMAGE = "postgres:17-alpine"
DEFAULT_NATS_IMAGE = "nats:2.11-alpine"
_START_ATTEMPTS = 3
_T = TypeVar("_T")


def sqlalchemy_url(url: str) -> str:
    """Any PostgreSQL URL in SQLAlchemy's asyncpg form (`postgresql+asyncpg://`)."""
    return "postgresql+asyncpg://" + plain_postgres_url(url).partition("://")[2]


def run_isolated(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine to completion on a private event loop in a worker thread.

    Sync fixtures use this so they never touch (or replace) the event loop pytest-asyncio runs tests on.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class _ServerSession:
    """The servers this test session uses, started lazily; `close()` stops whatever was started."""

    def __init__(self) -> None:
        self.database_server_url: str | None = None
        self.nats_url: str | None = None
        self._cleanups: list[Callable[[], None]] = []
        self._temp_dir: Path | None = None

    def temp_dir(self) -> Path:
        if self._temp_dir is None:
            sweep_abandoned_test_servers()
            self._temp_dir = Path(tempfile.mkdtemp(prefix=TEST_SERVERS_PREFIX))
            (self._temp_dir / OWNER_FILE).write_text(f"{os.getpid()}\n")
            folder = self._temp_dir
            self._cleanups.append(lambda: _remove_test_servers_folder(folder))
        return self._temp_dir

    def on_close(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def close(self) -> None:
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                cleanup()
            except Exception as exc:  # keep stopping the others
                warnings.warn(f"stopping a test server failed: {exc}", stacklevel=1)
        self.database_server_url = None
        self.nats_url = None
        self._temp_dir = None


_servers = _ServerSession()
atexit.register(_servers.close)


def _remove_test_servers_folder(folder: Path) -> None:
    # As root, each PostgreSQL keeps its files in a folder of its own beside ours (see embedded.py).
    for data_dir in folder.glob("pg-*"):
        shutil.rmtree(root_server_dir(data_dir), ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)


def _owner_alive(folder: Path) -> bool:
    try:
        pid = int((folder / OWNER_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_abandoned_test_servers() -> None:
    """Delete the files of test servers whose pytest was killed (its servers died with it)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{TEST_SERVERS_PREFIX}*"):
        ours = folder.is_dir() and not folder.is_symlink() and folder.stat().st_uid == os.geteuid()
        # No owner file yet means a session is still setting the folder up.
        if ours and (folder / OWNER_FILE).exists() and not _owner_alive(folder):
            _remove_test_servers_folder(folder)


def _docker_requested() -> bool:
    return os.environ.get("TEST_USE_DOCKER") == "1"


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


def _use_docker() -> bool:
    if not _docker_requested():
        return False
    if _docker_available():
        return True
    warnings.warn("TEST_USE_DOCKER=1 but no Docker daemon answers; using embedded servers", stacklevel=2)
    return False


def _start_with_retries(start: Callable[[], _T], what: str) -> _T:
    """Free ports are picked before the server binds them; on the rare collision, try fresh ports."""
    for attempt in range(1, _START_ATTEMPTS + 1):
        try:
            return start()
        except EmbeddedServerError:
            if attempt == _START_ATTEMPTS:
                raise
    raise AssertionError(f"unreachable: starting {what}")


def resolve_database_server() -> str:
    """URL of a PostgreSQL server (maintenance database) for this session, starting one if needed."""
    if _servers.database_server_url is not None:
        return _servers.database_server_url
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        url = given
    elif _use_docker():
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers before the `community` split
            from testcontainers.postgres import PostgresContainer

        image = os.environ.get("TEST_POSTGRES_IMAGE", DEFAULT_POSTGRES_IMAGE)
        container = PostgresContainer(image, driver=None)
        container.start()
        _servers.on_close(container.stop)
        url = container.get_connection_url()
    else:

        def start_embedded() -> str:
            server = EmbeddedPostgres(
                _servers.temp_dir() / f"pg-{secrets.token_hex(3)}",
                free_tcp_port(),
                durable=False,
                stop_with_parent=True,
            )
            _servers.on_close(server.destroy)
            server.start()
            return server.url

        url = _start_with_retries(start_embedded, "PostgreSQL")
    _servers.database_server_url = sqlalchemy_url(url)
    return _servers.database_server_url


def resolve_nats_server() -> str:
    """URL of a NATS server with JetStream for this session, starting one if needed."""
    if _servers.nats_url is not None:
        return _servers.nats_url
    given = os.environ.get("TEST_NATS_URL")
    if given:
        url = given
    elif _use_docker():
        try:
            from testcontainers.community.nats import NatsContainer
        except ImportError:  # testcontainers before the `community` split
            from testcontainers.nats import NatsContainer

        container = NatsContainer(os.environ.get("TEST_NATS_IMAGE", DEFAULT_NATS_IMAGE), jetstream=True)
        container.start()
        _servers.on_close(container.stop)
        url = container.nats_uri()
    else:

        def start_embedded() -> str:
            server = EmbeddedNats(
                _servers.temp_dir() / f"nats-{secrets.token_hex(3)}", free_tcp_port(), stop_with_parent=True
            )
            _servers.on_close(server.destroy)
            server.start()
            return server.url

        url = _start_with_retries(start_embedded, "NATS")
    _servers.nats_url = url
    return url


def resolve_servers() -> tuple[str, str]:
    """(database server URL, NATS URL) for this test session; servers are started on first use."""
    return resolve_database_server(), resolve_nats_server()


def release_servers() -> None:
    """Stop the servers this session started (given URLs and their servers are left alone)."""
    _servers.close()


@contextlib.contextmanager
def fresh_database(server_url: str, prefix: str = TEST_DATABASE_PREFIX) -> Iterator[str]:
    """A new empty database `<prefix><random>` on `server_url`'s server, dropped afterwards.

    When the server's user may not create databases (a shared TEST_DATABASE_URL), the given database itself is
    used, with a warning, and nothing is dropped.
    """
    name = f"{prefix}{secrets.token_hex(4)}"
    try:
        url = run_isolated(ensure_database(server_url, name))
    except asyncpg.InsufficientPrivilegeError:
        warnings.warn("the test database user may not CREATE DATABASE; tests share the given database", stacklevel=3)
        yield sqlalchemy_url(server_url)
        return
    try:
        yield sqlalchemy_url(url)
    finally:
        run_isolated(drop_database(server_url, name))


@pytest.fixture(scope="session")
def uplift_server_session() -> Iterator[None]:
    """Stops the servers started for this session when it ends."""
    try:
        yield
    finally:
        release_servers()


@pytest.fixture(scope="session")
def database_server_url(uplift_server_session: None) -> str:
    """The PostgreSQL server of this session (its maintenance database); prefer `database_url`."""
    return resolve_database_server()


@pytest.fixture(scope="session")
def database_url(database_server_url: str) -> Iterator[str]:
    """A fresh, empty database for this test session: `postgresql+asyncpg://…/uplift_test_<random>`."""
    with fresh_database(database_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def nats_url(uplift_server_session: None) -> str:
    """A NATS server with JetStream for this session (shared by its tests: use unique stream names)."""
    return resolve_nats_server()


# ====================================================================================================
# End of the server section.
# ====================================================================================================


# ====================================================================================================
# Service databases: the session database with every service's migrations applied.
# ====================================================================================================


@pytest.fixture(scope="session")
def migrated_database_url(database_url: str) -> str:
    """The session database with all four services' schemas migrated to head (once per session)."""
    from uplift.common.migrations import upgrade_all

    upgrade_all(database_url)
    return database_url
