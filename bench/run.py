"""Runs Uplift's benchmarks: every `bench/bench_*.py`, each in a subprocess of its own.

    uv run python bench/run.py                      # all of them (what `make bench` does)
    uv run python bench/run.py platform medical     # a subset, by name (`platform` is bench_platform.py;
                                                    # `registry` also matches bench_registry_*.py)
    uv run python bench/run.py --list               # what would run
    uv run python bench/run.py --timeout 1200 matching

A bench is a module with `def main() -> dict` (an `async def` works too). The runner imports it in a fresh
interpreter (so a crash, a leak or a stuck server in one bench cannot touch the others), calls `main()` with
`sys.argv` reduced to the script path (so a bench's own argparse sees its defaults), and takes the returned
dict as the result. Whatever the bench prints goes to the runner's stderr; the runner's stdout carries one JSON
line per bench, then a summary table. Everything lands in `bench/results/<timestamp>.json` (git-ignored)
together with the machine it ran on, because figures are only comparable within one run on one machine.

A bench over its time limit gets SIGINT (so its `finally` blocks stop its servers), then SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import fnmatch
import importlib.metadata
import importlib.util
import inspect
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_TIMEOUT_SECONDS = 900.0
# After SIGINT, how long a bench may take to stop its servers before it is killed.
GRACE_SECONDS = 20.0
SUMMARY_LINES_PER_BENCH = 20
LIBRARIES = ("fastapi", "uvicorn", "starlette", "sqlalchemy", "asyncpg", "nats-py", "pydantic", "uvloop")


# --------------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------------


def discover(bench_dir: Path = BENCH_DIR) -> dict[str, Path]:
    """name -> path of every `bench_<name>.py`, sorted by name."""
    return {path.stem.removeprefix("bench_"): path for path in sorted(bench_dir.glob("bench_*.py"))}


def select(available: dict[str, Path], wanted: list[str]) -> dict[str, Path]:
    """The benches named by `wanted`: an exact name, a family (`registry` → `registry_*`) or a glob pattern."""
    if not wanted:
        return dict(available)
    chosen: dict[str, Path] = {}
    unknown = []
    for word in wanted:
        matches = [
            name for name in available if name == word or name.startswith(f"{word}_") or fnmatch.fnmatchcase(name, word)
        ]
        if not matches:
            unknown.append(word)
        chosen.update({name: available[name] for name in matches})
    if unknown:
        raise SystemExit(f"no bench named {', '.join(unknown)}; there are: {', '.join(available) or 'none'}")
    return dict(sorted(chosen.items()))


# --------------------------------------------------------------------------------------------------
# the machine
# --------------------------------------------------------------------------------------------------


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or None


def _memory_mib() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def _command_output(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if done.returncode == 0 and text else None


async def _server_versions(database_url: str | None, nats_url: str | None) -> dict[str, str | None]:
    """Versions reported by the servers named in BENCH_DATABASE_URL / BENCH_NATS_URL."""
    versions: dict[str, str | None] = {}
    if database_url:
        import asyncpg

        from uplift.common.embedded import plain_postgres_url

        try:
            conn = await asyncpg.connect(plain_postgres_url(database_url), timeout=10)
            try:
                versions["postgresql"] = await conn.fetchval("SHOW server_version")
            finally:
                await conn.close()
        except Exception as exc:
            versions["postgresql"] = f"unknown ({type(exc).__name__})"
    if nats_url:
        import nats

        try:
            nc = await nats.connect(nats_url, connect_timeout=5, allow_reconnect=False)
            try:
                versions["nats"] = str(nc._server_info.get("version"))
            finally:
                await nc.close()
        except Exception as exc:
            versions["nats"] = f"unknown ({type(exc).__name__})"
    return versions


def _embedded_versions() -> dict[str, str | None]:
    """Versions of the embedded servers benches start when no BENCH_*_URL is given."""
    from uplift.common.embedded import find_nats_server, find_pginstall

    versions: dict[str, str | None] = {"postgresql": None, "nats": None}
    with contextlib.suppress(Exception):
        versions["postgresql"] = _command_output([str(find_pginstall() / "bin" / "postgres"), "--version"])
    with contextlib.suppress(Exception):
        versions["nats"] = _command_output([str(find_nats_server()), "--version"])
    return versions


def machine() -> dict[str, Any]:
    database_url = os.environ.get("BENCH_DATABASE_URL")
    nats_url = os.environ.get("BENCH_NATS_URL")
    servers = _embedded_versions()
    if database_url or nats_url:
        servers |= asyncio.run(_server_versions(database_url, nats_url))
    libraries = {}
    for name in LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            libraries[name] = importlib.metadata.version(name)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "hostname": platform.node(),
        "nproc": usable or os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mib": _memory_mib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": servers.get("postgresql"),
        "postgresql_source": "BENCH_DATABASE_URL" if database_url else "embedded",
        "nats": servers.get("nats"),
        "nats_source": "BENCH_NATS_URL" if nats_url else "embedded",
        "wrk": _command_output(["wrk", "--version"]) if shutil.which("wrk") else None,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "libraries": libraries,
    }


def git_state() -> dict[str, Any]:
    commit = _command_output(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"])
    status = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain"], capture_output=True, text=True, check=False
    )
    return {"commit": commit, "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


# --------------------------------------------------------------------------------------------------
# running one bench
# --------------------------------------------------------------------------------------------------


def run_one(name: str, path: Path, timeout: float) -> dict[str, Any]:
    """Run `path`'s main() in a fresh interpreter; returns status, seconds and the result or the error."""
    with tempfile.TemporaryDirectory(prefix=f"uplift-bench-{name}-") as scratch:
        result_file = Path(scratch) / "result.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--_child", str(path), str(result_file)]
        started = time.monotonic()
        # Its own session, so a timeout can signal the bench and everything it started in one go; its
        # stdout goes to our stderr, keeping our stdout for the result lines.
        process = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=sys.stderr, stderr=sys.stderr, start_new_session=True)
        status = "ok"
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            status = "timeout"
            returncode = _interrupt(process)
        except KeyboardInterrupt:
            _interrupt(process)
            raise
        seconds = round(time.monotonic() - started, 1)
        record: dict[str, Any] = {"name": name, "path": _shown(path), "seconds": seconds}
        if status == "timeout":
            return record | {"status": "timeout", "error": f"no result within {timeout:.0f} s"}
        if returncode != 0 or not result_file.is_file():
            return record | {"status": "failed", "returncode": returncode, "error": _failure_of(result_file)}
        outcome = json.loads(result_file.read_text())
        if "error" in outcome:
            return record | {"status": "failed", "returncode": returncode, "error": outcome["error"]}
        return record | {"status": status, "result": outcome["result"]}


