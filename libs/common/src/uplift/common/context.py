"""Request-scoped context: the request id (correlation) and what caused the current work (causation)."""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from dataclasses import dataclass

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
causation_id_var: ContextVar[str | None] = ContextVar("causation_id", default=None)


@dataclass
class IdempotencyClaim:
    """The request's hold on its Idempotency-Key. `claimed_at` is the key row's `created_at` as this request set
    it: a request whose expired claim was taken over by a retry no longer matches it, so it can neither mark the
    key done nor store its answer. The unit of work marks the key done in its own commit (`marked`)."""

    principal: str
    key: str
    claimed_at: dt.datetime
    marked: bool = False


idempotency_claim_var: ContextVar[IdempotencyClaim | None] = ContextVar("idempotency_claim", default=None)
