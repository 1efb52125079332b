"""The platform's own ceilings (libs/common), each as a ratio against a baseline measured in the same run.

1. drain — events per second through outbox → `OutboxRelay` → JetStream → `EventConsumer`, draining a backlog
   written beforehand by units of work in batches, against raw JetStream `publish_async` + pull consume
   (fetch 256, ack each) of as many messages of the same size. Relay and consumer run in this process, as do the
   raw publisher and puller; the raw drain is measured before and after the outbox drain, and its mean is the
   baseline.
2. latency — commit → consumer commit at a steady offered load (500 events/s, then a lighter 100 events/s, each
   for 10 s after a 1 s warm-up): a producing-service process commits one event per transaction on a fixed
   schedule (open loop) and runs the relay; a consuming-service process runs the consumer, whose handler writes
   the receive time inside its transaction. Both read CLOCK_MONOTONIC (one clock for the whole machine);
   latencies are computed afterwards. When the producer's commits fall behind the offered rate, or the consumer
   goes on long after the last commit, the figures measure a growing queue: the result says so.
3. http — a trivial authenticated GET on an app made by `create_service_app` (all the platform's middleware,
   `require("district_admin")`) against a bare FastAPI app with the same route, each under uvicorn (1 worker,
   uvloop, httptools) in a subprocess, loaded by `wrk -t1 -c50 -d10s` when wrk is installed, else by a
   keep-alive raw-socket load generator in this process (50 connections, 10 s). Bare before and after.

Servers: the embedded PostgreSQL and NATS of `make run` on free ports in a temp folder, or BENCH_DATABASE_URL /
BENCH_NATS_URL (a fresh database is created there when allowed; schemas and streams are removed afterwards).
Everything shares the machine's cores with the servers (and, on a shared machine, with whatever else runs):
compare the ratios, not the absolute figures, across machines.

    uv run python bench/bench_platform.py [--only drain,latency,http] [--events 20000] [--rate 500]
        [--low-rate 100] [--latency-seconds 10] [--http-seconds 10] [--connections 50]
    (or BENCH_PLATFORM_ONLY, _EVENTS, _RATE, _LOW_RATE, _LATENCY_SECONDS, _HTTP_SECONDS, _CONNECTIONS)
    uv run python bench/run.py platform
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import asyncpg
import nats
import sqlalchemy as sa
import uvloop
from fastapi import APIRouter, Depends, FastAPI
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from uplift.common.app import ServiceDefinition, create_service_app
from uplift.common.auth import Principal, mint_token, require
from uplift.common.consumer import ConsumerSpec, EventConsumer
from uplift.common.db import PlatformTables, asyncpg_url, create_engine, service_metadata, session_factory
from uplift.common.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    drop_database,
    ensure_database,
    free_tcp_port,
    plain_postgres_url,
)
from uplift.common.envelope import Envelope
from uplift.common.nats_link import NatsLink, ensure_stream
from uplift.common.observability import configure_logging
from uplift.common.relay import OutboxRelay
from uplift.common.settings import ServiceSettings, load_settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_medical import KeepAliveConnection, LoadStats  # the same keep-alive load client

from uplift.common.testkit import create_platform_schema
from uplift.common.unit_of_work import UnitOfWork

T = TypeVar("T")
HOST = "127.0.0.1"
# The platform's configured batch sizes and poll interval, so the bench follows the defaults a service runs.
PLATFORM: ServiceSettings = load_settings("bench")
AIM_DRAIN_RATIO = 0.5
AIM_LATENCY_P99_MS = 20.0
HTTP_PATH_SUFFIX = "/v1/ping"
READY = b"bench-worker-ready"
# Module level: the route's annotations are strings (postponed evaluation) that FastAPI resolves here.
DistrictAdmin = Annotated[Principal, Depends(require("district_admin"))]


@dataclass(frozen=True)
class Config:
    only: tuple[str, ...] = ("drain", "latency", "http")
    events: int = 20_000
    write_batch: int = 500
    rate: float = 500.0
    low_rate: float = 100.0
    latency_seconds: float = 10.0
    latency_warmup_seconds: float = 1.0
    http_seconds: float = 10.0
    http_warmup_seconds: float = 2.0
    http_connections: int = 50


def parse_config(argv: list[str] | None = None) -> Config:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="bench_platform.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=env("BENCH_PLATFORM_ONLY", "drain,latency,http"))
    parser.add_argument("--events", type=int, default=int(env("BENCH_PLATFORM_EVENTS", "20000")))
    parser.add_argument("--rate", type=float, default=float(env("BENCH_PLATFORM_RATE", "500")))
    parser.add_argument(
        "--low-rate",
        type=float,
        default=float(env("BENCH_PLATFORM_LOW_RATE", "100")),
        help="a second, lighter offered load for the latency figures (0: skip)",
    )
    parser.add_argument("--latency-seconds", type=float, default=float(env("BENCH_PLATFORM_LATENCY_SECONDS", "10")))
    parser.add_argument("--http-seconds", type=float, default=float(env("BENCH_PLATFORM_HTTP_SECONDS", "10")))
    parser.add_argument("--connections", type=int, default=int(env("BENCH_PLATFORM_CONNECTIONS", "50")))
    args = parser.parse_args(argv)
    only = tuple(part.strip() for part in args.only.split(",") if part.strip())
    unknown = set(only) - {"drain", "latency", "http"}
    if unknown:
        parser.error(f"--only: unknown parts {sorted(unknown)}")
    return Config(
        only=only,
        events=args.events,
        rate=args.rate,
        low_rate=args.low_rate,
        latency_seconds=args.latency_seconds,
        http_seconds=args.http_seconds,
        http_connections=args.connections,
    )


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop, the loop uvicorn gives the services."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def unique_name(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(5)}"


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def distribution_ms(seconds: list[float]) -> dict[str, float]:
    values = sorted(seconds)
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1000, 2),
        "p90_ms": round(percentile(values, 0.90) * 1000, 2),
        "p99_ms": round(percentile(values, 0.99) * 1000, 2),
        "max_ms": round(values[-1] * 1000, 2) if values else float("nan"),
        "mean_ms": round(statistics.fmean(values) * 1000, 2) if values else float("nan"),
    }


def household_payload() -> dict[str, Any]:
    """A payload shaped like a household event (EVENTS.md): a snapshot carrying its `seq`, ids and codes."""
    household_id = str(uuid.uuid4())
    return {
        "seq": 0,
        "household": {
            "id": household_id,
            "seq": 0,
            "org_code": "420102001007",
            "status": "enrolled",
            "category": "dibao",
            "size": 3,
            "monthly_income": "1234.50",
            "cadre_id": str(uuid.uuid4()),
            "enrolled_on": "2026-03-02",
            "flags": ["elderly", "chronic_illness"],
        },
    }


def _load_average() -> list[float]:
    """1/5/15-minute load averages: how busy the (shared) machine was around each part."""
    return [round(value, 2) for value in os.getloadavg()]


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (Linux), for CPU cost per request of a server we started."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# --------------------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------------------


@dataclass
class Servers:
    database_url: str  # SQLAlchemy asyncpg URL of the bench's database
    nats_url: str
    postgres_source: str
    nats_source: str
    schemas: list[str] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        return plain_postgres_url(self.database_url)

    async def new_schema(self, prefix: str) -> tuple[str, PlatformTables]:
        name = unique_name(prefix)
        platform = await create_platform_schema(self.database_url, name)
        self.schemas.append(name)
        return name, platform


@contextlib.contextmanager
def bench_servers() -> Iterator[Servers]:
    """PostgreSQL and NATS for this bench: BENCH_DATABASE_URL / BENCH_NATS_URL, else embedded ones."""
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="uplift-bench-platform-")))
        server_url = os.environ.get("BENCH_DATABASE_URL")
        postgres_source = "BENCH_DATABASE_URL"
        if not server_url:
            postgres = EmbeddedPostgres(scratch / "pg", free_tcp_port(), stop_with_parent=True)
            stack.callback(postgres.destroy)
            postgres.start()
            server_url, postgres_source = postgres.url, "embedded"
        nats_url = os.environ.get("BENCH_NATS_URL")
        nats_source = "BENCH_NATS_URL"
        if not nats_url:
            nats_server = EmbeddedNats(scratch / "nats", free_tcp_port(), stop_with_parent=True)
            stack.callback(nats_server.destroy)
            nats_server.start()
            nats_url, nats_source = nats_server.url, "embedded"
        database = f"uplift_bench_{secrets.token_hex(4)}"
        try:
            database_url = run_async(ensure_database(server_url, database))
            stack.callback(lambda: run_async(drop_database(server_url, database)))
        except asyncpg.InsufficientPrivilegeError:
            database_url = server_url  # a shared server: our schemas are dropped below
        servers = Servers(asyncpg_url(database_url), nats_url, postgres_source, nats_source)
        stack.callback(lambda: run_async(_remove_leftovers(servers)))
        yield servers


async def _remove_leftovers(servers: Servers) -> None:
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(servers.dsn)
        try:
            for schema in servers.schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
    with contextlib.suppress(Exception):
        nc = await nats.connect(servers.nats_url, allow_reconnect=False)
        try:
            for stream in servers.streams:
                with contextlib.suppress(Exception):
                    await nc.jetstream().delete_stream(stream)
        finally:
            await nc.close()


async def connected_link(url: str, name: str) -> NatsLink:
    link = NatsLink(url, name=name)
    link.start()
    if not await link.wait_connected(15):
        raise RuntimeError(f"NATS at {url} did not answer")
    return link


async def wait_for_durable(link: NatsLink, stream: str, durable: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await link.js.consumer_info(stream, durable)
            return
        except NotFoundError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"consumer {durable} on {stream} did not appear") from None
            await asyncio.sleep(0.05)


# --------------------------------------------------------------------------------------------------
# 1. drain: outbox → relay → JetStream → consumer, against raw publish + pull
# --------------------------------------------------------------------------------------------------


class CommitTracker:
    """Counts events the consumer's transactions committed (the handler runs before the commit)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.pending: set[uuid.UUID] = set()
        self.committed: set[uuid.UUID] = set()
        self.batches = 0
        self.done = asyncio.Event()

    async def handle(self, uow: UnitOfWork, event: Envelope) -> None:
        self.pending.add(event.id)

    def on_committed(self) -> None:
        self.batches += 1
        self.committed |= self.pending
        self.pending.clear()
        if len(self.committed) >= self.expected:
            self.done.set()