def _shown(path: Path) -> str:
    """`path` relative to the repository when inside it."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _interrupt(process: subprocess.Popen[bytes]) -> int:
    """SIGINT the bench's process group (its finally blocks stop its servers), then SIGKILL it."""
    for sig, wait in ((signal.SIGINT, GRACE_SECONDS), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            return process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    return process.wait()


def _failure_of(result_file: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return str(json.loads(result_file.read_text()).get("error"))
    return "the bench process died without a result (see its output above)"


def child_main(path: Path, result_file: Path) -> int:
    """Inside the bench's own interpreter: import it, call main(), write {"result": ...} or {"error": ...}."""
    # As if the bench were run as a script: its folder first on sys.path, argv = [script].
    sys.path.insert(0, str(path.parent))
    sys.argv = [str(path)]
    try:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        bench_main = getattr(module, "main", None)
        if not callable(bench_main):
            raise TypeError(f"{path.name} has no main()")
        result = bench_main()
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
        if not isinstance(result, dict):
            raise TypeError(f"{path.name}: main() returned {type(result).__name__}, not a dict")
        result_file.write_text(json.dumps({"result": result}, default=str))
        return 0
    except BaseException as exc:
        import traceback

        traceback.print_exc()
        result_file.write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 130 if isinstance(exc, KeyboardInterrupt) else 1


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


# --------------------------------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = []
        for key, inner in value.items():
            items += _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return items
    if isinstance(value, list):
        return []  # series (latency samples, per-round figures) do not fit a table row
    return [(prefix, value)]


def summary_rows(record: dict[str, Any]) -> list[tuple[str, str]]:
    """What the table shows for one bench: its `summary` mapping when it has one, else its scalar figures."""
    if record["status"] != "ok":
        return [("error", str(record.get("error", ""))[:200])]
    result = record["result"]
    chosen = result.get("summary") if isinstance(result.get("summary"), dict) else result
    rows = [(key, _format(value)) for key, value in _flatten(chosen)]
    if len(rows) > SUMMARY_LINES_PER_BENCH:
        hidden = len(rows) - SUMMARY_LINES_PER_BENCH
        rows = [*rows[:SUMMARY_LINES_PER_BENCH], ("…", f"{hidden} more in the results file")]
    return rows


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_table(records: list[dict[str, Any]]) -> None:
    lines = [("bench", "status", "seconds", "figure", "value")]
    for record in records:
        for i, (key, value) in enumerate(summary_rows(record)):
            first = i == 0
            lines.append(
                (
                    record["name"] if first else "",
                    record["status"] if first else "",
                    f"{record['seconds']:.1f}" if first else "",
                    key,
                    value,
                )
            )
    widths = [max(len(line[col]) for line in lines) for col in range(4)]
    print()
    for i, line in enumerate(lines):
        cells = [line[col].ljust(widths[col]) for col in range(4)]
        print("  ".join([*cells, line[4]]).rstrip())
        if i == 0:
            print("  ".join("-" * width for width in [*widths, 5]))


# --------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--_child"]:
        return child_main(Path(args_in[1]), Path(args_in[2]))
    parser = argparse.ArgumentParser(prog="bench/run.py", description="Run Uplift's benchmarks (bench/bench_*.py).")
    parser.add_argument("names", nargs="*", help="benches to run: a name, a family prefix or a glob (default: all)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("BENCH_TIMEOUT", DEFAULT_TIMEOUT_SECONDS)),
        help=f"seconds per bench before it is stopped (default {DEFAULT_TIMEOUT_SECONDS:.0f}, or BENCH_TIMEOUT)",
    )
    parser.add_argument("--list", action="store_true", help="list the benches and exit")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where to write <timestamp>.json")
    args = parser.parse_args(args_in)

    chosen = select(discover(), args.names)
    if args.list:
        for name, path in chosen.items():
            print(f"{name:<28} {_shown(path)}")
        return 0
    if not chosen:
        print("no benches found in bench/", file=sys.stderr)
        return 1

    started_at = dt.datetime.now(dt.UTC)
    report: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": machine(),
        "git": git_state(),
        "timeout_seconds": args.timeout,
        "benches": {},
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    results_path = args.results_dir / f"{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    print(f"# machine: {json.dumps(report['machine'])}", file=sys.stderr)

    records = []
    try:
        for name, path in chosen.items():
            print(f"# running {name} ({_shown(path)}), limit {args.timeout:.0f} s", file=sys.stderr)
            record = run_one(name, path, args.timeout)
            records.append(record)
            report["benches"][name] = record
            print(json.dumps(record, default=str), flush=True)
            # Written after every bench, so a long run interrupted half-way keeps what it measured.
            _write_report(results_path, report)
    finally:
        report["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        _write_report(results_path, report)
    print_table(records)
    print(f"\nresults: {_shown(results_path)}")
    return 0 if all(record["status"] == "ok" for record in records) else 1


def _write_report(path: Path, report: dict[str, Any]) -> None:
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=2, default=str) + "\n")
    temporary.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
