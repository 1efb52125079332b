"""The whole system as `make run` starts it: the four services as separate uvicorn processes.

One session-scoped harness starts registry, matching, medical and metrics against the session's migrated
PostgreSQL database and its NATS, waits until each answers `/<svc>/readyz`, captures every process's output (JSON
log lines) to a file for later scans, and stops them at the end. Tests talk to them over real HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from uplift.common.embedded import free_tcp_port
from uplift.common.testkit import auth

SERVICES = ("registry", "matching", "medical", "metrics")
READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class SystemUnderTest:
    """The four running services, their log files and the database they share."""

    database_url: str
    nats_url: str
    log_dir: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def asyncpg_dsn(self) -> str:
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    def logs(self) -> dict[str, str]:
        return {name: service.log_text() for name, service in self.services.items()}

    def url(self, service: str) -> str:
        return self.services[service].base_url


def service_environment(database_url: str, nats_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("UPLIFT_")}
    env.update(
        {
            "UPLIFT_DATABASE_URL": database_url,
            "UPLIFT_NATS_URL": nats_url,
            "UPLIFT_ENV": "test",
            "UPLIFT_SCHEDULER_ENABLED": "false",
            "UPLIFT_LOG_JSON": "true",
            # Faster hand-over than production's defaults, so eventual consistency settles within seconds.
            "UPLIFT_RELAY_POLL_INTERVAL_SECONDS": "0.2",
            "UPLIFT_DB_POOL_SIZE": "5",
            "UPLIFT_DB_MAX_OVERFLOW": "5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_service(name: str, env: dict[str, str], log_dir: Path) -> ServiceProcess:
    port = free_tcp_port()
    log_path = log_dir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"uplift.{name}.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    return ServiceProcess(name, port, log_path, process)


def wait_until_ready(service: ServiceProcess, deadline: float) -> None:
    url = f"{service.base_url}/{service.name}/readyz"
    last = "no answer"
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(
                f"{service.name} exited with {service.process.returncode} before it was ready:\n"
                + service.log_text()[-4000:]
            )
        try:
            answer = httpx.get(url, timeout=2.0)
            if answer.status_code == 200 and answer.json().get("nats") == "ok":
                return
            last = f"{answer.status_code} {answer.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.25)
    raise RuntimeError(
        f"{service.name} not ready after {READY_TIMEOUT_SECONDS}s ({last}):\n{service.log_text()[-4000:]}"
    )


def stop_service(service: ServiceProcess) -> None:
    if service.process.poll() is not None:
        return
    service.process.terminate()
    try:
        service.process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait(STOP_TIMEOUT_SECONDS)


@pytest.fixture(scope="session")
def system(migrated_database_url: str, nats_url: str) -> Iterator[SystemUnderTest]:
    """The four services as separate processes on the session's database and NATS."""
    log_dir = Path(tempfile.mkdtemp(prefix="uplift-system-logs-"))
    print(f"[system] service logs in {log_dir}", flush=True)  # kept after the session, for post-mortems
    sut = SystemUnderTest(migrated_database_url, nats_url, log_dir)
    env = service_environment(migrated_database_url, nats_url)
    try:
        for name in SERVICES:
            sut.services[name] = start_service(name, env, log_dir)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for name in SERVICES:
            wait_until_ready(sut.services[name], deadline)
        yield sut
    finally:
        # SIGTERM to all first, then wait: the services drain in parallel.
        for service in sut.services.values():
            if service.process.poll() is None:
                service.process.terminate()
        for service in sut.services.values():
            stop_service(service)


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
