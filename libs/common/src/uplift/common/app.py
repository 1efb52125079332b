"""Builds a service's FastAPI app: health, metrics, docs, admin, errors, and the background workers.

A service's `main.py` describes itself with a `ServiceDefinition` and calls `create_service_app`; the lifespan
opens the engine, connects to NATS in the background (the service is up and ready without it), and starts the
relay, the consumers and the scheduler; shutdown stops them in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from uplift.common.admin import admin_router
from uplift.common.auth import AuthConfig, TokenVerifier
from uplift.common.errors import install_problem_handlers
from uplift.common.idempotency import IdempotencyMiddleware
from uplift.common.observability import RequestContextMiddleware, configure_logging, metrics_endpoint
from uplift.common.openapi import install_problem_documentation
from uplift.common.runtime import (
    ReadSessionDep,
    Runtime,
    RuntimeDep,
    ServiceDefinition,
    UnitOfWorkDep,
    get_runtime,
    read_session,
    unit_of_work,
)
from uplift.common.settings import ServiceSettings

__all__ = [
    "ReadSessionDep",
    "Runtime",
    "RuntimeDep",
    "ServiceDefinition",
    "UnitOfWorkDep",
    "create_service_app",
    "get_runtime",
    "read_session",
    "running",
    "unit_of_work",
]


def create_service_app(definition: ServiceDefinition, settings: ServiceSettings) -> FastAPI:
    configure_logging(definition.name, level=settings.log_level, json_logs=settings.log_json)
    prefix = f"/{definition.name}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(definition, settings)
        app.state.runtime = runtime
        app.state.sessions = runtime.sessions
        app.state.platform = runtime.platform
        for hook in definition.on_startup:
            result = hook(app)
            if asyncio.iscoroutine(result):
                await result
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=definition.title,
        description=definition.description,
        version=definition.version,
        openapi_url=f"{prefix}/openapi.json",
        docs_url=f"{prefix}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(AuthConfig.from_settings(settings))
    install_problem_handlers(app)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(RequestContextMiddleware, service=definition.name)

    @app.get(f"{prefix}/healthz", tags=["health"], summary="Process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        f"{prefix}/readyz",
        tags=["health"],
        summary="Ready unless the service's own database is down",
        responses={
            503: {
                "description": "Not ready: the database is down (the same JSON body, `status: not_ready`)",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
    async def readyz(request: Request) -> JSONResponse:
        runtime = get_runtime(request)
        started = time.perf_counter()
        db_ok = await runtime.database_ok()
        backlog = await runtime.outbox_backlog() if db_ok else None
        body = {
            "status": "ready" if db_ok else "not_ready",
            "database": "ok" if db_ok else "down",
            "nats": "ok" if runtime.nats.connected else "down",
            "outbox_backlog": backlog,
            "relay_active": runtime.relay.active,
            "checked_in_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        return JSONResponse(body, status_code=200 if db_ok else 503)

    app.add_route(f"{prefix}/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    app.include_router(admin_router(), prefix=f"{prefix}/v1/admin", tags=["admin"])
    for router in definition.routers:
        app.include_router(router, prefix=f"{prefix}/v1")
    install_problem_documentation(app)
    return app


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Run `app`'s lifespan outside a server (tests, scripts)."""
    async with app.router.lifespan_context(app):
        yield app
