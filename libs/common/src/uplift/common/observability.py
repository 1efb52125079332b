"""Structured JSON logs without personal data, request ids, and Prometheus metrics."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from uplift.common.context import request_id_var

# Keys that may carry personal data never reach a log line, whatever a caller passes.
PII_KEYS = frozenset(
    {
        "name",
        "full_name",
        "id_number",
        "phone",
        "address",
        "contact_name",
        "contact_phone",
        "diagnosis",
        "note",
    }
)
_ID_NUMBER = re.compile(r"\b\d{17}[\dXx]\b")
_PHONE = re.compile(r"\b1[3-9]\d{9}\b")

HTTP_REQUESTS = Counter(
    "uplift_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "uplift_http_request_seconds",
    "HTTP request latency",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def scrub_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: drop PII keys, and blank anything shaped like an ID number or a mobile number."""
    for key in list(event_dict):
        if key in PII_KEYS:
            event_dict[key] = "[redacted]"
        elif isinstance(event_dict[key], str):
            value = _ID_NUMBER.sub("[id-redacted]", event_dict[key])
            event_dict[key] = _PHONE.sub("[phone-redacted]", value)
    return event_dict


def _add_request_id(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    rid = request_id_var.get()
    if rid is not None:
        event_dict.setdefault("request_id", rid)
    return event_dict


def configure_logging(service: str, *, level: str = "INFO", json_logs: bool = True) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_id,
        structlog.processors.format_exc_info,
        scrub_personal_data,
    ]
    processors.append(structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)


class RequestContextMiddleware:
    """Accepts or generates `X-Request-ID`, echoes it, and records per-route metrics (pure ASGI: cheap)."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:128]
                break
        rid = rid or uuid.uuid4().hex
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            HTTP_REQUESTS.labels(self.service, scope["method"], path, str(status)).inc()
            HTTP_LATENCY.labels(self.service, path).observe(time.perf_counter() - started)
            request_id_var.reset(token)


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
