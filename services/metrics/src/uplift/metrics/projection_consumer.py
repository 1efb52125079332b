"""The metrics consumers: the platform's `EventConsumer`, with a batch fast path for projecting.

The platform applies each message in two savepoints with an inbox insert and a parked-event check around the
handler: about ten round trips per event, which caps a consumer at a few hundred events a second. The
projectors never park and never emit, so a batch can go faster with the same guarantees:

1. one `INSERT … ON CONFLICT DO NOTHING RETURNING` puts the whole batch into the inbox and says which events
   are new (the others are duplicates, acked and skipped);
2. the projection lock (shared) and the projection version bump are taken once for the batch;
3. every new event of a projected type goes through its projector, in stream order, without savepoints;
4. one commit, then every message is acked.

If anything in the batch fails (a payload that does not validate, a database error), the whole transaction is
rolled back and the batch goes through the platform's path instead, message by message, with its retries,
NAKs and dead letters: so the fast path changes how fast events land, never what lands.
"""

from __future__ import annotations

from typing import Any

import structlog
from nats.aio.msg import Msg
from sqlalchemy.dialects.postgresql import insert as pg_insert

from uplift.common.consumer import EVENTS_HANDLED, EventConsumer
from uplift.common.envelope import Envelope
from uplift.common.unit_of_work import UnitOfWork
from uplift.metrics.projections import PROJECTORS, apply_events, hold_projections_shared

log = structlog.get_logger("uplift.metrics.consumer")


class ProjectionConsumer(EventConsumer):
    """An `EventConsumer` that applies a batch of projected events in one go (see the module docstring)."""

    async def handle_batch(self, msgs: list[Msg]) -> None:
        if not msgs:
            return
        try:
            applied = await self._apply_batch(msgs)
        except Exception as exc:
            log.info("batch_fallback", consumer=self.name, size=len(msgs), error=f"{type(exc).__name__}: {exc}")
            await super().handle_batch(msgs)
            return
        if self.on_committed is not None:
            self.on_committed()
        for outcome, count in applied.items():
            EVENTS_HANDLED.labels(self.name, outcome).inc(count)
        for msg in msgs:
            try:
                await msg.ack()
            except Exception as exc:  # the inbox makes the redelivery harmless
                log.warning("ack_failed", consumer=self.name, error=str(exc))

    async def _apply_batch(self, msgs: list[Msg]) -> dict[str, int]:
        envelopes = [Envelope.from_bytes(msg.data) for msg in msgs]
        outcomes = {"applied": 0, "duplicate": 0, "ignored": 0}
        async with UnitOfWork(self.sessions, platform=self.platform, source=f"uplift/{self.service}") as uow:
            session = uow.session
            inbox = self.platform.inbox
            first_of_each: dict[Any, Envelope] = {}
            for envelope in envelopes:
                first_of_each.setdefault(envelope.id, envelope)
            new_ids = set(
                (
                    await session.execute(
                        pg_insert(inbox)
                        .values(
                            [
                                {"consumer": self.name, "event_id": e.id, "event_type": e.type}
                                for e in first_of_each.values()
                            ]
                        )
                        .on_conflict_do_nothing()
                        .returning(inbox.c.event_id)
                    )
                ).scalars()
            )
            projected = [e for e in first_of_each.values() if e.id in new_ids and e.type in PROJECTORS]
            if projected:
                await hold_projections_shared(session, writer=f"consumer:{self.stream.lower()}")
            await apply_events(session, projected)
            await uow.commit()
        outcomes["applied"] = len(projected)
        outcomes["ignored"] = len(new_ids) - len(projected)
        outcomes["duplicate"] = len(envelopes) - len(new_ids)
        return outcomes
