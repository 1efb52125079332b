"""The embedded PostgreSQL and NATS servers behind `make run` and the test fixtures, and the run lock."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.js.api import StreamConfig

from uplift.common.devrun import AlreadyRunning, acquire_run_lock, find_checkout_root
from uplift.common.embedded import (
    EmbeddedNats,
    EmbeddedNatsCluster,
    EmbeddedPostgres,
    EmbeddedServerError,
    free_tcp_port,
    plain_postgres_url,
)
from uplift.common.testing import (
    OWNER_FILE,
    TEST_SERVERS_PREFIX,
    fresh_database,
    run_isolated,
    sqlalchemy_url,
    sweep_abandoned_test_servers,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "pg", free_tcp_port(), durable=False)
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats", free_tcp_port(), sync_interval="always")
    server.start()
    try:
        yield server
    finally:
        server.destroy()


# PostgreSQL ---------------------------------------------------------------------------------------------------


async def test_postgres_answers_over_tcp_on_loopback(postgres: EmbeddedPostgres) -> None:
    assert postgres.url == f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    conn = await asyncpg.connect(postgres.url)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT current_setting('listen_addresses')") == "127.0.0.1"
        assert await conn.fetchval("SELECT current_setting('server_version_num')::int") >= 180000
        # Unicode-aware case mapping without OS locales (builtin C.UTF-8 provider).
        assert await conn.fetchval("SELECT upper('ÿé')") == "ŸÉ"
    finally:
        await conn.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root must hand PostgreSQL to an unprivileged user")
def test_as_root_postgres_runs_unprivileged_with_files_outside_the_data_dir(
    postgres: EmbeddedPostgres,
) -> None:
    assert postgres.server_dir.parent == Path(tempfile.gettempdir())
    assert postgres.server_dir.name.startswith("uplift-pg-")
    postmaster_pid = int((postgres.pgdata / "postmaster.pid").read_text().splitlines()[0])
    assert Path(f"/proc/{postmaster_pid}").stat().st_uid != 0
    assert postgres.pgdata.stat().st_uid != 0
    assert postgres.pgdata.stat().st_mode & 0o777 == 0o700


async def test_a_row_survives_a_restart(postgres: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(postgres.url)
    try:
        await conn.execute("CREATE TABLE kept (id int PRIMARY KEY, name text)")
        await conn.execute("INSERT INTO kept VALUES (7, '张三')")
    finally:
        await conn.close()

    postgres.stop()
    assert not postgres.is_running()
    postgres.start()
    assert postgres.is_running()

    conn = await asyncpg.connect(postgres.url)
    try:
        assert await conn.fetchrow("SELECT id, name FROM kept") == (7, "张三")
    finally:
        await conn.close()


def test_create_database_creates_once(postgres: EmbeddedPostgres) -> None:
    assert postgres.create_database("uplift_once") is True
    assert postgres.create_database("uplift_once") is False
    assert postgres.psql("SELECT count(*) FROM pg_database WHERE datname = 'uplift_once'").strip() == "1"


def test_create_database_rejects_names_that_would_need_quoting(postgres: EmbeddedPostgres) -> None:
    with pytest.raises(ValueError, match="lower-case"):
        postgres.create_database('x"; DROP DATABASE postgres; --')


async def test_fresh_database_is_empty_and_dropped_afterwards(postgres: EmbeddedPostgres) -> None:
    with fresh_database(postgres.url) as url:
        assert url.startswith(f"postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/uplift_test_")
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(plain_postgres_url(url))
        try:
            assert await conn.fetchval("SELECT current_database()") == name
            tables = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert tables == 0
        finally:
            await conn.close()
    assert postgres.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{name}'").strip() == "0"


def test_a_port_in_use_is_reported_clearly(postgres: EmbeddedPostgres, tmp_path: Path) -> None:
    squatter = EmbeddedPostgres(tmp_path / "other", postgres.port, durable=False)
    try:
        with pytest.raises(EmbeddedServerError, match=f"port {postgres.port} .* already in use"):
            squatter.start()
    finally:
        squatter.destroy()


def test_sqlalchemy_url_adds_the_asyncpg_driver() -> None:
    assert sqlalchemy_url("postgresql://u@h:1/d") == "postgresql+asyncpg://u@h:1/d"
    assert sqlalchemy_url("postgresql+asyncpg://u@h:1/d") == "postgresql+asyncpg://u@h:1/d"
    assert sqlalchemy_url("postgres://u@h:1/d") == "postgresql+asyncpg://u@h:1/d"


# NATS -------------------------------------------------------------------------------------------------------


async def test_jetstream_publishes_and_delivers(nats_server: EmbeddedNats) -> None:
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="EMBEDDED", subjects=["embedded.>"]))
        ack = await js.publish("embedded.hello", b"hello")
        assert (ack.stream, ack.seq) == ("EMBEDDED", 1)
        sub = await js.pull_subscribe("embedded.>", durable="reader")
        [msg] = await sub.fetch(1, timeout=5)
        assert (msg.subject, msg.data) == ("embedded.hello", b"hello")
        await msg.ack()
    finally:
        await nc.close()


async def test_a_jetstream_message_survives_a_restart(nats_server: EmbeddedNats) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="KEPT", subjects=["kept.>"]))
        await js.publish("kept.one", b"still here")
    finally:
        await nc.close()

    nats_server.stop()
    assert not nats_server.is_running()
    nats_server.start()

    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("kept.>", durable="after-restart")
        [msg] = await sub.fetch(1, timeout=5)
        assert msg.data == b"still here"
        assert msg.metadata.sequence.stream == 1
    finally:
        await nc.close()


def test_sync_interval_must_be_a_nats_duration(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sync_interval"):
        EmbeddedNats(tmp_path, free_tcp_port(), sync_interval="every now and then")


async def test_three_nodes_form_a_cluster_that_replicates_r3_streams(tmp_path: Path) -> None:
    cluster = EmbeddedNatsCluster(tmp_path / "cluster", size=3)
    cluster.start()
    try:
        nc = await nats.connect(servers=cluster.urls)
        try:
            js = nc.jetstream()
            info = await js.add_stream(StreamConfig(name="R3", subjects=["r3.>"], num_replicas=3))
            assert info.cluster is not None
            members = {info.cluster.leader, *(peer.name for peer in info.cluster.replicas or [])}
            assert members == {"uplift-n1", "uplift-n2", "uplift-n3"}
            ack = await js.publish("r3.hello", b"replicated")
            assert (ack.stream, ack.seq) == ("R3", 1)
        finally:
            await nc.close()
    finally:
        cluster.destroy()
    assert not any(node.is_running() for node in cluster.nodes)


# the `make run` guard ----------------------------------------------------------------------------------------


def test_a_second_run_of_the_same_checkout_is_refused(tmp_path: Path) -> None:
    first = acquire_run_lock(tmp_path)
    try:
        with pytest.raises(AlreadyRunning, match=f"already running \\(pid {os.getpid()}"):
            acquire_run_lock(tmp_path)
    finally:
        first.release()
    # Once the first run is over, the next one may start.
    acquire_run_lock(tmp_path).release()


def test_the_checkout_root_is_the_uv_workspace_above_the_current_folder() -> None:
    here = Path(__file__).resolve()
    root = find_checkout_root(here.parent)
    assert (root / "libs" / "common" / "tests" / here.name).is_file()
    assert "[tool.uv.workspace]" in (root / "pyproject.toml").read_text()


async def test_fixtures_can_run_database_work_while_a_test_loop_is_running() -> None:
    # asyncio.run() would refuse here ("cannot be called from a running event loop").
    async def answer() -> int:
        return 42

    assert run_isolated(answer()) == 42


def test_files_of_a_killed_test_session_are_swept_and_live_ones_kept() -> None:
    exited = subprocess.Popen(["true"])
    exited.wait()
    dead_pid = exited.pid
    abandoned = Path(tempfile.mkdtemp(prefix=TEST_SERVERS_PREFIX))
    live = Path(tempfile.mkdtemp(prefix=TEST_SERVERS_PREFIX))
    try:
        (abandoned / OWNER_FILE).write_text(f"{dead_pid}\n")
        (abandoned / "pg-1").mkdir()
        (live / OWNER_FILE).write_text(f"{os.getpid()}\n")

        sweep_abandoned_test_servers()

        assert not abandoned.exists()
        assert (live / OWNER_FILE).is_file()
    finally:
        shutil.rmtree(abandoned, ignore_errors=True)
        shutil.rmtree(live, ignore_errors=True)