async def write_backlog(servers: Servers, events: int, batch: int) -> dict[str, Any]:
    """A producing service's schema with `events` unpublished outbox rows, written by units of work."""
    producer, platform = await servers.new_schema("bp")
    event_type = f"{producer}.household.enrolled.v1"
    engine = create_engine(servers.database_url, pool_size=2)
    sessions = session_factory(engine)
    started = time.perf_counter()
    try:
        for first in range(0, events, batch):
            async with UnitOfWork(sessions, platform=platform, source=f"uplift/{producer}") as uow:
                for _ in range(min(batch, events - first)):
                    payload = household_payload()
                    uow.emit(event_type, subject=payload["household"]["id"], data=payload)
                await uow.commit()
        seconds = time.perf_counter() - started
        async with engine.connect() as conn:
            size = (
                await conn.execute(sa.text(f'SELECT avg(octet_length(envelope::text)) FROM "{producer}".outbox'))
            ).scalar_one()
    finally:
        await engine.dispose()
    return {
        "producer": producer,
        "event_type": event_type,
        "envelope_bytes": round(float(size)),
        "write_seconds": round(seconds, 2),
        "write_events_per_s": round(events / seconds),
    }


async def outbox_drain(servers: Servers, config: Config) -> dict[str, Any]:
    backlog = await write_backlog(servers, config.events, config.write_batch)
    producer = backlog["producer"]
    stream = producer.upper()
    servers.streams.append(stream)
    consumer_service, consumer_platform = await servers.new_schema("bc")
    engine = create_engine(servers.database_url, pool_size=PLATFORM.db_pool_size)
    producer_link = await connected_link(servers.nats_url, producer)
    consumer_link = await connected_link(servers.nats_url, consumer_service)
    tracker = CommitTracker(config.events)
    consumer = EventConsumer(
        service=consumer_service,
        spec=ConsumerSpec(stream=stream, handlers={backlog["event_type"]: tracker.handle}),
        sessions=session_factory(engine),
        platform=consumer_platform,
        nats=consumer_link,
        batch_size=PLATFORM.consumer_batch_size,
        on_committed=tracker.on_committed,
    )
    relay = OutboxRelay(
        service=producer,
        schema=producer,
        dsn=servers.dsn,
        nats=producer_link,
        batch_size=PLATFORM.relay_batch_size,
        poll_interval=PLATFORM.relay_poll_interval_seconds,
    )
    try:
        consumer.start()
        await wait_for_durable(producer_link, stream, consumer.name)
        cpu_started = time.process_time()
        started = time.perf_counter()
        relay.start()
        relay_finished = asyncio.create_task(_when(lambda: relay.published_count >= config.events))
        await asyncio.wait_for(tracker.done.wait(), timeout=max(300.0, config.events / 20))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        relay_seconds = (await relay_finished) - started
    finally:
        await consumer.stop()
        await relay.stop()
        await producer_link.close()
        await consumer_link.close()
        await engine.dispose()
    return {
        **backlog,
        "events": config.events,
        "seconds": round(seconds, 3),
        "events_per_s": round(config.events / seconds),
        "relay_published_in_s": round(relay_seconds, 3),
        "relay_events_per_s": round(config.events / relay_seconds),
        "consumer_batches": tracker.batches,
        "cpu_seconds_this_process": round(cpu, 2),
        "cpu_us_per_event": round(cpu / config.events * 1e6, 1),
    }


