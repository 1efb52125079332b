"""`make run`: the whole system on one machine, from nothing but Python.

Starts PostgreSQL (55432) and NATS with JetStream (54222) from their wheels with data under `.uplift/`,
creates the `uplift` database, applies every service's migrations and runs the four services under honcho.
Ctrl-C stops the services, then NATS, then PostgreSQL. A second `make run` of the same checkout is refused.

Ports: UPLIFT_PG_PORT, UPLIFT_NATS_PORT, UPLIFT_NATS_MONITOR_PORT. Run as `python -m uplift.common.devrun`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import importlib
import importlib.util
import inspect
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from uplift.common.embedded import EmbeddedNats, EmbeddedPostgres, EmbeddedServerError, port_is_listening

STATE_DIR = ".uplift"
DATABASE = "uplift"
DEFAULT_PG_PORT = 55432
DEFAULT_NATS_PORT = 54222
DEFAULT_NATS_MONITOR_PORT = 58222
# How long the banner waits for the services to listen before printing anyway.
SERVICE_START_WAIT_SECONDS = 120.0
EXIT_ALREADY_RUNNING = 3
EXIT_SERVER_FAILED = 4


@dataclass(frozen=True)
class Service:
    name: str
    port: int

    @property
    def app(self) -> str:
        return f"uplift.{self.name}.main:create_app"

    @property
    def docs_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.name}/docs"


SERVICES = (
    Service("registry", 8001),
    Service("matching", 8002),
    Service("medical", 8003),
    Service("metrics", 8004),
)


# --------------------------------------------------------------------------------------------------------
# one `make run` per checkout
# --------------------------------------------------------------------------------------------------------


class AlreadyRunning(RuntimeError):
    """Another launcher holds this checkout's run lock."""

    def __init__(self, lock_path: Path, holder_pid: int | None) -> None:
        who = f"pid {holder_pid}" if holder_pid else "another process"
        super().__init__(
            f"another `make run` of this checkout is already running ({who}, lock {lock_path}); "
            "stop it first (Ctrl-C in its terminal)"
        )
        self.holder_pid = holder_pid


class RunLock:
    """An exclusive flock on `.uplift/run.lock`, holding our pid. The kernel drops it if we die."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise AlreadyRunning(self.path, _read_pid(self.path)) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # Truncate rather than unlink: unlinking a lock file races with a launcher that just opened it.
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def acquire_run_lock(state_dir: Path) -> RunLock:
    """Take this checkout's run lock or raise AlreadyRunning naming the holder."""
    lock = RunLock(state_dir / "run.lock")
    lock.acquire()
    return lock


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------------------------------
# steps
# --------------------------------------------------------------------------------------------------------


def find_checkout_root(start: Path) -> Path:
    """The uv workspace root at or above `start` (its pyproject declares the workspace), else `start`."""
    for folder in [start, *start.parents]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.uv.workspace]" in pyproject.read_text(errors="replace"):
            return folder
    return start


def _port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise SystemExit(f"{name}={port} is not a port number")
    return port


def apply_migrations(database_url: str) -> bool:
    """Run `uplift.common.migrations.upgrade_all`; False (with a note) while that module is missing."""
    try:
        migrations = importlib.import_module("uplift.common.migrations")
    except ModuleNotFoundError as exc:
        if exc.name != "uplift.common.migrations":
            raise
        _say("migrations: uplift.common.migrations is not there yet; skipping")
        return False
    result = migrations.upgrade_all(database_url)
    if inspect.isawaitable(result):
        asyncio.run(_await(result))
    return True


async def _await(awaitable: Awaitable[object]) -> None:
    await awaitable


def development_token() -> str | None:
    """A district_admin token signed with the development key, or None if auth cannot mint yet."""
    try:
        auth = importlib.import_module("uplift.common.auth")
        token = auth.mint_token("district_admin")
    except Exception as exc:  # a missing or unfinished auth module must not stop the launcher
        _say(f"admin token: unavailable ({type(exc).__name__}: {exc})")
        return None
    return str(token)


def runnable_services() -> list[Service]:
    """Services whose `main` module exists; the others are reported and left out."""
    found = []
    for service in SERVICES:
        try:
            spec = importlib.util.find_spec(f"uplift.{service.name}.main")
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            _say(f"{service.name}: uplift.{service.name}.main not found; not starting it")
        else:
            found.append(service)
    return found


def service_command(service: Service) -> str:
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        service.app,
        "--host",
        "127.0.0.1",
        "--port",
        str(service.port),
    ]
    return shlex.join(argv)


