"""Benchmark of the medical service: the five lines as a pure function, and claims settled through the API.

1. pure — adjudications per second of `adjudicate_claim` (the worked examples of DOMAIN.md §9 in turn, no I/O).
2. http — the medical app (`uplift.medical.main:create_app`, every platform middleware) and a bare FastAPI app
   whose one route only asks for the same `require("medical_operator")` dependency, each under uvicorn
   (1 worker, uvloop, httptools) in a subprocess, loaded by keep-alive raw sockets from this process:
   - bare: `GET /bare` (the baseline, measured before and after; its mean is used);
   - settle: `POST /medical/v1/claims` with a new settlement each request (persons in turn over a few thousand
     insured persons of four kinds; two claim shapes in turn, half of which draw on the supplementary fund),
     at 10 and at 50 connections;
   - read: `GET /medical/v1/claims/{id}` over the settled claims (the hot read of PERFORMANCE.md: a Core select
     prepared once, on the service's own asyncpg pool), 50 connections.
   Each figure is reported with its ratio to the bare endpoint at the same number of connections.

The database is an embedded PostgreSQL in a temp folder (default configuration, durable), or BENCH_DATABASE_URL
(a fresh database is created there when allowed, else the medical schema of the given one is used). The relay and
consumers are off (no NATS needed): every settlement still writes its outbox row in its transaction. The load
generator, PostgreSQL and the server share the machine's cores: compare ratios, not absolute figures.

    uv run python bench/bench_medical.py [--seconds 4] [--persons 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import uvloop
from fastapi import Depends, FastAPI

from uplift.common.auth import AuthConfig, Principal, TokenVerifier, mint_token, require
from uplift.common.embedded import (
    free_tcp_port,
    plain_postgres_url,
    scratch_database,
)
from uplift.medical.domain import Accumulators, ClaimFacts, FundState, PolicyYear, adjudicate_claim
from uplift.medical.domain.policy_year import DEFAULT_POLICY_YEAR_DOCUMENT, Category

HOST = "127.0.0.1"
YEAR = 2026
D = Decimal


@dataclass(frozen=True)
class Config:
    seconds: float
    warmup: float
    persons: int
    adjudications: int


def parse_config(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per HTTP run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before each HTTP run")
    parser.add_argument("--persons", type=int, default=4000, help="insured persons to spread claims over")
    parser.add_argument("--adjudications", type=int, default=20000, help="pure adjudications to time")
    args = parser.parse_args(argv)
    return Config(args.seconds, args.warmup, args.persons, args.adjudications)


# --------------------------------------------------------------------------------------------------
# 1. the pure function
# --------------------------------------------------------------------------------------------------


def measure_pure(count: int) -> dict[str, Any]:
    policy = PolicyYear.defaults()
    funds = FundState(supplementary_remaining=D("3000000.00"), charity_remaining=None)
    cases = [
        (ClaimFacts(2, D("30000.00"), D("26000.00"), Category.DIBAO, True), Accumulators.zero()),
        (ClaimFacts(3, D("10000.00"), D("9000.00"), Category.DIBAO, True), Accumulators.zero()),
        (
            ClaimFacts(3, D("20000.00"), D("18500.00"), Category.DIBAO, True),
            Accumulators(1, D("4920.00"), D("4080.00"), D("0.00"), D("2856.00"), D("500.00")),
        ),
        (ClaimFacts(2, D("30000.00"), D("26000.00"), None, True), Accumulators.zero()),
    ]
    for facts, acc in cases:  # warm-up
        adjudicate_claim(facts, policy, acc, funds)
    cpu_started, started = time.process_time(), time.perf_counter()
    for index in range(count):
        facts, acc = cases[index % len(cases)]
        adjudicate_claim(facts, policy, acc, funds)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "adjudications": count,
        "adjudications_per_s": round(count / elapsed),
        "us_per_adjudication": round(elapsed / count * 1e6, 1),
        "cpu_us_per_adjudication": round(cpu / count * 1e6, 1),
    }


# --------------------------------------------------------------------------------------------------
# servers and data
# --------------------------------------------------------------------------------------------------


def database() -> contextlib.AbstractContextManager[str]:
    """A database URL (asyncpg form): BENCH_DATABASE_URL's server, or an embedded PostgreSQL."""
    return scratch_database("bench_medical")