async def _when(condition: Callable[[], bool], interval: float = 0.005) -> float:
    """Poll `condition` (the relay offers no event to wait on); returns the perf_counter when it held."""
    while True:
        if condition():
            return time.perf_counter()
        await asyncio.sleep(interval)


async def raw_drain(servers: Servers, events: int, size: int) -> dict[str, Any]:
    """The ceiling: publish_async `events` messages of `size` bytes while a pull consumer fetches and acks."""
    stream = unique_name("RAW").upper()
    servers.streams.append(stream)
    subject = f"{stream.lower()}.data"
    publisher = await nats.connect(servers.nats_url)
    puller = await nats.connect(servers.nats_url)
    try:
        js_publish, js_pull = publisher.jetstream(), puller.jetstream()
        await ensure_stream(js_publish, stream)  # the platform's stream settings
        subscription = await js_pull.pull_subscribe(
            f"{stream.lower()}.>",
            durable="raw",
            stream=stream,
            config=ConsumerConfig(
                durable_name="raw",
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                max_ack_pending=max(PLATFORM.consumer_batch_size * 4, 1000),
            ),
        )
        body = (b'{"padding":"' + b"x" * size)[:size]
        published_at: list[float] = []

        async def publish_all() -> None:
            acks = [await js_publish.publish_async(subject, body) for _ in range(events)]
            await asyncio.gather(*acks)
            published_at.append(time.perf_counter())

        async def pull_all() -> None:
            received = 0
            while received < events:
                try:
                    # Never more than what is left, so the last fetch does not wait for its deadline.
                    msgs = await subscription.fetch(min(PLATFORM.consumer_batch_size, events - received), timeout=1.0)
                except TimeoutError:
                    continue
                for msg in msgs:
                    await msg.ack()
                received += len(msgs)

        cpu_started = time.process_time()
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(publish_all(), pull_all()), timeout=120)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        await publisher.close()
        await puller.close()
    return {
        "events": events,
        "message_bytes": size,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds),
        "published_in_s": round(published_at[0] - started, 3),
        "publish_events_per_s": round(events / (published_at[0] - started)),
        "cpu_us_per_event": round(cpu / events * 1e6, 1),
    }


