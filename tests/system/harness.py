"""The four services as separate uvicorn processes, as `make run` starts them (used by tests/system and tests/faults).

A `SystemUnderTest` holds the running services, the database and NATS they share, and the folder their output
(JSON log lines) goes to. A service keeps its port across a restart, so clients keep their base URL; its log file
is appended to, so a scan after the run sees every incarnation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from uplift.common.embedded import free_tcp_port

SERVICES = ("registry", "matching", "medical", "metrics")
READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    incarnations: int = 1

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """`kill -9`: no shutdown hook, no drain, no flush."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_SECONDS)

    def restart(self) -> None:
        """Start it again on the same port and environment (after `kill` or `stop_service`)."""
        if self.alive():
            raise RuntimeError(f"{self.name} is still running")
        self.process = _launch(self.name, self.port, self.env, self.log_path)
        self.incarnations += 1


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

    def start(self, env: dict[str, str]) -> None:
        """Start every service, then wait until each is ready (they start in parallel)."""
        for name in SERVICES:
            self.services[name] = start_service(name, env, self.log_dir)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for name in SERVICES:
            wait_until_ready(self.services[name], deadline)

    def stop(self) -> None:
        """SIGTERM to all first, then wait: the services drain in parallel."""
        for service in self.services.values():
            if service.alive():
                service.process.terminate()
        for service in self.services.values():
            stop_service(service)


def service_environment(database_url: str, nats_url: str, **extra: str) -> dict[str, str]:
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
    env.update({f"UPLIFT_{key.upper()}": value for key, value in extra.items()})
    return env


def _launch(name: str, port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
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
    with log_path.open("ab") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def start_service(name: str, env: dict[str, str], log_dir: Path) -> ServiceProcess:
    port = free_tcp_port()
    log_path = log_dir / f"{name}.log"
    return ServiceProcess(name, port, log_path, env, _launch(name, port, env, log_path))


def readiness(service: ServiceProcess, timeout: float = 2.0) -> tuple[int | None, dict[str, object]]:
    """`/<svc>/readyz` as (status, body); (None, {}) when nothing answers."""
    try:
        answer = httpx.get(f"{service.base_url}/{service.name}/readyz", timeout=timeout)
    except httpx.HTTPError:
        return None, {}
    try:
        body = answer.json()
    except ValueError:
        body = {}
    return answer.status_code, body if isinstance(body, dict) else {}


def wait_until_ready(service: ServiceProcess, deadline: float) -> None:
    last = "no answer"
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(
                f"{service.name} exited with {service.process.returncode} before it was ready:\n"
                + service.log_text()[-4000:]
            )
        status, body = readiness(service)
        if status == 200 and body.get("nats") == "ok":
            return
        last = f"{status} {body}"
        time.sleep(0.25)
    raise RuntimeError(f"{service.name} not ready in time ({last}):\n{service.log_text()[-4000:]}")


def stop_service(service: ServiceProcess) -> None:
    if not service.alive():
        return
    service.process.terminate()
    try:
        service.process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait(STOP_TIMEOUT_SECONDS)