def migrate(database_url: str) -> None:
    from uplift.common.migrations import upgrade

    upgrade("medical", database_url)


async def seed_persons(database_url: str, persons: int) -> list[uuid.UUID]:
    """Insured persons of four kinds straight into the projection (what the REGISTRY consumer would write):
    dibao, tekun, low_income, and members of a household that exited (no category)."""
    kinds = [("enrolled", "dibao"), ("enrolled", "tekun"), ("enrolled", "low_income"), ("exited", "dibao")]
    households = [(uuid.uuid4(), *kinds[index % len(kinds)]) for index in range(max(1, persons // 10))]
    person_rows = [(uuid.uuid4(), households[index % len(households)][0]) for index in range(persons)]
    since = dt.date(2025, 1, 10)
    conn = await asyncpg.connect(plain_postgres_url(database_url.replace("+asyncpg", "")))
    try:
        await conn.executemany(
            "INSERT INTO medical.households (household_id, status, category, street_code, community_code, seq)"
            " VALUES ($1, $2, $3, '420102001', '420102001001', 1)",
            households,
        )
        await conn.executemany(
            "INSERT INTO medical.household_statuses (household_id, seq, status, category, street_code,"
            " community_code, effective_on, event_type)"
            " VALUES ($1, 1, $2, $3, '420102001', '420102001001', $4, 'registry.household.enrolled.v1')",
            [(household_id, status, category, since) for household_id, status, category in households],
        )
        await conn.executemany(
            "INSERT INTO medical.persons (person_id, household_id, id_hash, medical_insured, active, seq)"
            " VALUES ($1, $2, $3, true, true, 1)",
            [(person_id, household_id, secrets.token_hex(32)) for person_id, household_id in person_rows],
        )
        await conn.executemany(
            "INSERT INTO medical.memberships (person_id, seq, household_id, active, medical_insured, effective_on,"
            " event_type) VALUES ($1, 1, $2, true, true, $3, 'registry.person.added.v1')",
            [(person_id, household_id, since) for person_id, household_id in person_rows],
        )
    finally:
        await conn.close()
    return [person_id for person_id, _ in person_rows]


# --------------------------------------------------------------------------------------------------
# HTTP servers (subprocesses)
# --------------------------------------------------------------------------------------------------


def medical_app(cfg: dict[str, Any]) -> Any:
    from uplift.common.settings import load_settings
    from uplift.medical.main import create_app

    settings = load_settings(
        "medical",
        database_url=cfg["database_url"],
        nats_url="nats://127.0.0.1:9",  # never reached: relay and consumers are off
        relay_enabled=False,
        consumers_enabled=False,
        scheduler_enabled=False,
        log_level="WARNING",
    )
    return create_app(settings)


MedicalOperator = Annotated[Principal, Depends(require("medical_operator"))]


def bare_app(cfg: dict[str, Any]) -> Any:
    """The baseline: one route behind the same authentication and role check, nothing else."""
    app = FastAPI()
    app.state.token_verifier = TokenVerifier(AuthConfig.development())

    @app.get("/bare")
    async def bare(principal: MedicalOperator) -> dict[str, str]:
        return {"status": "ok", "sub": principal.sub}

    return app


def server_worker(cfg: dict[str, Any]) -> None:
    import uvicorn

    app = medical_app(cfg) if cfg["kind"] == "medical" else bare_app(cfg)
    uvicorn.run(
        app,
        host=HOST,
        port=int(cfg["port"]),
        loop="uvloop",
        http="httptools",
        workers=1,
        log_level="warning",
        access_log=False,
    )


@contextlib.contextmanager
def http_server(
    kind: str, database_url: str, ready_path: str, token: str, *, script: str | Path = __file__
) -> Iterator[tuple[int, int]]:
    """(port, pid) of a uvicorn subprocess serving `kind` (`script --worker CFG`), once `ready_path` answers."""
    port = free_tcp_port()
    cfg = {"kind": kind, "port": port, "database_url": database_url}
    process = subprocess.Popen([sys.executable, str(Path(script).resolve()), "--worker", json.dumps(cfg)])
    try:
        deadline = time.monotonic() + 60
        request = urllib.request.Request(
            f"http://{HOST}:{port}{ready_path}", headers={"Authorization": f"Bearer {token}"}
        )
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the {kind} server exited with {process.returncode} while starting")
            try:
                with urllib.request.urlopen(request, timeout=2):  # our own loopback server
                    break
            except urllib.error.HTTPError:
                break  # it answers
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {kind} server did not answer within 60 s")
            time.sleep(0.2)
        yield port, process.pid
    finally:
        for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGKILL, 5.0)):
            if process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(wait)


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# --------------------------------------------------------------------------------------------------
# the load generator: keep-alive raw sockets
# --------------------------------------------------------------------------------------------------


@dataclass
class LoadStats:
    measuring: bool = False
    stopping: bool = False
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)
    keep_bodies: bool = False
    errors: int = 0


