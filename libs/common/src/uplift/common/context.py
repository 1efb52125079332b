"""Request-scoped context: the request id (correlation) and what caused the current work (causation)."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
causation_id_var: ContextVar[str | None] = ContextVar("causation_id", default=None)
# (principal, key) of the request's Idempotency-Key claim: the unit of work marks it done in its own commit.
idempotency_claim_var: ContextVar[tuple[str, str] | None] = ContextVar("idempotency_claim", default=None)
