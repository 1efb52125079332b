"""Benchmark of the metrics service: ingestion into the projections, rebuild, dashboard latency.

A seeded district (default 100,000 households in 10 streets × 10 communities, with exits, pairings, visits,
placements and claims: about 2.4 events per household) is published onto the REGISTRY, MATCHING and MEDICAL
streams before the service starts; then, in this process:

- ingestion: the service's consumers drain the streams into the projections (events/s), beside a raw
  JetStream pull-consume-and-ack of the same messages with no database (the baseline);
- dashboard: `GET /metrics/v1/dashboard` for the district and for one street through the app (auth, FastAPI,
  JSON): cold (the projection changed since the last answer: every indicator computed) and warm (nothing
  changed: the answer cached for the projection version), p50/p95; the very first request of the process for a
  scope (which also builds and prepares its statement) is reported apart as `first_ms`;
- rebuild: `POST /metrics/v1/admin/rebuild` over every event of the streams (events/s). Set
  `BENCH_METRICS_REBUILD_EVENTS=1000000` to top the streams up with visits to that many events first, or
  `BENCH_METRICS_REBUILD=0` to skip it (ingestion and dashboard only).

Sizes: `BENCH_METRICS_HOUSEHOLDS` (default 100000), `BENCH_METRICS_REBUILD_EVENTS` (default: the district's
events only). Servers: `BENCH_DATABASE_URL` / `BENCH_NATS_URL`, else embedded ones (see bench/README.md).

    uv run python bench/bench_metrics.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from uplift.common import contracts as c
from uplift.common.embedded import EmbeddedNats, EmbeddedPostgres, drop_database, ensure_database, free_tcp_port
from uplift.common.migrations import upgrade
from uplift.common.nats_link import ensure_stream
from uplift.common.testkit import RunningService, auth, run_service, service_settings
from uplift.metrics.main import create_app
from uplift.metrics.projections import SOURCE_STREAMS
from uplift.metrics.sample_events import Household, Publisher, cadre, hired, settled, visit

DISTRICT = "420102"
STREETS = 10
COMMUNITIES_PER_STREET = 10
DEPARTMENTS = 50
SEED = 20261127


def log(message: str) -> None:
    print(f"[bench_metrics] {message}", file=sys.stderr, flush=True)


def district_events(households: int, rng: random.Random) -> list[c.EventPayload]:
    """Enrolments, then 20% exits, 60% pairings, 50% visits, 5% hires and 5% claims (seeded)."""
    communities = [
        f"{DISTRICT}{street:03d}{community:03d}"
        for street in range(1, STREETS + 1)
        for community in range(1, COMMUNITIES_PER_STREET + 1)
    ]
    helpers = [cadre(f"D{n:03d}") for n in range(DEPARTMENTS)]
    members = [
        Household(
            uuid.UUID(int=rng.getrandbits(128)),
            communities[n % len(communities)],
            f"2025-{1 + n % 3}",
            dt.date(2025, 1 + n % 12, 1 + n % 28),
        )
        for n in range(households)
    ]
    events: list[c.EventPayload] = [h.enrolled() for h in members]
    for h in members:
        roll = rng.random()
        if roll < 0.6:
            helper = helpers[rng.randrange(DEPARTMENTS)]
            events.append(h.paired(helper, h.enrolled_on + dt.timedelta(days=10)))
            if rng.random() < 0.85:
                visited_on = dt.date(2026, 4, 1) + dt.timedelta(days=rng.randrange(90))
                events.append(visit(h, helper, visited_on, rng.choice([None, 3, 4, 5])))
        if roll < 0.05:
            events.append(hired(h, dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(180))))
        if 0.05 <= roll < 0.10:
            discharged = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(180))
            events.append(settled(h, discharged, cap_met=rng.random() < 0.9))
        if roll >= 0.8:
            events.append(h.exited(dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(180))))
    return events


async def raw_consume(js: JetStreamContext, total: int) -> float:
    """Baseline: pull and ack every message of the source streams with an ephemeral consumer, no database."""
    started = time.perf_counter()
    for stream in SOURCE_STREAMS:
        name = f"bench-raw-{secrets.token_hex(3)}"
        config = ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL)
        subscription = await js.pull_subscribe(f"{stream.lower()}.>", durable=name, stream=stream, config=config)
        pending = (await js.stream_info(stream)).state.messages
        while pending > 0:
            try:
                msgs = await subscription.fetch(256, timeout=2.0)
            except TimeoutError:
                break
            for msg in msgs:
                await msg.ack()
            pending -= len(msgs)
        await js.delete_consumer(stream, name)
    return total / (time.perf_counter() - started)


async def caught_up(js: JetStreamContext) -> bool:
    for stream in SOURCE_STREAMS:
        try:
            info = await js.consumer_info(stream, f"metrics-{stream.lower()}")
        except Exception:
            return False
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the consumers did not catch up")
        await asyncio.sleep(0.05)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
        "n": len(ordered),
    }


async def dashboard_latency(service: RunningService, scope: str, *, cold: bool, rounds: int) -> dict[str, float]:
    """p50/p95 of `rounds` requests; a cold series also reports its first request apart (`first_ms`: the
    process's first answer for the scope, which builds and prepares its statement) and leaves it out."""
    headers = auth("analyst")
    samples = []
    first_ms = None
    if cold:
        service.app.state.metrics_cache = None
        started = time.perf_counter()
        response = await service.client.get(
            "/metrics/v1/dashboard", params={"scope": scope, "period": "2026-Q2"}, headers=headers
        )
        first_ms = round((time.perf_counter() - started) * 1000, 2)
        assert response.status_code == 200, response.text
    for _ in range(rounds):
        if cold:
            service.app.state.metrics_cache = None  # as after any projected event: nothing cached for the version
        started = time.perf_counter()
        response = await service.client.get(
            "/metrics/v1/dashboard", params={"scope": scope, "period": "2026-Q2"}, headers=headers
        )
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return percentiles(samples) if first_ms is None else {**percentiles(samples), "first_ms": first_ms}


async def run(
    database_url: str, nats_url: str, households: int, rebuild_events: int, *, rebuild: bool = True
) -> dict[str, Any]:
    rng = random.Random(SEED)
    client = await nats.connect(nats_url)
    js = client.jetstream()
    for stream in SOURCE_STREAMS:
        await ensure_stream(js, stream)
    publisher = Publisher(js)
    try:
        log(f"generating a district of {households:,} households")
        events = district_events(households, rng)
        started = time.perf_counter()
        await publisher.publish(events)
        publish_rate = len(events) / (time.perf_counter() - started)
        log(f"published {len(events):,} events at {publish_rate:,.0f}/s")
        baseline_rate = await raw_consume(js, len(events))
        log(f"raw JetStream consume: {baseline_rate:,.0f} events/s")

        settings = service_settings("metrics", database_url, nats_url, db_pool_size=10, log_level="WARNING")
        started = time.perf_counter()
        async with run_service(app=create_app(settings)) as service:
            await wait_until(lambda: caught_up(js), timeout=3600)
            ingest_seconds = time.perf_counter() - started
            ingest_rate = len(events) / ingest_seconds
            log(f"ingested {len(events):,} events in {ingest_seconds:.1f}s: {ingest_rate:,.0f}/s")

            street = f"{DISTRICT}001"
            dashboard = {
                "district_cold": await dashboard_latency(service, DISTRICT, cold=True, rounds=50),
                "district_warm": await dashboard_latency(service, DISTRICT, cold=False, rounds=200),
                "street_cold": await dashboard_latency(service, street, cold=True, rounds=50),
                "street_warm": await dashboard_latency(service, street, cold=False, rounds=200),
            }
            log(f"dashboard: {json.dumps(dashboard)}")

            total_events = len(events)
            if not rebuild:
                log("rebuild skipped (BENCH_METRICS_REBUILD=0)")
                rebuild_seconds, report = None, None
            elif rebuild_events > total_events:
                extra = rebuild_events - total_events
                log(f"topping the streams up with {extra:,} visits")
                helper = cadre("D999")
                pool = [Household(uuid.uuid4(), f"{DISTRICT}001001", "bench", dt.date(2025, 1, 1)) for _ in range(1000)]
                for offset in range(0, extra, 50_000):
                    batch = [
                        visit(pool[n % len(pool)], helper, dt.date(2026, 1, 1 + n % 28), 5)
                        for n in range(offset, min(extra, offset + 50_000))
                    ]
                    await publisher.publish(batch)
                total_events = rebuild_events
                await wait_until(lambda: caught_up(js), timeout=7200)
            if rebuild:
                started = time.perf_counter()
                response = await service.client.post(
                    "/metrics/v1/admin/rebuild", headers=auth("district_admin"), timeout=7200
                )
                rebuild_seconds = time.perf_counter() - started
                assert response.status_code == 200, response.text
                report = response.json()
                log(f"rebuild of {total_events:,} events: {rebuild_seconds:.1f}s")
    finally:
        await client.close()
    return {
        "summary": {
            "ingest_events_per_s": round(ingest_rate),
            "ingest_vs_raw_consume": round(ingest_rate / baseline_rate, 3),
            "rebuild_events": total_events,
            "rebuild_s": None if rebuild_seconds is None else round(rebuild_seconds, 1),
            "rebuild_events_per_s": None if rebuild_seconds is None else round(total_events / rebuild_seconds),
            "dashboard_district_warm_p95_ms (aim < 50)": dashboard["district_warm"]["p95_ms"],
            "dashboard_district_cold_p95_ms (aim < 50)": dashboard["district_cold"]["p95_ms"],
            "dashboard_district_first_ms": dashboard["district_cold"]["first_ms"],
            "dashboard_street_cold_p95_ms": dashboard["street_cold"]["p95_ms"],
        },
        "households": households,
        "events": len(events),
        "publish_events_per_s": round(publish_rate),
        "raw_consume_events_per_s": round(baseline_rate),
        "ingest_seconds": round(ingest_seconds, 2),
        "dashboard": dashboard,
        "rebuild": report,
    }


def main() -> dict[str, Any]:
    households = int(os.environ.get("BENCH_METRICS_HOUSEHOLDS", "100000"))
    rebuild_events = int(os.environ.get("BENCH_METRICS_REBUILD_EVENTS", "0"))
    rebuild = os.environ.get("BENCH_METRICS_REBUILD", "1") != "0"
    if rebuild_events and not rebuild:
        raise SystemExit("BENCH_METRICS_REBUILD_EVENTS needs the rebuild (BENCH_METRICS_REBUILD=1)")
    with tempfile.TemporaryDirectory(prefix="uplift-bench-metrics-") as scratch:
        pg: EmbeddedPostgres | None = None
        nats_server: EmbeddedNats | None = None
        database_name = f"uplift_bench_{secrets.token_hex(4)}"
        server_url = os.environ.get("BENCH_DATABASE_URL")
        try:
            if not server_url:
                pg = EmbeddedPostgres(Path(scratch) / "pg", free_tcp_port(), stop_with_parent=True)
                pg.start()
                server_url = pg.url
            nats_url = os.environ.get("BENCH_NATS_URL")
            if not nats_url:
                nats_server = EmbeddedNats(Path(scratch) / "nats", free_tcp_port(), stop_with_parent=True)
                nats_server.start()
                nats_url = nats_server.url
            database_url = asyncio.run(ensure_database(server_url, database_name))
            upgrade("metrics", database_url)
            return asyncio.run(run(database_url, nats_url, households, rebuild_events, rebuild=rebuild))
        finally:
            if server_url and pg is None:
                asyncio.run(drop_database(server_url, database_name))
            for server in (nats_server, pg):
                if server is not None:
                    server.destroy()


if __name__ == "__main__":
    print(json.dumps(main()), flush=True)
