"""Idempotent event consumers: one durable pull consumer per (consuming service, source stream).

A batch of messages is handled in one database transaction, each message inside its own savepoint:
1. `inbox` gets `(consumer, event_id)` with ON CONFLICT DO NOTHING; a duplicate is acked and skipped;
2. the handler for the event's `type` runs with a UnitOfWork sharing that transaction (its own events go to the
   outbox in the same commit); unknown types are recorded and acked;
3. a handler that raises `ParentMissing` has its event parked; it is applied when an event about the parent
   commits (the parent's key is `<aggregate>:<subject>`);
4. a handler that fails is rolled back to its savepoint and NAKed with backoff; after the last attempt the event
   goes to `dead_letters` (listable and retryable through the admin API) and is terminated.
Messages are acked only after the commit, so a crash anywhere redelivers and the inbox skips what was applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from uplift.common.context import causation_id_var, request_id_var
from uplift.common.contracts import aggregate_of
from uplift.common.db import PlatformTables, is_infrastructure_error, is_schema_behind_code, new_id
from uplift.common.envelope import Envelope
from uplift.common.nats_link import NatsLink, ensure_stream
from uplift.common.unit_of_work import UnitOfWork

log = structlog.get_logger("uplift.consumer")

EVENTS_HANDLED = Counter("uplift_events_handled_total", "Events handled", ["consumer", "outcome"])

Handler = Callable[[UnitOfWork, Envelope], Awaitable[None]]


class ParentMissing(Exception):
    """Raised by a handler when the event's parent (e.g. a person's household) is not known yet."""

    def __init__(self, aggregate: str, aggregate_id: object) -> None:
        super().__init__(f"{aggregate} {aggregate_id} not known yet")
        self.parent_key = f"{aggregate}:{aggregate_id}"


@dataclass(frozen=True)
class ConsumerSpec:
    """What a service consumes from one source stream."""

    stream: str
    handlers: Mapping[str, Handler]
    # A service that needs a variant of the consumer loop (e.g. batched projections) names its subclass here.
    consumer_class: type[EventConsumer] | None = None

    def handler_for(self, event_type: str) -> Handler | None:
        return self.handlers.get(event_type)


@dataclass
class Outcome:
    status: str  # applied | duplicate | ignored | parked | failed
    error: str | None = None


class EventConsumer:
    def __init__(
        self,
        *,
        service: str,
        spec: ConsumerSpec,
        sessions: async_sessionmaker[AsyncSession],
        platform: PlatformTables,
        nats: NatsLink,
        batch_size: int = 256,
        max_deliver: int = 5,
        backoff: list[float] | None = None,
        ack_wait: float = 30.0,
        duplicate_window: float = 120.0,
        stream_replicas: int = 1,
        on_committed: Callable[[], None] | None = None,
    ) -> None:
        self.service = service
        self.spec = spec
        self.stream = spec.stream
        self.name = f"{service}-{spec.stream.lower()}"  # durable and inbox consumer name
        self.sessions = sessions
        self.platform = platform
        self.nats = nats
        self.batch_size = batch_size
        self.max_deliver = max_deliver
        self.backoff = backoff or [0.5, 2.0, 5.0, 15.0, 30.0]
        self.ack_wait = ack_wait
        self.duplicate_window = duplicate_window
        self.stream_replicas = stream_replicas
        self.on_committed = on_committed
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.sweep_interval = 5.0
        self._last_sweep = time.monotonic()
        self._outage_naks = 0  # batches NAKed in a row because our database failed

    # lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.name}")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _subscribe(self) -> Any:
        js = self.nats.js
        await ensure_stream(js, self.stream, duplicate_window=self.duplicate_window, replicas=self.stream_replicas)
        config = ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            # Unlimited on the server: dead-lettering is ours alone, so a message is never dropped silently
            # (an outage of our database must not use up a message's deliveries).
            max_deliver=-1,
            max_ack_pending=max(self.batch_size * 4, 1000),
        )
        return await js.pull_subscribe(f"{self.stream.lower()}.>", durable=self.name, stream=self.stream, config=config)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.nats.wait_connected()
                sub = await self._subscribe()
                log.info("consumer_started", consumer=self.name, stream=self.stream)
                while not self._stopping:
                    await self._maybe_sweep_parked()
                    try:
                        msgs = await sub.fetch(self.batch_size, timeout=1.0)
                    except TimeoutError:
                        continue
                    try:
                        await self.handle_batch(msgs)
                    except Exception:
                        # Our database (not a handler) failed: ask for the batch again soon, not after ack_wait,
                        # and sooner the shorter the outage (0.5 s, 1 s, 2 s, ... up to the last backoff).
                        self._outage_naks += 1
                        delay = min(0.25 * 2**self._outage_naks, self.backoff[-1])
                        for msg in msgs:
                            with contextlib.suppress(Exception):
                                await msg.nak(delay=delay)
                        raise
                    self._outage_naks = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer_error", consumer=self.name, error=str(exc))
                await asyncio.sleep(1.0)

    async def _maybe_sweep_parked(self) -> None:
        if time.monotonic() - self._last_sweep < self.sweep_interval:
            return
        self._last_sweep = time.monotonic()
        try:
            await self.sweep_parked()
        except Exception as exc:
            log.warning("parked_sweep_failed", consumer=self.name, error=str(exc))

    async def sweep_parked(self, older_than: float | None = None) -> int:
        """Try parked events again, each in its own transaction; returns how many were applied.

        With replicas sharing a durable, a child can be parked by one replica while another applies its parent
        (neither sees the other's uncommitted row), so releasing on the parent's arrival is not enough.
        """
        parked = self.platform.parked_events
        age = self.sweep_interval if older_than is None else older_than
        async with self.sessions() as session:
            candidates = (
                (
                    await session.execute(
                        sa.select(parked.c.event_id)
                        .where(
                            parked.c.consumer == self.name,
                            parked.c.parked_at < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, age),
                        )
                        .order_by(parked.c.parked_at)
                        .limit(500)
                    )
                )
                .scalars()
                .all()
            )
        applied = 0
        for event_id in candidates:
            async with UnitOfWork(self.sessions, platform=self.platform, source=f"uplift/{self.service}") as uow:
                row = (
                    await uow.session.execute(
                        sa.delete(parked)
                        .where(parked.c.consumer == self.name, parked.c.event_id == event_id)
                        .returning(parked.c.envelope)
                    )
                ).first()
                if row is None:
                    continue  # released meanwhile
                envelope = Envelope.model_validate(row.envelope)
                outcome = await self.apply(uow, envelope)
                if outcome.status == "failed":
                    await self._dead_letter(uow.session, envelope, outcome.error or "", attempts=1)
                applied += outcome.status == "applied"
                await uow.commit()
        if applied and self.on_committed is not None:
            self.on_committed()
        return applied

    # handling ------------------------------------------------------------------------------------------

    async def handle_batch(self, msgs: list[Msg]) -> None:
        """Handle fetched messages in one transaction, then ack/nak/term each according to its outcome.

        The fast path runs the whole batch without savepoints (one inbox statement, handlers in order, one
        parked-events statement). If any handler raises, that transaction is rolled back and the careful path
        runs the batch again with a savepoint per event, reusing the failure it already saw instead of calling
        the failing handler twice in one delivery.
        """
        decoded: list[tuple[Msg, Envelope | None, str | None]] = []
        for msg in msgs:
            try:
                decoded.append((msg, Envelope.from_bytes(msg.data), None))
            except Exception as exc:
                decoded.append((msg, None, f"undecodable message: {exc}"))
        known_failures: dict[object, str] = {}
        outcomes = await self._fast_batch(decoded, known_failures)
        if outcomes is None:
            outcomes = await self._careful_batch(decoded, known_failures)
        if self.on_committed is not None:
            self.on_committed()
        for msg, outcome, received in outcomes:
            EVENTS_HANDLED.labels(self.name, outcome.status).inc()
            with contextlib.suppress(Exception):
                if outcome.status == "failed":
                    delay = self.backoff[min(_delivered(msg) - 1, len(self.backoff) - 1)]
                    log.warning(
                        "event_failed",
                        consumer=self.name,
                        event_id=str(received.id) if received else None,
                        event_type=received.type if received else None,
                        attempt=_delivered(msg),
                        error=outcome.error,
                    )
                    if received is None and _delivered(msg) >= self.max_deliver:
                        await msg.term()
                    else:
                        await msg.nak(delay=delay)
                elif outcome.status == "dead_lettered":
                    log.error(
                        "event_dead_lettered",
                        consumer=self.name,
                        event_id=str(received.id) if received else None,
                    )
                    await msg.term()
                else:
                    await msg.ack()

    async def _fast_batch(
        self, decoded: list[tuple[Msg, Envelope | None, str | None]], known_failures: dict[object, str]
    ) -> list[tuple[Msg, Outcome, Envelope | None]] | None:
        if any(envelope is None for _, envelope, _ in decoded):
            return None
        inbox = self.platform.inbox
        async with UnitOfWork(self.sessions, platform=self.platform, source=f"uplift/{self.service}") as uow:
            session = uow.session
            envelopes = [envelope for _, envelope, _ in decoded if envelope is not None]
            inserted = {
                row[0]
                for row in await session.execute(
                    sa.text(
                        f'INSERT INTO "{inbox.schema}".inbox (consumer, event_id, event_type) '  # noqa: S608
                        "SELECT :consumer, i, t FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[])) AS u(i, t) "
                        "ON CONFLICT DO NOTHING RETURNING event_id"
                    ),
                    {"consumer": self.name, "ids": [e.id for e in envelopes], "types": [e.type for e in envelopes]},
                )
            }
            outcomes: list[tuple[Msg, Outcome, Envelope | None]] = []
            parents: list[str] = []
            for msg, envelope, _ in decoded:
                assert envelope is not None
                if envelope.id not in inserted:
                    outcomes.append((msg, Outcome("duplicate"), envelope))
                    continue
                inserted.discard(envelope.id)  # the same event twice in one batch applies once
                handler = self.spec.handler_for(envelope.type)
                if handler is None:
                    outcomes.append((msg, Outcome("ignored"), envelope))
                    continue
                token_r = request_id_var.set(envelope.correlationid)
                token_c = causation_id_var.set(str(envelope.id))
                try:
                    await handler(uow, envelope)
                except ParentMissing:
                    return None  # the careful path parks it
                except Exception as exc:
                    if _retry_later(exc, self.name):
                        raise
                    known_failures[envelope.id] = f"{type(exc).__name__}: {exc}"
                    log.debug("handler_failed", consumer=self.name, error=traceback.format_exc())
                    return None
                finally:
                    request_id_var.reset(token_r)
                    causation_id_var.reset(token_c)
                outcomes.append((msg, Outcome("applied"), envelope))
                parents.append(f"{aggregate_of(envelope.type)}:{envelope.subject}")
            if parents and not await self._release_parked_many(uow, parents):
                return None
            await uow.commit()
        return outcomes

    async def _careful_batch(
        self, decoded: list[tuple[Msg, Envelope | None, str | None]], known_failures: dict[object, str]
    ) -> list[tuple[Msg, Outcome, Envelope | None]]:
        outcomes: list[tuple[Msg, Outcome, Envelope | None]] = []
        async with UnitOfWork(self.sessions, platform=self.platform, source=f"uplift/{self.service}") as uow:
            for msg, envelope, decode_error in decoded:
                if envelope is None:
                    outcomes.append((msg, Outcome("failed", decode_error), None))
                    continue
                attempts = _delivered(msg)
                failure = known_failures.get(envelope.id)
                outcome = Outcome("failed", failure) if failure else await self.apply(uow, envelope)
                if outcome.status == "failed" and attempts >= self.max_deliver:
                    await self._dead_letter(uow.session, envelope, outcome.error or "", attempts)
                    outcome = Outcome("dead_lettered", outcome.error)
                outcomes.append((msg, outcome, envelope))
            await uow.commit()
        return outcomes

    async def _release_parked_many(self, uow: UnitOfWork, parent_keys: list[str]) -> bool:
        """Apply events parked for any of `parent_keys`; False when one of them failed."""
        parked = self.platform.parked_events
        rows = (
            await uow.session.execute(
                sa.delete(parked)
                .where(parked.c.consumer == self.name, parked.c.parent_key.in_(set(parent_keys)))
                .returning(parked.c.envelope)
            )
        ).all()
        for row in sorted(rows, key=lambda r: r.envelope.get("data", {}).get("seq") or 0):
            child = Envelope.model_validate(row.envelope)
            outcome = await self.apply(uow, child)
            if outcome.status == "failed":  # the child's own fault: it must not block its parent
                await self._dead_letter(uow.session, child, outcome.error or "", attempts=1)
        return True

    async def apply(self, uow: UnitOfWork, envelope: Envelope) -> Outcome:
        """Apply one event inside a savepoint of `uow`'s transaction; never raises for a handler error."""
        session = uow.session
        try:
            async with session.begin_nested():
                outcome = await self._apply_in_savepoint(uow, envelope)
                if outcome.status == "applied":
                    await uow.flush_events()
                    await self._release_parked(uow, envelope)
                return outcome
        except Exception as exc:
            if _retry_later(exc, self.name):
                raise  # the database is unreachable or behind the code: abort the batch; never a dead letter
            uow.discard_events()
            log.debug("handler_failed", consumer=self.name, error=traceback.format_exc())
            return Outcome("failed", f"{type(exc).__name__}: {exc}")

    async def _apply_in_savepoint(self, uow: UnitOfWork, envelope: Envelope) -> Outcome:
        session = uow.session
        inbox = self.platform.inbox
        inserted = await session.execute(
            pg_insert(inbox)
            .values(consumer=self.name, event_id=envelope.id, event_type=envelope.type)
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        if inserted.first() is None:
            return Outcome("duplicate")
        handler = self.spec.handler_for(envelope.type)
        if handler is None:
            return Outcome("ignored")  # a consumer tolerates event types it does not know
        token_r = request_id_var.set(envelope.correlationid)
        token_c = causation_id_var.set(str(envelope.id))
        try:
            async with session.begin_nested():
                await handler(uow, envelope)
        except ParentMissing as missing:
            uow.discard_events()
            # Not applied yet: forget the inbox row so the event counts as new when it is released.
            await session.execute(
                sa.delete(inbox).where(inbox.c.consumer == self.name, inbox.c.event_id == envelope.id)
            )
            await session.execute(
                pg_insert(self.platform.parked_events)
                .values(
                    consumer=self.name,
                    event_id=envelope.id,
                    parent_key=missing.parent_key,
                    envelope=envelope.to_jsonable(),
                )
                .on_conflict_do_nothing()
            )
            return Outcome("parked")
        finally:
            request_id_var.reset(token_r)
            causation_id_var.reset(token_c)
        return Outcome("applied")

    async def _release_parked(self, uow: UnitOfWork, parent: Envelope) -> None:
        """Apply events that waited for `parent`'s aggregate, now that it is known."""
        parked = self.platform.parked_events
        key = f"{aggregate_of(parent.type)}:{parent.subject}"
        rows = (
            await uow.session.execute(
                sa.delete(parked)
                .where(parked.c.consumer == self.name, parked.c.parent_key == key)
                .returning(parked.c.envelope)
            )
        ).all()
        for row in sorted(rows, key=lambda r: r.envelope.get("data", {}).get("seq") or 0):
            child = Envelope.model_validate(row.envelope)
            outcome = await self.apply(uow, child)
            if outcome.status == "failed":  # the child's own fault: it must not block its parent
                await self._dead_letter(uow.session, child, outcome.error or "", attempts=1)

    async def _dead_letter(self, session: AsyncSession, envelope: Envelope, error: str, attempts: int) -> None:
        table = self.platform.dead_letters
        await session.execute(
            pg_insert(table)
            .values(
                id=new_id(),
                consumer=self.name,
                event_id=envelope.id,
                event_type=envelope.type,
                subject=envelope.subject,
                envelope=envelope.to_jsonable(),
                error=error[:4000],
                attempts=attempts,
            )
            .on_conflict_do_update(
                index_elements=[table.c.consumer, table.c.event_id],
                set_={"error": error[:4000], "attempts": attempts, "status": "open", "retried_at": None},
            )
        )

    async def retry_dead_letter(self, envelope: Envelope) -> Outcome:
        """Run a dead-lettered event's handler again, outside NATS, in its own transaction."""
        async with UnitOfWork(self.sessions, platform=self.platform, source=f"uplift/{self.service}") as uow:
            outcome = await self.apply(uow, envelope)
            if outcome.status != "failed":
                table = self.platform.dead_letters
                await uow.session.execute(
                    sa.update(table)
                    .where(table.c.consumer == self.name, table.c.event_id == envelope.id)
                    .values(status="retried", retried_at=sa.func.now())
                )
            await uow.commit()
        return outcome


def _delivered(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:
        return 1


async def upsert_snapshot(
    session: AsyncSession,
    table: sa.Table,
    values: Mapping[str, Any],
    *,
    key: tuple[str, ...],
    seq_column: str = "seq",
) -> bool:
    """Insert a projection row or replace it only when `values` carries a newer `seq` (newest snapshot wins).

    Returns True when the row was written, False when a newer (or equal) snapshot was already held.
    """
    insert = pg_insert(table).values(**values)
    update_cols = {c: insert.excluded[c] for c in values if c not in key}
    stmt = insert.on_conflict_do_update(
        index_elements=[table.c[k] for k in key],
        set_=update_cols,
        where=table.c[seq_column] < insert.excluded[seq_column],
    ).returning(table.c[key[0]])
    return (await session.execute(stmt)).first() is not None


def _retry_later(exc: BaseException, consumer: str) -> bool:
    """Errors that are not the event's fault: the database is unreachable, or lacks what the code needs (a service
    deployed before its migration ran). The batch is aborted and NAKed; it never counts toward dead letters."""
    if is_infrastructure_error(exc):
        return True
    if is_schema_behind_code(exc):
        log.warning("schema_behind_code", consumer=consumer, error=str(exc).splitlines()[0][:300])
        return True
    return False
