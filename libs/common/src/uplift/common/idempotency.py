"""`Idempotency-Key` for POST: the same key and body returns the first response; another body is 409.

Keys are scoped by the caller (`sub` of its token) so two integrators cannot collide. The first request claims
the key (a row without a response); a concurrent repeat while it is in flight gets 409 "in progress"; a claim
whose request crashed before answering expires (`idempotency_claim_expiry_seconds`, a minute by default) and may
be taken over by a retry. The claim's `created_at` identifies its holder: a slow request whose claim was taken
over can neither commit (its unit of work finds the key no longer its own) nor store its answer. Only answers
below 500 are remembered: a 5xx may be retried with the same key.

Each 409 says which case it is in `idempotency`: `body_mismatch`, `in_progress`, `answer_lost` (the write
committed but its answer was lost with the process: read the resource) or `taken_over`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from uplift.common.context import IdempotencyClaim, idempotency_claim_var
from uplift.common.db import PlatformTables
from uplift.common.errors import PROBLEM_JSON, Conflict, ProblemError

DEFAULT_CLAIM_EXPIRY_SECONDS = 60.0
_REPLAYED_HEADERS = ("content-type", "etag", "location")


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        key_raw = headers.get(b"idempotency-key")
        state = getattr(scope.get("app"), "state", None)
        sessions: async_sessionmaker[AsyncSession] | None = getattr(state, "sessions", None)
        platform: PlatformTables | None = getattr(state, "platform", None)
        if not key_raw or sessions is None or platform is None:
            await self.app(scope, receive, send)
            return
        key = key_raw.decode("latin-1")[:200]
        principal = await _principal_of(state, headers.get(b"authorization", b"").decode("latin-1"))
        if principal is None:
            await self.app(scope, receive, send)  # the endpoint answers 401
            return

        body = await _read_body(receive)
        body_hash = hashlib.sha256(body).hexdigest()
        table = platform.idempotency_keys
        path = scope["path"]

        settings = getattr(state, "settings", None)
        expiry = dt.timedelta(
            seconds=getattr(settings, "idempotency_claim_expiry_seconds", DEFAULT_CLAIM_EXPIRY_SECONDS)
        )
        async with sessions() as session, session.begin():
            claimed_at = (
                await session.execute(
                    pg_insert(table)
                    .values(principal=principal, key=key, method="POST", path=path, body_hash=body_hash)
                    .on_conflict_do_nothing()
                    .returning(table.c.created_at)
                )
            ).scalar()
            existing = None
            if claimed_at is None:
                existing = (
                    await session.execute(
                        sa.select(table).where(table.c.principal == principal, table.c.key == key).with_for_update()
                    )
                ).first()
                if existing is not None and existing.status_code is None and existing.completed_at is None:
                    stale = existing.created_at < dt.datetime.now(dt.UTC) - expiry
                    if stale and existing.body_hash == body_hash and existing.path == path:
                        claimed_at = (
                            await session.execute(
                                sa.update(table)
                                .where(table.c.principal == principal, table.c.key == key)
                                .values(created_at=sa.func.clock_timestamp())
                                .returning(table.c.created_at)
                            )
                        ).scalar_one()
                        existing = None  # take the expired claim over
        if existing is not None:
            if existing.body_hash != body_hash or existing.path != path:
                await _send_problem(
                    scope,
                    send,
                    Conflict(
                        "This Idempotency-Key was used with a different request body.", idempotency="body_mismatch"
                    ),
                )
                return
            if existing.status_code is None and existing.completed_at is not None:
                await _send_problem(
                    scope,
                    send,
                    Conflict(
                        "A request with this Idempotency-Key was carried out but its answer was lost; read the "
                        "resource instead of sending it again.",
                        idempotency="answer_lost",
                    ),
                )
                return
            if existing.status_code is None:
                await _send_problem(
                    scope,
                    send,
                    Conflict("A request with this Idempotency-Key is in progress.", idempotency="in_progress"),
                )
                return
            await _replay(send, existing)
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def replay_body() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        assert claimed_at is not None
        claim_token = idempotency_claim_var.set(IdempotencyClaim(principal, key, claimed_at))
        try:
            await self.app(scope, replay_body, capture)
        finally:
            idempotency_claim_var.reset(claim_token)
            async with sessions() as session, session.begin():
                if captured["status"] < 500:
                    kept = {
                        k.decode(): v.decode()
                        for k, v in captured["headers"]
                        if k.decode().lower() in _REPLAYED_HEADERS
                    }
                    await session.execute(
                        sa.update(table)
                        .where(table.c.principal == principal, table.c.key == key, table.c.created_at == claimed_at)
                        .values(
                            status_code=captured["status"],
                            response_headers=kept,
                            response_body=captured["body"],
                            completed_at=sa.func.coalesce(table.c.completed_at, sa.func.now()),
                        )
                    )
                else:  # a 5xx: free the key for a retry, unless the write itself committed
                    await session.execute(
                        sa.delete(table).where(
                            table.c.principal == principal,
                            table.c.key == key,
                            table.c.created_at == claimed_at,
                            table.c.completed_at.is_(None),
                        )
                    )


async def _principal_of(state: Any, authorization: str) -> str | None:
    verifier = getattr(state, "token_verifier", None)
    if verifier is None or not authorization.lower().startswith("bearer "):
        return None
    token = authorization[7:].strip()
    try:
        if verifier.may_block and verifier.cached_principal(token) is None:
            principal = await asyncio.to_thread(verifier.verify, token)  # may fetch the JWKS
        else:
            principal = verifier.verify(token)
        return str(principal.sub)
    except Exception:
        return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            break
    return b"".join(chunks)


async def _replay(send: Send, row: Any) -> None:
    headers = [(k.encode(), v.encode()) for k, v in (row.response_headers or {}).items()]
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": row.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": row.response_body or b""})


async def _send_problem(scope: Scope, send: Send, problem: ProblemError) -> None:
    body = json.dumps(problem.to_problem(scope["path"])).encode()
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [(b"content-type", PROBLEM_JSON.encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