class KeepAliveConnection(asyncio.Protocol):
    """One HTTP/1.1 connection that sends the next request as soon as the previous answer is in."""

    def __init__(self, next_request: Callable[[], bytes], stats: LoadStats, closed: asyncio.Future[None]) -> None:
        self.next_request = next_request
        self.stats = stats
        self.closed = closed
        self.buffer = b""
        self.sent_at = 0.0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        if self.stats.stopping:
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.next_request())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if match is None:
                self.stats.errors += 1
                self.transport.close()
                return
            total = head_end + 4 + int(match.group(1))
            if len(self.buffer) < total:
                return
            status = int(head[9:12])
            if self.stats.keep_bodies:
                self.stats.bodies.append(self.buffer[head_end + 4 : total])
            self.buffer = self.buffer[total:]
            if self.stats.measuring:
                self.stats.latencies.append(time.perf_counter() - self.sent_at)
                self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.stats.stopping:
            self.stats.errors += 1
        if not self.closed.done():
            self.closed.set_result(None)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def load(
    port: int,
    next_request: Callable[[], bytes],
    connections: int,
    warmup: float,
    seconds: float,
    pid: int,
    keep_bodies: bool = False,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = LoadStats(keep_bodies=keep_bodies)
    closed: list[asyncio.Future[None]] = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        closed.append(done)
        await loop.create_connection(lambda d=done: KeepAliveConnection(next_request, stats, d), HOST, port)
    await asyncio.sleep(warmup)
    cpu_started = cpu_seconds(pid)
    stats.measuring = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    stats.measuring = False
    elapsed = time.perf_counter() - started
    cpu_ended = cpu_seconds(pid)
    stats.stopping = True
    await asyncio.wait(closed, timeout=10)
    count = len(stats.latencies)
    figures: dict[str, Any] = {
        "connections": connections,
        "requests_per_s": round(count / elapsed),
        "p50_ms": round(percentile(stats.latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(stats.latencies, 0.99) * 1000, 2),
        "requests": count,
        "statuses": {str(status): n for status, n in sorted(stats.statuses.items())},
        "connection_errors": stats.errors,
    }
    if cpu_started is not None and cpu_ended is not None and count:
        figures["server_cpu_us_per_request"] = round((cpu_ended - cpu_started) / count * 1e6, 1)
    if keep_bodies:
        figures["_bodies"] = stats.bodies
    return figures


def get_request(path: str, token: str, port: int) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()


class ClaimBodies:
    """A new settlement for each request: persons in turn, case 1 and case 2a of DOMAIN.md in turn."""

    SHAPES = (
        (2, "30000.00", "26000.00"),  # draws nothing from the supplementary fund
        (3, "10000.00", "9000.00"),  # dibao/tekun: 324.00 from the supplementary fund
    )

    def __init__(self, persons: list[uuid.UUID], token: str, port: int) -> None:
        self.persons = persons
        self.counter = 0
        self.run = secrets.token_hex(3)
        self.head = (
            f"POST /medical/v1/claims HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
        )

    def __call__(self) -> bytes:
        self.counter += 1
        level, total, in_policy = self.SHAPES[self.counter % 2]
        body = json.dumps(
            {
                "person_id": str(self.persons[self.counter % len(self.persons)]),
                "hospital_code": "H-bench",
                "settlement_no": f"S-{self.run}-{self.counter}",
                "hospital_level": level,
                "admitted_on": f"{YEAR}-03-01",
                "discharged_on": f"{YEAR}-03-10",
                "total": total,
                "in_policy": in_policy,
            }
        ).encode()
        return self.head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def put_policy_year(port: int, token: str) -> None:
    document = json.loads(json.dumps(DEFAULT_POLICY_YEAR_DOCUMENT))
    document["supplementary"]["budget"] = "100000000.00"  # ample: the bench measures throughput, not shortage
    request = urllib.request.Request(
        f"http://{HOST}:{port}/medical/v1/policy-years/{YEAR}",
        data=json.dumps(document).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # our own loopback server
        if response.status not in (200, 201):
            raise RuntimeError(f"PUT policy year answered {response.status}")


def ratio(value: dict[str, Any], baseline: float) -> float:
    return round(value["requests_per_s"] / baseline, 3) if baseline else float("nan")


def measure_http(config: Config) -> dict[str, Any]:
    operator = mint_token("medical_operator")
    admin = mint_token("district_admin")
    with database() as database_url:
        migrate(database_url)
        persons = asyncio.run(seed_persons(database_url, config.persons))
        runs: dict[str, dict[str, Any]] = {}
        with http_server("bare", database_url, "/bare", operator) as (port, pid):
            request = get_request("/bare", operator, port)
            for connections in (10, 50):
                runs[f"bare_{connections}_before"] = uvloop.run(
                    load(port, lambda: request, connections, config.warmup, config.seconds, pid)
                )
        with http_server("medical", database_url, "/medical/healthz", operator) as (port, pid):
            put_policy_year(port, admin)
            bodies = ClaimBodies(persons, operator, port)
            for connections in (10, 50):
                result = uvloop.run(
                    load(port, bodies, connections, config.warmup, config.seconds, pid, keep_bodies=True)
                )
                answers = result.pop("_bodies")
                runs[f"settle_{connections}"] = result
            claim_ids = [json.loads(body)["id"] for body in answers if body.startswith(b'{"')][:2000]
            reads = [get_request(f"/medical/v1/claims/{claim_id}", operator, port) for claim_id in claim_ids]
            turn = iter(range(10**12))
            runs["read_50"] = uvloop.run(
                load(port, lambda: reads[next(turn) % len(reads)], 50, config.warmup, config.seconds, pid)
            )
        with http_server("bare", database_url, "/bare", operator) as (port, pid):
            request = get_request("/bare", operator, port)
            for connections in (10, 50):
                runs[f"bare_{connections}_after"] = uvloop.run(
                    load(port, lambda: request, connections, config.warmup, config.seconds, pid)
                )
    bare = {
        connections: statistics.fmean(
            [runs[f"bare_{connections}_before"]["requests_per_s"], runs[f"bare_{connections}_after"]["requests_per_s"]]
        )
        for connections in (10, 50)
    }
    return {
        "load_generator": "python keep-alive sockets (uvloop), in the bench process",
        "seconds_per_run": config.seconds,
        "insured_persons": config.persons,
        "bare_requests_per_s": {str(c): round(v) for c, v in bare.items()},
        "settled_claims_per_s": {"10": runs["settle_10"]["requests_per_s"], "50": runs["settle_50"]["requests_per_s"]},
        "settle_ratio_to_bare": {"10": ratio(runs["settle_10"], bare[10]), "50": ratio(runs["settle_50"], bare[50])},
        "settle_p99_ms": {"10": runs["settle_10"]["p99_ms"], "50": runs["settle_50"]["p99_ms"]},
        "read_claim_per_s": runs["read_50"]["requests_per_s"],
        "read_ratio_to_bare": ratio(runs["read_50"], bare[50]),
        "runs": runs,
    }


def main() -> dict[str, Any]:
    config = parse_config(sys.argv[1:])
    result = {"pure": measure_pure(config.adjudications), "http": measure_http(config)}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        server_worker(json.loads(sys.argv[2]))
    else:
        main()