def measure_drain(servers: Servers, config: Config) -> dict[str, Any]:
    # The envelope size is known only once the backlog exists; a first raw drain at a typical size keeps the
    # bracket (raw, outbox, raw), then both raw runs use the measured size.
    probe = run_async(write_backlog(servers, 50, 50))
    size = probe["envelope_bytes"]
    raw_before = run_async(raw_drain(servers, config.events, size))
    outbox = run_async(outbox_drain(servers, config))
    raw_after = run_async(raw_drain(servers, config.events, outbox["envelope_bytes"]))
    baseline = statistics.fmean([raw_before["events_per_s"], raw_after["events_per_s"]])
    ratio = outbox["events_per_s"] / baseline
    return {
        "outbox": outbox,
        "raw_before": raw_before,
        "raw_after": raw_after,
        "raw_events_per_s": round(baseline),
        "ratio": round(ratio, 3),
        "aim": f">= {AIM_DRAIN_RATIO}",
        "meets_aim": ratio >= AIM_DRAIN_RATIO,
    }


# --------------------------------------------------------------------------------------------------
# 2. latency: commit → consumer commit at a steady offered load (two worker processes)
# --------------------------------------------------------------------------------------------------


async def latency_consumer_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """The consuming service: consumer + a handler writing the receive time; stops on `stop <n>` on stdin."""
    schema, stream, event_type = cfg["schema"], cfg["stream"], cfg["event_type"]
    platform = service_metadata(schema)[1]
    engine = create_engine(cfg["database_url"], pool_size=PLATFORM.db_pool_size)
    link = await connected_link(cfg["nats_url"], schema)
    received: dict[uuid.UUID, float] = {}
    pending: list[uuid.UUID] = []
    committed: dict[uuid.UUID, float] = {}

    async def handle(uow: UnitOfWork, event: Envelope) -> None:
        now = time.monotonic()
        await uow.session.execute(
            sa.text(f'INSERT INTO "{schema}".latency_probe (event_id, received_at) VALUES (:id, :at)'),
            {"id": event.id, "at": now},
        )
        received[event.id] = now
        pending.append(event.id)

    def on_committed() -> None:
        now = time.monotonic()
        for event_id in pending:
            committed.setdefault(event_id, now)
        pending.clear()

    consumer = EventConsumer(
        service=schema,
        spec=ConsumerSpec(stream=stream, handlers={event_type: handle}),
        sessions=session_factory(engine),
        platform=platform,
        nats=link,
        batch_size=PLATFORM.consumer_batch_size,
        on_committed=on_committed,
    )
    cpu_started = time.process_time()
    consumer.start()
    await wait_for_durable(link, stream, consumer.name)
    print(READY.decode(), flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    expected = int(line.split()[1]) if line.startswith("stop") else 0
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_when(lambda: len(committed) >= expected, 0.05), timeout=120)
    cpu = time.process_time() - cpu_started
    await consumer.stop()
    await link.close()
    await engine.dispose()
    return {"events": {str(k): [received[k], v] for k, v in committed.items()}, "cpu_seconds": cpu}


