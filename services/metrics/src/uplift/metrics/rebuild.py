"""Rebuild: replay the source streams from their first event into fresh projections.

One transaction: take the projection lock exclusively (the live consumers hold it shared for each event, so
they wait, and nothing they committed before is missing from the streams), empty the projection tables, read
each stream with an ephemeral ordered consumer up to the last message it held when the lock was taken, apply
every event with the same projectors the consumers use, compute the spans and the pre-aggregated counts once
for every household (`aggregates`), bump the projection version and commit. Readers see
the old projections until the commit and the new ones after it; the live consumers then go on where they were
(their projectors are idempotent, so an event applied by both changes nothing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.envelope import Envelope
from uplift.metrics import models as m
from uplift.metrics.aggregates import refresh_derived
from uplift.metrics.projections import (
    PROJECTION_LOCK,
    SOURCE_STREAMS,
    Rows,
    bump_projection_version,
    rows_of,
    write_rows,
)

REPLAY_IDLE_TIMEOUT = 10.0  # seconds without a message before a replay gives up on a stream
WRITE_BATCH_ROWS = 5000  # rows gathered before they are written (one statement per kind of write)


class RebuildFailed(Exception):
    """An event could not be applied; the rebuild was rolled back and the projections are unchanged."""


@dataclass
class RebuildResult:
    streams: dict[str, int] = field(default_factory=dict)
    applied: int = 0
    ignored: int = 0
    rejected: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


async def rebuild_projections(
    session: AsyncSession, js: JetStreamContext, streams: tuple[str, ...] = SOURCE_STREAMS
) -> RebuildResult:
    """Refill every projection table from `streams` inside `session`'s transaction (the caller commits)."""
    started = time.perf_counter()
    result = RebuildResult()
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(PROJECTION_LOCK)))
    names = ", ".join(f'"{t.schema}"."{t.name}"' for t in m.PROJECTION_TABLES)
    await session.execute(sa.text(f"TRUNCATE {names}"))
    for stream in streams:
        result.streams[stream] = await _replay_stream(session, js, stream, result)
    await refresh_derived(session)  # spans and counts once for every household, rather than batch by batch
    await bump_projection_version(session, "rebuild")
    for table in m.PROJECTION_TABLES:
        result.rows[table.name] = int(
            (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
        )
    result.seconds = round(time.perf_counter() - started, 3)
    return result


async def _replay_stream(session: AsyncSession, js: JetStreamContext, stream: str, result: RebuildResult) -> int:
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return 0
    last = info.state.last_seq
    if info.state.messages == 0 or last == 0:
        return 0
    subscription = await js.subscribe(
        f"{stream.lower()}.>", stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    read = 0
    pending: Rows = []
    try:
        while True:
            try:
                msg = await subscription.next_msg(timeout=REPLAY_IDLE_TIMEOUT)
            except TimeoutError:
                raise RebuildFailed(f"{stream}: no message for {REPLAY_IDLE_TIMEOUT}s before sequence {last}") from None
            sequence = msg.metadata.sequence.stream
            if sequence > last:
                break
            read += 1
            pending += _rows(msg.data, result)
            if len(pending) >= WRITE_BATCH_ROWS:
                await _write(session, pending)
                pending = []
            if sequence >= last:
                break
        await _write(session, pending)
    finally:
        await subscription.unsubscribe()
    return read


def _rows(raw: bytes, result: RebuildResult) -> Rows:
    try:
        envelope = Envelope.from_bytes(raw)
        rows = rows_of(envelope)
    except ValueError:
        # Undecodable or invalid: the live consumers dead-letter these, they never reach the projections.
        result.rejected += 1
        return []
    if rows is None:
        result.ignored += 1
        return []
    result.applied += 1
    return rows


async def _write(session: AsyncSession, rows: Rows) -> None:
    try:
        await write_rows(session, rows, spans=False)
    except Exception as exc:
        raise RebuildFailed(f"the projections could not be written: {type(exc).__name__}: {exc}") from exc