def service_environment(database_url: str, nats_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "UPLIFT_DATABASE_URL": database_url,
        "UPLIFT_NATS_URL": nats_url,
        "UPLIFT_ENV": "development",
        "PYTHONUNBUFFERED": "1",
    }


def run_services(services: list[Service], env: dict[str, str], banner: str) -> int:
    """Run the services under honcho until Ctrl-C/SIGTERM or until one of them exits; honcho's code."""
    from honcho.manager import Manager

    busy = [s for s in services if port_is_listening(s.port)]
    if busy:
        names = ", ".join(f"{s.name} ({s.port})" for s in busy)
        _say(f"cannot start: ports already in use: {names}")
        return EXIT_SERVER_FAILED
    if not services:
        print(banner, flush=True)
        _say("no service can be started yet; PostgreSQL and NATS stay up until Ctrl-C")
        with _sigterm_as_interrupt(), contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
        return 0
    manager = Manager()
    for service in services:
        manager.add_process(service.name, service_command(service), env=env)
    threading.Thread(target=_print_when_listening, args=(services, banner), daemon=True).start()
    manager.loop()
    return int(manager.returncode or 0)


def _print_when_listening(services: list[Service], banner: str) -> None:
    deadline = time.monotonic() + SERVICE_START_WAIT_SECONDS
    while time.monotonic() < deadline and not all(port_is_listening(s.port) for s in services):
        time.sleep(0.5)
    print(banner, flush=True)


def render_banner(services: list[Service], pg: EmbeddedPostgres, nats: EmbeddedNats, token: str | None) -> str:
    lines = ["", "Uplift is running (development). Ctrl-C stops everything.", ""]
    lines += [f"  {s.name:<9} {s.docs_url}" for s in services]
    lines += [
        "",
        f"  PostgreSQL {pg.database_url(DATABASE)}   (files: {pg.server_dir})",
        f"  NATS       {nats.url}   (monitoring: {nats.monitor_url}, store: {nats.data_dir})",
    ]
    if token:
        lines += ["", "  development admin token (district_admin):", f"  {token}"]
    return "\n".join(lines) + "\n"


def _say(message: str) -> None:
    print(f"[uplift] {message}", flush=True)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """During set-up, treat SIGTERM like Ctrl-C so the servers started so far are stopped."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> int:
    root = find_checkout_root(Path.cwd())
    state_dir = root / STATE_DIR
    try:
        lock = acquire_run_lock(state_dir)
    except AlreadyRunning as exc:
        print(f"[uplift] {exc}", file=sys.stderr, flush=True)
        return EXIT_ALREADY_RUNNING

    pg_port = _port_from_env("UPLIFT_PG_PORT", DEFAULT_PG_PORT)
    nats_port = _port_from_env("UPLIFT_NATS_PORT", DEFAULT_NATS_PORT)
    monitor_port = _port_from_env("UPLIFT_NATS_MONITOR_PORT", DEFAULT_NATS_MONITOR_PORT)
    os.environ["UPLIFT_ENV"] = "development"

    with lock, contextlib.ExitStack() as servers:
        try:
            with _sigterm_as_interrupt():
                pg = EmbeddedPostgres(state_dir / "pg", pg_port, stop_with_parent=True)
                nats = EmbeddedNats(state_dir / "nats", nats_port, monitor_port=monitor_port, stop_with_parent=True)
                # Stopped in reverse order: services (honcho) first, then NATS, then PostgreSQL.
                servers.callback(_stop, "PostgreSQL", pg.stop)
                servers.callback(_stop, "NATS", nats.stop)
                _say(f"starting PostgreSQL on 127.0.0.1:{pg_port} ...")
                pg.start()
                _say(f"starting NATS (JetStream) on 127.0.0.1:{nats_port} ...")
                nats.start()
                if pg.create_database(DATABASE):
                    _say(f"created database {DATABASE}")
                database_url = pg.database_url(DATABASE, driver="asyncpg")
                if apply_migrations(database_url):
                    _say("migrations applied")
                services = runnable_services()
                token = development_token()
        except EmbeddedServerError as exc:
            print(f"[uplift] {exc}", file=sys.stderr, flush=True)
            return EXIT_SERVER_FAILED
        except KeyboardInterrupt:
            _say("interrupted during start-up; stopping")
            return 130
        banner = render_banner(services, pg, nats, token)
        code = run_services(services, service_environment(database_url, nats.url), banner)
        # Ctrl-C from here on should not cut the clean shutdown of NATS and PostgreSQL short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _say("stopped")
    return code


def _stop(name: str, stop: Callable[[], None]) -> None:
    _say(f"stopping {name} ...")
    try:
        stop()
    except EmbeddedServerError as exc:
        print(f"[uplift] {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