async def latency_producer_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """The producing service: one event per transaction on a fixed schedule (open loop), and its relay."""
    schema, event_type = cfg["schema"], cfg["event_type"]
    platform = service_metadata(schema)[1]
    engine = create_engine(cfg["database_url"], pool_size=PLATFORM.db_pool_size)
    sessions = session_factory(engine)
    link = await connected_link(cfg["nats_url"], schema)
    relay = OutboxRelay(
        service=schema,
        schema=schema,
        dsn=plain_postgres_url(cfg["database_url"]),
        nats=link,
        batch_size=PLATFORM.relay_batch_size,
        poll_interval=PLATFORM.relay_poll_interval_seconds,
    )
    relay.start()
    await _when(lambda: relay.active)
    rate, warmup, seconds = float(cfg["rate"]), float(cfg["warmup"]), float(cfg["seconds"])
    records: list[list[Any]] = []

    # Bounded by the pool, so a saturated machine queues events here instead of timing out on a checkout.
    slots = asyncio.Semaphore(PLATFORM.db_pool_size + PLATFORM.db_max_overflow)

    async def produce_one(due: float, warming_up: bool) -> None:
        async with slots, UnitOfWork(sessions, platform=platform, source=f"uplift/{schema}") as uow:
            payload = household_payload()
            payload["due_at"] = due
            event = uow.emit(event_type, subject=payload["household"]["id"], data=payload)
            await uow.commit()
        records.append([str(event.event_id), due, time.monotonic(), warming_up])

    # Open loop, like requests arriving at a service: each event's transaction starts on its schedule whether
    # or not earlier ones have committed (a closed loop would hide a slow commit by offering less load).
    cpu_started = time.process_time()
    start = time.monotonic() + 0.1
    end = start + warmup + seconds
    in_flight: set[asyncio.Task[None]] = set()
    n = 0
    while True:
        due = start + n / rate
        if due >= end:
            break
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(produce_one(due, due < start + warmup))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        n += 1
    if in_flight:
        await asyncio.gather(*in_flight)
    produced_in = time.monotonic() - start
    await asyncio.wait_for(_when(lambda: relay.published_count >= len(records)), timeout=30)
    cpu = time.process_time() - cpu_started
    await relay.stop()
    await link.close()
    await engine.dispose()
    return {"events": records, "cpu_seconds": cpu, "produced_in_s": produced_in}


