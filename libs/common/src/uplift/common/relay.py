"""The outbox relay: publishes committed outbox rows to JetStream, in order, exactly once per stream.

One relay per service is active at a time: it holds a session-level advisory lock on a dedicated connection;
replicas wait for it. The active relay LISTENs for the outbox's NOTIFY (sent by a trigger on insert) and also
polls, so a lost notification only delays, never loses, an event. Each row is published with
`Nats-Msg-Id = event id`; a crash between publish and mark re-publishes and JetStream's duplicate window drops
the copy. Published rows are kept (retention configurable).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog
from nats.js.errors import NoStreamResponseError, NotFoundError
from prometheus_client import Counter, Gauge

from uplift.common.contracts import subject_for
from uplift.common.db import advisory_key
from uplift.common.nats_link import NatsLink, ensure_stream

log = structlog.get_logger("uplift.relay")

RELAY_PUBLISHED = Counter("uplift_relay_published_total", "Outbox rows published", ["service"])
RELAY_ACTIVE = Gauge("uplift_relay_active", "1 while this process holds the relay lock", ["service"])


def notify_channel(schema: str) -> str:
    return f"{schema}_outbox"


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        schema: str,
        dsn: str,
        nats: NatsLink,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        retention_days: int | None = None,
        duplicate_window: float = 120.0,
        stream_replicas: int = 1,
    ) -> None:
        self.service = service
        self.schema = schema
        self.dsn = dsn
        self.nats = nats
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention_days = retention_days
        self.duplicate_window = duplicate_window
        self.stream_replicas = stream_replicas
        self.stream = service.upper()
        self.lock_key = advisory_key(f"uplift:relay:{schema}")
        self.active = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stream_ready = False
        self._last_prune = 0.0
        self.published_count = 0  # rows this instance published (tests, metrics)

    # lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"relay:{self.service}")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def wake(self) -> None:
        self._wake.set()

    # election ------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn)
                while not self._stopping:
                    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key):
                        break
                    await asyncio.sleep(self.poll_interval)  # a replica's relay is active: stand by
                else:
                    return
                self.active = True
                RELAY_ACTIVE.labels(self.service).set(1)
                log.info("relay_active", service=self.service)
                await conn.add_listener(notify_channel(self.schema), self._on_notify)
                await self._publish_loop(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("relay_error", service=self.service, error=str(exc))
                await asyncio.sleep(self.poll_interval)
            finally:
                self.active = False
                RELAY_ACTIVE.labels(self.service).set(0)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    # publishing ----------------------------------------------------------------------------------------

    async def _publish_loop(self, conn: asyncpg.Connection) -> None:
        while not self._stopping:
            if conn.is_closed():
                raise ConnectionError("relay lost its database connection")
            published = 0
            if self.nats.connected:
                try:
                    published = await self.publish_pending(conn)
                except (TimeoutError, ConnectionError, OSError) as exc:
                    log.warning("relay_publish_failed", service=self.service, error=str(exc))
                except Exception as exc:
                    if conn.is_closed():
                        raise
                    log.warning("relay_publish_failed", service=self.service, error=str(exc))
            await self._maybe_prune(conn)
            if published >= self.batch_size:
                continue  # a backlog: keep draining
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def _ensure_stream(self) -> None:
        if not self._stream_ready:
            await ensure_stream(
                self.nats.js,
                self.stream,
                duplicate_window=self.duplicate_window,
                replicas=self.stream_replicas,
            )
            self._stream_ready = True

    async def publish_pending(self, conn: asyncpg.Connection) -> int:
        """Publish one batch of unpublished rows in outbox order; returns how many."""
        rows = await conn.fetch(
            f'SELECT position, event_id, event_type, envelope::text AS envelope FROM "{self.schema}".outbox '  # noqa: S608
            "WHERE published_at IS NULL ORDER BY position LIMIT $1",
            self.batch_size,
        )
        if not rows:
            return 0
        await self._ensure_stream()
        try:
            await self._publish_rows(rows, msg_id=lambda row: str(row["event_id"]))
        except (NoStreamResponseError, NotFoundError):
            self._stream_ready = False  # the stream is gone (e.g. a wiped broker): create it again next round
            raise
        await conn.execute(
            f'UPDATE "{self.schema}".outbox SET published_at = now() WHERE position = ANY($1::bigint[])',  # noqa: S608
            [r["position"] for r in rows],
        )
        RELAY_PUBLISHED.labels(self.service).inc(len(rows))
        self.published_count += len(rows)
        return len(rows)

    async def _publish_rows(self, rows: Sequence[asyncpg.Record], *, msg_id: Any) -> None:
        js = self.nats.js
        futures = []
        for row in rows:
            futures.append(
                await js.publish_async(
                    subject_for(row["event_type"]),
                    row["envelope"].encode(),
                    headers={"Nats-Msg-Id": msg_id(row)},
                    stream=self.stream,
                )
            )
        # Every ack must arrive before the rows are marked: a missing ack leaves the row for the next round.
        await asyncio.wait_for(asyncio.gather(*futures), timeout=30)

    async def _maybe_prune(self, conn: asyncpg.Connection) -> None:
        if self.retention_days is None or time.monotonic() - self._last_prune < 3600:
            return
        self._last_prune = time.monotonic()
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.retention_days)
        await conn.execute(
            f'DELETE FROM "{self.schema}".outbox WHERE published_at IS NOT NULL AND published_at < $1',  # noqa: S608
            cutoff,
        )

    # replay --------------------------------------------------------------------------------------------

    async def replay(self, *, from_position: int, to_position: int) -> int:
        """Re-publish published rows in [from, to] (outbox positions) on a connection of its own.

        A replayed copy gets a fresh message id so JetStream's duplicate window does not drop it; consumers
        skip what they already applied through their inbox (the event id is unchanged).
        """
        if not self.nats.connected:
            raise ConnectionError("NATS is not connected")
        await self._ensure_stream()
        conn = await asyncpg.connect(self.dsn)
        replay_id = uuid.uuid4().hex[:8]
        total = 0
        try:
            last = from_position - 1
            while True:
                rows = await conn.fetch(
                    f'SELECT position, event_id, event_type, envelope::text AS envelope FROM "{self.schema}".outbox '  # noqa: S608
                    "WHERE position > $1 AND position <= $2 AND published_at IS NOT NULL "
                    "ORDER BY position LIMIT $3",
                    last,
                    to_position,
                    self.batch_size,
                )
                if not rows:
                    break
                await self._publish_rows(rows, msg_id=lambda row: f"{row['event_id']}:replay:{replay_id}")
                total += len(rows)
                last = rows[-1]["position"]
        finally:
            await conn.close()
        log.info("outbox_replayed", service=self.service, events=total, replay_id=replay_id)
        return total


def outbox_notify_trigger_sql(schema: str) -> list[str]:
    """DDL for the statement-level trigger that wakes the relay when outbox rows are inserted."""
    channel = json.dumps(notify_channel(schema))[1:-1]
    return [
        f'''CREATE OR REPLACE FUNCTION "{schema}".notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{channel}', '');
  RETURN NULL;
END $$''',
        f'DROP TRIGGER IF EXISTS outbox_notify ON "{schema}".outbox',
        f'''CREATE TRIGGER outbox_notify AFTER INSERT ON "{schema}".outbox
FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".notify_outbox()''',
    ]
