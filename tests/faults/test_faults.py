"""Faults at the level of the whole system (issue 7): each run ends with every service's state equal to the
fault-free run's — no event lost, none applied twice, no cent drifted.

Every run starts the four services as separate processes (as `make run` does) on a database of its own on this
module's PostgreSQL server, and on a NATS server (or cluster) of its own, then sends the same seeded stream of
writes (`workload.py`) and injects its fault in the middle of it:

- `kill -9` of each service in turn, then a restart;
- NATS stopped for a while and started again, then PostgreSQL restarted (the services answer 503 on readyz
  meanwhile and recover by themselves);
- NATS's store wiped while it was down (the broker lost everything) with metrics down too, so events were lost
  in flight: replaying every service's outbox restores every consumer's state;
- a three-node JetStream cluster with streams replicated three times, one node killed with `kill -9` and
  started again later.

The fault-free run is made once per module and compared with each faulted run through `state.snapshot`. Figures
(events in flight when the fault struck, how long clients saw the outage, time to settle) are printed and, when
`UPLIFT_FAULT_REPORT` names a file, appended to it as JSON lines (docs/reliability.md quotes them).

Volumes are small in `make test` (60 households, about 300 writes per run); `FAULT_HOUSEHOLDS` sets another size.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import nats
import pytest

from uplift.common.embedded import EmbeddedNats, EmbeddedNatsCluster, EmbeddedPostgres, free_tcp_port
from uplift.common.migrations import upgrade_all

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "system"))
from generator import DEFAULT_POLICY_YEAR, QUOTAS, DistrictSize, generate_district
from harness import READY_TIMEOUT_SECONDS, SystemUnderTest, readiness, service_environment, wait_until_ready
from state import Snapshot, count, differences, snapshot, unpublished_events
from workload import ADMIN, Client, Ids, Pacer, Plan, Progress, StreamStats, count_steps, run_chains, set_up

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SEED = 20261127
HOUSEHOLDS = int(os.environ.get("FAULT_HOUSEHOLDS", "60"))
CONCURRENT_CHAINS = 6
# Writes per second while a fault is injected: slow enough that the stream outlasts the faults.
PACE = float(os.environ.get("FAULT_PACE", "7"))
SETTLE_TIMEOUT_SECONDS = 120.0
# Nothing in flight and nothing changing for this many one-second polls: what differs now stays different (the
# parked-event sweeper runs every 5 s, so this waits out at least one sweep).
QUIET_POLLS_BEFORE_FAILING = 12
SERVICE_ENV = {
    # A client retrying after a crash waits for an unanswered claim of its key to expire: 3 s, not a minute.
    "idempotency_claim_expiry_seconds": "3",
    "relay_poll_interval_seconds": "0.2",
}


def fault_district_size(households: int) -> DistrictSize:
    """The scenario's small district shape, at `households` households."""
    return DistrictSize(
        streets=2,
        communities_per_street=2,
        households=households,
        cadres=max(households // 3, 4),
        branches=max(households // 10, 2),
        departments=3,
        lifted_exits=round(households * 690 / 3407),
        other_exits=2,
        hire_share=0.3,
        visit_share=0.85,
        claims=max(households // 4, 2),
    )


def business_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


def make_plan() -> Plan:
    district = generate_district(fault_district_size(HOUSEHOLDS), SEED, business_today(), "faults")
    return Plan(district, QUOTAS)


def policy_years(plan: Plan) -> dict[int, dict[str, Any]]:
    return {year: DEFAULT_POLICY_YEAR for year in {claim.discharged_on.year for claim in plan.district.claims}}


# --- reporting ------------------------------------------------------------------------------------------------


@dataclass
class Report:
    fault: str
    figures: dict[str, Any] = field(default_factory=dict)

    def emit(self) -> None:
        line = json.dumps({"fault": self.fault, **self.figures}, ensure_ascii=False, default=str)
        print(f"[faults] {line}", flush=True)
        target = os.environ.get("UPLIFT_FAULT_REPORT")
        if target:
            with open(target, "a", encoding="utf-8") as out:
                out.write(line + "\n")


# --- one run of the system --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab_postgres() -> Iterator[EmbeddedPostgres]:
    """This module's own PostgreSQL server: one of the faults restarts it."""
    folder = Path(tempfile.mkdtemp(prefix="uplift-faults-pg-"))
    server = EmbeddedPostgres(folder / "pg", free_tcp_port(), durable=False, stop_with_parent=True)
    server.start()
    try:
        yield server
    finally:
        server.destroy()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A NATS server of the test's own (one fault stops it, another wipes its store)."""
    server = EmbeddedNats(tmp_path / "nats", free_tcp_port(), stop_with_parent=True)
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@dataclass
class Run:
    name: str
    sut: SystemUnderTest
    dsn: str
    nats_urls: list[str]
    client: Client
    plan: Plan
    ids: Ids
    stats: StreamStats
    progress: Progress

    async def stream(self) -> float:
        """Every household's chain; the seconds it took."""
        started = time.monotonic()
        await run_chains(self.client, self.plan, self.ids, self.progress, CONCURRENT_CHAINS)
        return round(time.monotonic() - started, 1)

    async def in_flight(self) -> dict[str, int]:
        """Events committed but not yet applied everywhere: unpublished outbox rows and consumers' backlog."""
        return {"unpublished": await unpublished_events(self.dsn), "consumer_backlog": await consumer_backlog(self)}


async def consumer_backlog(run: Run) -> int:
    """Messages JetStream holds for the services' durable consumers, not yet acknowledged (-1: unreachable)."""
    try:
        nc = await nats.connect(servers=run.nats_urls, connect_timeout=2, allow_reconnect=False)
    except Exception:
        return -1
    try:
        js = nc.jetstream()
        total = 0
        for stream in await js.streams_info():
            for consumer in await js.consumers_info(stream.config.name):
                total += consumer.num_pending + consumer.num_ack_pending
        return total
    except Exception:
        return -1
    finally:
        await nc.close()


def database_name(run: str) -> str:
    return f"faults_{run}_{os.getpid()}"


@contextlib.asynccontextmanager
async def system_run(
    lab: EmbeddedPostgres, name: str, nats_urls: list[str], *, pace: float | None, **env: str
) -> AsyncIterator[Run]:
    database = database_name(name)
    lab.psql(f'DROP DATABASE IF EXISTS "{database}"')
    lab.create_database(database)
    url = lab.database_url(database, driver="asyncpg")
    await asyncio.to_thread(upgrade_all, url)
    log_dir = Path(tempfile.mkdtemp(prefix=f"uplift-faults-{name}-"))
    print(f"[faults] {name}: service logs in {log_dir}", flush=True)
    sut = SystemUnderTest(url, ",".join(nats_urls), log_dir)
    stats = StreamStats()
    plan = make_plan()
    client: Client | None = None
    try:
        await asyncio.to_thread(sut.start, service_environment(url, ",".join(nats_urls), **{**SERVICE_ENV, **env}))
        client = Client({n: sut.url(n) for n in sut.services}, stats, Pacer(None))
        ids = Ids()
        await set_up(client, plan, ids, policy_years(plan))
        client.pacer = Pacer(pace)
        yield Run(name, sut, sut.asyncpg_dsn, nats_urls, client, plan, ids, stats, Progress(count_steps(plan)))
    finally:
        if client is not None:
            await client.aclose()
        await asyncio.to_thread(sut.stop)


async def settle(run: Run, reference: Snapshot | None) -> tuple[Snapshot, float]:
    """Wait until the run's state equals `reference`; without one, until it is quiet (nothing in flight, and the
    same snapshot for a few seconds). A run that is quiet yet differs from the reference fails at once. Returns the
    snapshot and the seconds it took."""
    started = time.monotonic()
    deadline = started + SETTLE_TIMEOUT_SECONDS
    previous: Snapshot | None = None
    quiet_polls = 0
    while True:
        current = await snapshot(run.dsn)
        if reference is not None and current == reference:
            return current, round(time.monotonic() - started, 2)
        in_flight = await run.in_flight()
        quiet = current == previous and in_flight == {"unpublished": 0, "consumer_backlog": 0}
        quiet_polls = quiet_polls + 1 if quiet else 0
        if reference is None and quiet_polls >= 2:
            return current, round(time.monotonic() - started, 2)
        if quiet_polls >= QUIET_POLLS_BEFORE_FAILING or time.monotonic() > deadline:
            if reference is None:
                raise AssertionError(f"the fault-free run did not settle: {in_flight}")
            diff = "\n".join(differences(reference, current))
            raise AssertionError(
                f"{run.name}: the state differs from the fault-free run after {time.monotonic() - started:.0f}s "
                f"(in flight: {in_flight}):\n{diff}"
            )
        previous = current
        await asyncio.sleep(1.0)


def assert_nothing_stuck(state: Snapshot) -> None:
    for service in ("registry", "matching", "medical", "metrics"):
        assert sum(state[f"{service}.dead_letters"].values()) == 0, f"{service} has dead letters"
        assert sum(state[f"{service}.parked_events"].values()) == 0, f"{service} has parked events"


async def wait_ready(run: Run, service: str) -> float:
    """Seconds until the (restarted) service answers ready with NATS connected."""
    started = time.monotonic()
    await asyncio.to_thread(wait_until_ready, run.sut.services[service], time.monotonic() + READY_TIMEOUT_SECONDS)
    return round(time.monotonic() - started, 2)


async def faulted(run: Run, reference: Snapshot, faults: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    """Run the stream with `faults` alongside, then compare with the reference; the run's figures."""
    stream = asyncio.create_task(run.stream())
    try:
        await faults()
        stream_seconds = await stream
    finally:
        if not stream.done():
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await stream
    state, settle_seconds = await settle(run, reference)
    assert_nothing_stuck(state)
    return {
        "stream_s": stream_seconds,
        "settled_after_stream_s": settle_seconds,
        "events": sum(sum(state[f"{s}.outbox"].values()) for s in ("registry", "matching", "medical", "metrics")),
        "client": run.stats.summary(),
    }


# --- the fault-free run ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def reference(lab_postgres: EmbeddedPostgres) -> AsyncIterator[Snapshot]:
    with tempfile.TemporaryDirectory(prefix="uplift-faults-nats-") as folder:
        broker = EmbeddedNats(Path(folder) / "nats", free_tcp_port(), stop_with_parent=True)
        broker.start()
        try:
            async with system_run(lab_postgres, "reference", [broker.url], pace=None) as run:
                stream_seconds = await run.stream()
                state, settle_seconds = await settle(run, None)
        finally:
            broker.destroy()
    assert_nothing_stuck(state)
    expected = run.plan.expected_counts()
    found = {
        "households": count(state, "registry.households"),
        "persons": count(state, "registry.persons"),
        "pairings": count(state, "registry.pairings"),
        "visits": count(state, "registry.visits"),
        "placements": count(state, "matching.placements"),
        "claims": count(state, "medical.claims"),
        "exited": count(state, "registry.households", status="exited"),
    }
    assert found == expected, f"the fault-free run left {found}, the plan says {expected}"
    # Each consumer applied each event it receives once: metrics saw every household, claim and placement.
    assert count(state, "metrics.households") == expected["households"]
    assert count(state, "metrics.claims") == expected["claims"]
    assert count(state, "metrics.placements") == expected["placements"]
    assert count(state, "medical.persons") == expected["persons"]
    Report(
        "none (reference)",
        {"stream_s": stream_seconds, "settled_after_stream_s": settle_seconds, "client": run.stats.summary()},
    ).emit()
    yield state


# --- the faults --------------------------------------------------------------------------------------------------


async def test_kill_9_of_each_service_in_turn_under_a_write_stream_then_restart(
    lab_postgres: EmbeddedPostgres, reference: Snapshot, broker: EmbeddedNats
) -> None:
    kills: list[dict[str, Any]] = []
    async with system_run(lab_postgres, "kill9", [broker.url], pace=PACE) as run:

        async def faults() -> None:
            for service, share in (("registry", 0.1), ("matching", 0.3), ("medical", 0.5), ("metrics", 0.7)):
                await run.progress.reach(share)
                in_flight = await run.in_flight()
                # Strike while a write to it is on the wire (metrics takes none: its consumers are busy).
                mid_request = await run.client.busy(service, timeout=0 if service == "metrics" else 5)
                run.sut.services[service].kill()
                await asyncio.sleep(1.0)  # the stream goes on: writes to it fail and are retried
                run.sut.services[service].restart()
                kills.append(
                    {
                        "mid_request": mid_request,
                        "service": service,
                        "in_flight": in_flight,
                        "ready_after_restart_s": await wait_ready(run, service),
                    }
                )

        figures = await faulted(run, reference, faults)
        assert all(run.sut.services[s].incarnations == 2 for s in ("registry", "matching", "medical", "metrics"))
    Report("kill -9 of each service in turn", {**figures, "kills": kills}).emit()
    assert kills[0]["mid_request"], "registry was killed with a write on the wire"
    # Some writes met a dead service and were retried: the fault really was in the middle of the stream.
    assert any(key.startswith("registry ") for key in figures["client"]["retried_attempts"]), figures["client"]


async def test_nats_stopped_then_postgres_restarted_under_a_write_stream(
    lab_postgres: EmbeddedPostgres, reference: Snapshot, broker: EmbeddedNats
) -> None:
    seen: dict[str, Any] = {}
    async with system_run(lab_postgres, "outages", [broker.url], pace=PACE) as run:

        async def faults() -> None:
            await run.progress.reach(0.2)
            seen["nats_in_flight"] = await run.in_flight()
            broker.stop()
            stopped = time.monotonic()
            await asyncio.sleep(6.0)  # writes go on: they commit with their events in the outboxes
            seen["unpublished_while_nats_down"] = await unpublished_events(run.dsn)
            seen["readyz_while_nats_down"] = {
                name: (await asyncio.to_thread(readiness, svc)) for name, svc in run.sut.services.items()
            }
            broker.start()
            seen["nats_down_s"] = round(time.monotonic() - stopped, 2)

            await run.progress.reach(0.6)
            seen["postgres_in_flight"] = await run.in_flight()
            lab_postgres.stop()
            stopped = time.monotonic()
            await asyncio.sleep(1.0)
            seen["readyz_while_postgres_down"] = {
                name: (await asyncio.to_thread(readiness, svc))[0] for name, svc in run.sut.services.items()
            }
            await asyncio.sleep(2.0)
            await asyncio.to_thread(lab_postgres.start)
            seen["postgres_down_s"] = round(time.monotonic() - stopped, 2)
            started = time.monotonic()
            for name in run.sut.services:
                await wait_ready(run, name)
            seen["ready_after_postgres_start_s"] = round(time.monotonic() - started, 2)

        figures = await faulted(run, reference, faults)
    Report("NATS stopped, then PostgreSQL restarted", {**figures, **seen}).emit()
    assert seen["unpublished_while_nats_down"] > 0, "writes committed while NATS was down"
    assert all(body.get("nats") != "ok" for _, body in seen["readyz_while_nats_down"].values()), seen
    assert set(seen["readyz_while_postgres_down"].values()) == {503}, seen["readyz_while_postgres_down"]


async def test_nats_store_wiped_then_outbox_replay_restores_every_consumer(
    lab_postgres: EmbeddedPostgres, reference: Snapshot, broker: EmbeddedNats
) -> None:
    seen: dict[str, Any] = {}
    async with system_run(lab_postgres, "wipe", [broker.url], pace=PACE) as run:

        async def faults() -> None:
            await run.progress.reach(0.25)
            # Metrics goes down first, so events meant for it pile up in the broker and are lost with it.
            run.sut.services["metrics"].kill()
            await run.progress.reach(0.45)
            seen["in_flight_when_wiped"] = await run.in_flight()
            broker.stop()
            shutil.rmtree(broker.data_dir / "jetstream", ignore_errors=True)
            assert not (broker.data_dir / "jetstream").exists()
            broker.start()
            run.sut.services["metrics"].restart()
            await wait_ready(run, "metrics")
            # The operator's runbook (docs/operations.md): replay every service's outbox from the start.
            replayed = {}
            for name in run.sut.services:
                answer = await run.client.http[name].post(
                    f"/{name}/v1/admin/outbox:replay", json={"from": 1, "to": 10_000_000}, headers=ADMIN
                )
                assert answer.status_code == 200, answer.text
                replayed[name] = answer.json()["republished"]
            seen["replayed"] = replayed

        figures = await faulted(run, reference, faults)
    Report("NATS store wiped, outboxes replayed", {**figures, **seen}).emit()
    assert seen["in_flight_when_wiped"]["consumer_backlog"] > 0, "events were lost in flight with the store"
    assert sum(seen["replayed"].values()) > 0


async def test_a_three_node_nats_cluster_loses_a_node_under_a_write_stream(
    lab_postgres: EmbeddedPostgres, reference: Snapshot, tmp_path: Path
) -> None:
    cluster = EmbeddedNatsCluster(tmp_path / "cluster", size=3, stop_with_parent=True)
    cluster.start()
    seen: dict[str, Any] = {}
    try:
        async with system_run(lab_postgres, "cluster", cluster.urls, pace=PACE, nats_stream_replicas="3") as run:

            async def faults() -> None:
                await run.progress.reach(0.3)
                # The node leading the registry's stream: its loss forces an election under the writes.
                leader = await stream_leader(cluster.urls, "REGISTRY")
                victim = next(node for node in cluster.nodes if node.server_name == leader)
                seen["killed"] = {"node": leader, "led": "REGISTRY", "in_flight": await run.in_flight()}
                victim.kill()
                killed = time.monotonic()
                await run.progress.reach(0.7)
                seen["new_leader"] = await stream_leader([n.url for n in cluster.nodes if n is not victim], "REGISTRY")
                seen["node_down_s"] = round(time.monotonic() - killed, 2)
                await asyncio.to_thread(victim.start)

            figures = await faulted(run, reference, faults)
            replicas = await stream_replicas(cluster.urls)
            reconnects = {name: svc.log_text().count('"nats_reconnected"') for name, svc in run.sut.services.items()}
    finally:
        cluster.destroy()
    Report(
        "3-node NATS cluster, one node killed",
        {**figures, **seen, "stream_replicas": replicas, "services_reconnected": reconnects},
    ).emit()
    assert replicas and set(replicas.values()) == {3}, replicas
    assert seen["new_leader"] not in (None, seen["killed"]["node"]), seen


async def stream_leader(urls: list[str], stream: str) -> str | None:
    """The server name of the node leading `stream` (None while there is no leader)."""
    nc = await nats.connect(servers=urls)
    try:
        deadline = time.monotonic() + 30
        while True:
            info = await nc.jetstream().stream_info(stream)
            if info.cluster is not None and info.cluster.leader:
                return str(info.cluster.leader)
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


async def stream_replicas(urls: list[str]) -> dict[str, int]:
    nc = await nats.connect(servers=urls)
    try:
        return {info.config.name: info.config.num_replicas for info in await nc.jetstream().streams_info()}
    finally:
        await nc.close()


async def test_the_comparison_notices_one_lost_event_and_one_cent(
    lab_postgres: EmbeddedPostgres, reference: Snapshot
) -> None:
    """The check every fault test ends with is sharp: the fault-free run's own database, read again, equals its
    snapshot; with one projected visit deleted (an event lost) and one cent added to the fund, it does not."""
    dsn = lab_postgres.database_url(database_name("reference"))
    assert await snapshot(dsn) == reference
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "DELETE FROM metrics.visits "
            "WHERE visit_id = (SELECT visit_id FROM metrics.visits ORDER BY visit_id LIMIT 1)"
        )
        await conn.execute("UPDATE medical.funds SET used = used + 0.01 WHERE fund = 'supplementary'")
    finally:
        await conn.close()
    found = differences(reference, await snapshot(dsn))
    assert found and found[0] == "tables that differ: medical.funds, metrics.visits", found