def measure_latency(servers: Servers, config: Config, scratch: Path, rate: float) -> dict[str, Any]:
    producer, _ = run_async(servers.new_schema("lp"))
    consumer, _ = run_async(servers.new_schema("lc"))
    run_async(_create_probe_table(servers, consumer))
    stream = producer.upper()
    servers.streams.append(stream)
    event_type = f"{producer}.household.enrolled.v1"
    common: dict[str, Any] = {
        "database_url": servers.database_url,
        "nats_url": servers.nats_url,
        "event_type": event_type,
    }
    consumer_cfg: dict[str, Any] = {
        **common,
        "schema": consumer,
        "stream": stream,
        "result_file": str(scratch / "consumer.json"),
    }
    producer_cfg: dict[str, Any] = {
        **common,
        "schema": producer,
        "rate": rate,
        "warmup": config.latency_warmup_seconds,
        "seconds": config.latency_seconds,
        "result_file": str(scratch / "producer.json"),
    }
    consumer_process = _spawn_worker("latency-consumer", consumer_cfg, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert consumer_process.stdout is not None and consumer_process.stdin is not None
        for line in iter(consumer_process.stdout.readline, b""):
            if line.strip() == READY:
                break
        else:
            raise RuntimeError("the latency consumer exited before it was ready (see its output above)")
        producer_process = _spawn_worker("latency-producer", producer_cfg)
        # A saturated machine commits far below the offered rate: leave room for the queue to drain.
        timeout = 300 + 2 * (config.latency_warmup_seconds + config.latency_seconds)
        if producer_process.wait(timeout) != 0:
            raise RuntimeError("the latency producer failed (see its output above)")
        produced = json.loads(Path(producer_cfg["result_file"]).read_text())
        consumer_process.stdin.write(f"stop {len(produced['events'])}\n".encode())
        consumer_process.stdin.flush()
        if consumer_process.wait(150) != 0:
            raise RuntimeError("the latency consumer failed (see its output above)")
    finally:
        _stop(consumer_process)
    consumed = json.loads(Path(consumer_cfg["result_file"]).read_text())
    return latency_figures(produced, consumed, rate)


async def _create_probe_table(servers: Servers, schema: str) -> None:
    conn = await asyncpg.connect(servers.dsn)
    try:
        await conn.execute(
            f'CREATE TABLE "{schema}".latency_probe (event_id uuid PRIMARY KEY, received_at double precision NOT NULL)'
        )
    finally:
        await conn.close()


def latency_figures(produced: dict[str, Any], consumed: dict[str, Any], rate: float) -> dict[str, Any]:
    to_commit, to_handler, producer_commit, missing = [], [], [], 0
    measured = [row for row in produced["events"] if not row[3]]
    for event_id, due, committed_at, _warming_up in measured:
        producer_commit.append(committed_at - due)
        seen = consumed["events"].get(event_id)
        if seen is None:
            missing += 1
            continue
        received_at, consumer_committed_at = seen
        to_handler.append(received_at - committed_at)
        to_commit.append(consumer_committed_at - committed_at)
    # The rate the producer's commits actually achieved (below the offered one when commits queue up).
    commits = sorted(row[2] for row in measured)
    span = commits[-1] - commits[0] if len(commits) > 1 else float("nan")
    commit_figures = distribution_ms(to_commit)
    return {
        "offered_events_per_s": rate,
        "committed_events_per_s": round((len(measured) - 1) / span, 1),
        "production_took_s": round(produced["produced_in_s"], 2),
        "measured_events": len(measured),
        "warmup_events": len(produced["events"]) - len(measured),
        "missing_at_consumer": missing,
        "commit_to_consumer_commit": commit_figures,
        "commit_to_handler": distribution_ms(to_handler),
        "producer_due_to_commit": distribution_ms(producer_commit),
        "producer_cpu_us_per_event": round(produced["cpu_seconds"] / len(produced["events"]) * 1e6),
        "consumer_cpu_us_per_event": round(consumed["cpu_seconds"] / max(1, len(consumed["events"])) * 1e6),
        # Commits below the offered rate mean queues grew: the figures then measure the backlog, not the path.
        "producer_saturated": len(measured) > 1 and (len(measured) - 1) / span < 0.95 * rate,
        # How long the consumer went on after the producer's last commit: near zero unless it fell behind.
        "consumer_finished_after_last_commit_ms": round(
            (max(seen[1] for seen in consumed["events"].values()) - max(row[2] for row in produced["events"])) * 1000
        )
        if consumed["events"] and produced["events"]
        else None,
        "aim_p99_ms": AIM_LATENCY_P99_MS,
        "meets_aim": missing == 0 and commit_figures["p99_ms"] <= AIM_LATENCY_P99_MS,
    }


# --------------------------------------------------------------------------------------------------
# 3. http: authenticated GET on a service app against a bare FastAPI app
# --------------------------------------------------------------------------------------------------


def service_app(cfg: dict[str, Any]) -> Any:
    router = APIRouter()

    @router.get("/ping")
    async def ping(principal: DistrictAdmin) -> dict[str, str]:
        return {"status": "ok", "sub": principal.sub}

    schema = cfg["schema"]
    definition = ServiceDefinition(
        name=schema, title="bench", description="bench", routers=[router], platform=service_metadata(schema)[1]
    )
    settings = load_settings(
        schema,
        database_url=cfg["database_url"],
        nats_url=cfg["nats_url"],
        scheduler_enabled=False,
        log_level="WARNING",
    )
    return create_service_app(definition, settings)


def bare_app(cfg: dict[str, Any]) -> Any:
    app = FastAPI()

    @app.get(f"/{cfg['schema']}{HTTP_PATH_SUFFIX}")
    async def ping() -> dict[str, str]:
        return {"status": "ok", "sub": "anonymous"}

    return app


def http_server_worker(cfg: dict[str, Any]) -> None:
    import uvicorn

    app = service_app(cfg) if cfg["kind"] == "service" else bare_app(cfg)
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


async def python_load(
    port: int, path: str, tokens: list[str], warmup: float, seconds: float, server_cpu: Callable[[], float | None]
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = LoadStats()
    closed: list[asyncio.Future[None]] = []
    for token in tokens:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: application/json\r\n\r\n"
        ).encode()
        done: asyncio.Future[None] = loop.create_future()
        closed.append(done)
        await loop.create_connection(
            functools.partial(KeepAliveConnection, lambda request=request: request, stats, done), HOST, port
        )
    await asyncio.sleep(warmup)
    cpu_started = server_cpu()
    stats.measuring = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    stats.measuring = False
    elapsed = time.perf_counter() - started
    cpu_ended = server_cpu()
    stats.stopping = True
    await asyncio.wait(closed, timeout=5)
    figures = distribution_ms(stats.latencies)
    return {
        "requests_per_s": round(len(stats.latencies) / elapsed),
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "max_ms": figures["max_ms"],
        "requests": len(stats.latencies),
        "statuses": {str(k): v for k, v in stats.statuses.items()},
        "connection_errors": stats.errors,
        "server_cpu_seconds": None if cpu_started is None or cpu_ended is None else cpu_ended - cpu_started,
    }


def wrk_load(wrk: str, port: int, path: str, token: str, connections: int, seconds: float) -> dict[str, Any]:
    argv = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{round(seconds)}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
        f"http://{HOST}:{port}{path}",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return parse_wrk(done.stdout)


def parse_wrk(text: str) -> dict[str, Any]:
    """Requests/s and the 50th/99th percentiles from `wrk --latency` output."""

    def latency_ms(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
        if match is None:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return round(float(match.group(1)) * scale, 2)

    rps = re.search(r"Requests/sec:\s*([\d.]+)", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    return {
        "requests_per_s": round(float(rps.group(1))) if rps else 0,
        "p50_ms": latency_ms("50"),
        "p99_ms": latency_ms("99"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "wrk_output": text.strip().splitlines(),
    }


def _wait_http_ready(port: int, path: str, token: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the HTTP server exited with {process.returncode} while starting")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # our own loopback server
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the HTTP server on port {port} did not answer {path} within {timeout:.0f} s")
        time.sleep(0.2)


def run_http_variant(kind: str, servers: Servers, schema: str, config: Config) -> dict[str, Any]:
    port = free_tcp_port()
    path = f"/{schema}{HTTP_PATH_SUFFIX}"
    tokens = [mint_token("district_admin") for _ in range(config.http_connections)]
    cfg = {
        "kind": kind,
        "port": port,
        "schema": schema,
        "database_url": servers.database_url,
        "nats_url": servers.nats_url,
    }
    process = _spawn_worker("http-server", cfg)
    try:
        _wait_http_ready(port, path, tokens[0], process)
        wrk = shutil.which("wrk")
        if wrk:
            # wrk has no warm-up: a short run first.
            wrk_load(wrk, port, path, tokens[0], config.http_connections, config.http_warmup_seconds)
            cpu_started = process_cpu_seconds(process.pid)
            figures = wrk_load(wrk, port, path, tokens[0], config.http_connections, config.http_seconds)
            cpu_ended = process_cpu_seconds(process.pid)
            cpu = None if cpu_started is None or cpu_ended is None else cpu_ended - cpu_started
            requests = figures["requests_per_s"] * config.http_seconds
        else:
            figures = run_async(
                python_load(
                    port,
                    path,
                    tokens,
                    config.http_warmup_seconds,
                    config.http_seconds,
                    lambda: process_cpu_seconds(process.pid),
                )
            )
            cpu, requests = figures.pop("server_cpu_seconds"), figures["requests"]
        if cpu is not None and requests:
            figures["server_cpu_us_per_request"] = round(cpu / requests * 1e6, 1)
    finally:
        _stop(process)
    return {"kind": kind, **figures}


def measure_http(servers: Servers, config: Config) -> dict[str, Any]:
    schema, _ = run_async(servers.new_schema("hs"))
    runs = [run_http_variant(kind, servers, schema, config) for kind in ("bare", "service", "bare")]
    bare_rps = statistics.fmean([runs[0]["requests_per_s"], runs[2]["requests_per_s"]])
    service = runs[1]
    bare_cpus = [run["server_cpu_us_per_request"] for run in (runs[0], runs[2]) if "server_cpu_us_per_request" in run]
    bare_cpu = round(statistics.fmean(bare_cpus), 1) if bare_cpus else None
    service_cpu = service.get("server_cpu_us_per_request")
    return {
        "load_generator": "wrk -t1" if shutil.which("wrk") else "python keep-alive sockets (uvloop)",
        "connections": config.http_connections,
        "seconds": config.http_seconds,
        "bare_requests_per_s": round(bare_rps),
        "service_requests_per_s": service["requests_per_s"],
        "ratio": round(service["requests_per_s"] / bare_rps, 3),
        "bare_server_cpu_us_per_request": bare_cpu,
        "service_server_cpu_us_per_request": service_cpu,
        # Server CPU per request moves less than requests/s when other processes share the cores.
        "cpu_ratio": round(bare_cpu / service_cpu, 3) if bare_cpu and service_cpu else None,
        "bare_p50_ms": round(statistics.fmean([runs[0]["p50_ms"], runs[2]["p50_ms"]]), 2),
        "bare_p99_ms": round(statistics.fmean([runs[0]["p99_ms"], runs[2]["p99_ms"]]), 2),
        "service_p50_ms": service["p50_ms"],
        "service_p99_ms": service["p99_ms"],
        "runs": runs,
    }


# --------------------------------------------------------------------------------------------------
# worker processes
# --------------------------------------------------------------------------------------------------


def _spawn_worker(role: str, cfg: dict[str, Any], **popen: Any) -> subprocess.Popen[bytes]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", role, json.dumps(cfg)]
    return subprocess.Popen(argv, **popen)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)
            return


WORKERS: dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]] = {
    "latency-consumer": latency_consumer_worker,
    "latency-producer": latency_producer_worker,
}


def quiet_logs() -> None:
    """The platform's structured logs, warnings and up, on stderr (stdout carries results)."""
    configure_logging("bench", level="WARNING", json_logs=False)


def worker_main(role: str, cfg: dict[str, Any]) -> int:
    quiet_logs()
    if role == "http-server":
        http_server_worker(cfg)
        return 0
    outcome = run_async(WORKERS[role](cfg))
    Path(cfg["result_file"]).write_text(json.dumps(outcome))
    return 0


# --------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    config = parse_config(argv if argv is not None else sys.argv[1:])
    quiet_logs()
    result: dict[str, Any] = {"config": config.__dict__ | {"only": list(config.only)}}
    summary: dict[str, Any] = {}
    with bench_servers() as servers, tempfile.TemporaryDirectory(prefix="uplift-bench-latency-") as scratch:
        result["servers"] = {"postgresql": servers.postgres_source, "nats": servers.nats_source}
        result["load_average"] = {"start": _load_average()}
        if "drain" in config.only:
            print("# platform: drain (outbox → relay → JetStream → consumer vs raw JetStream)", file=sys.stderr)
            drain = measure_drain(servers, config)
            result["drain"] = drain
            result["load_average"]["after_drain"] = _load_average()
            summary |= {
                "drain_outbox_events_per_s": drain["outbox"]["events_per_s"],
                "drain_raw_events_per_s": drain["raw_events_per_s"],
                "drain_ratio (aim >= 0.5)": drain["ratio"],
            }
        if "latency" in config.only:
            rates = [config.rate] + ([config.low_rate] if config.low_rate > 0 else [])
            result["latency"] = {}
            for rate in rates:
                print(f"# platform: latency at {rate:.0f} events/s", file=sys.stderr)
                latency = measure_latency(servers, config, Path(scratch), rate)
                result["latency"][f"at_{rate:.0f}_per_s"] = latency
                result["load_average"][f"after_latency_{rate:.0f}"] = _load_average()
                figures = latency["commit_to_consumer_commit"]
                summary |= {
                    f"latency@{rate:.0f}/s_committed_per_s": latency["committed_events_per_s"],
                    f"latency@{rate:.0f}/s_producer_saturated": latency["producer_saturated"],
                    f"latency@{rate:.0f}/s_consumer_behind_ms": latency["consumer_finished_after_last_commit_ms"],
                    f"latency@{rate:.0f}/s_p50/p99_ms (aim p99 <= 20)": f"{figures['p50_ms']}/{figures['p99_ms']}",
                }
        if "http" in config.only:
            print("# platform: authenticated GET on a service app vs a bare FastAPI app", file=sys.stderr)
            http = measure_http(servers, config)
            result["http"] = http
            result["load_average"]["after_http"] = _load_average()
            summary |= {
                "http_bare_requests_per_s": http["bare_requests_per_s"],
                "http_service_requests_per_s": http["service_requests_per_s"],
                "http_ratio": http["ratio"],
                "http_server_cpu_us_per_request_bare/service": (
                    f"{http['bare_server_cpu_us_per_request']}/{http['service_server_cpu_us_per_request']}"
                ),
                "http_cpu_ratio": http["cpu_ratio"],
                "http_bare_p50/p99_ms": f"{http['bare_p50_ms']}/{http['bare_p99_ms']}",
                "http_service_p50/p99_ms": f"{http['service_p50_ms']}/{http['service_p99_ms']}",
            }
    return {"summary": summary, **result}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        raise SystemExit(worker_main(sys.argv[2], json.loads(sys.argv[3])))
    print(json.dumps(main(), indent=2, default=str))
