"""The whole system as `make run` starts it: the four services as separate uvicorn processes.

One session-scoped harness starts registry, matching, medical and metrics against the session's migrated
PostgreSQL database and its NATS, waits until each answers `/<svc>/readyz`, captures every process's output (JSON
log lines) to a file for later scans, and stops them at the end. Tests talk to them over real HTTP.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from uplift.common.testkit import auth

sys.path.insert(0, str(Path(__file__).parent))
from harness import SERVICES, SystemUnderTest, service_environment


@pytest.fixture(scope="session")
def system(migrated_database_url: str, nats_url: str) -> Iterator[SystemUnderTest]:
    """The four services as separate processes on the session's database and NATS."""
    log_dir = Path(tempfile.mkdtemp(prefix="uplift-system-logs-"))
    print(f"[system] service logs in {log_dir}", flush=True)  # kept after the session, for post-mortems
    sut = SystemUnderTest(migrated_database_url, nats_url, log_dir)
    try:
        sut.start(service_environment(migrated_database_url, nats_url))
        yield sut
    finally:
        sut.stop()


@dataclass
class Clients:
    registry: httpx.AsyncClient
    matching: httpx.AsyncClient
    medical: httpx.AsyncClient
    metrics: httpx.AsyncClient


@pytest.fixture(scope="session")
async def clients(system: SystemUnderTest) -> AsyncIterator[Clients]:
    """One HTTP client per service (a generous timeout: the full-size scenario sends large batches)."""
    made = {name: httpx.AsyncClient(base_url=system.url(name), timeout=httpx.Timeout(120.0)) for name in SERVICES}
    try:
        yield Clients(**made)
    finally:
        for client in made.values():
            await client.aclose()


class Tokens:
    """Development-signed bearer tokens (the services run with the development key in tests)."""

    @staticmethod
    def admin(*, pii: bool = False) -> dict[str, str]:
        """A district administrator's token (district-wide; with `pii:read` when asked)."""
        return auth("district_admin", perms=("pii:read",) if pii else ())

    @staticmethod
    def role(role: str, org: str | None = None, perms: tuple[str, ...] = (), **claims: Any) -> dict[str, str]:
        return auth(role, org, perms, **claims)


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    """Token helpers for system tests (their modules cannot import this conftest in importlib mode)."""
    return Tokens()
