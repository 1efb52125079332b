"""One error hierarchy for every service, rendered as RFC 9457 problem details.

Raise a `ProblemError` subclass anywhere below the API layer; `install_problem_handlers` turns it (and
FastAPI's validation errors, unknown routes and unhandled exceptions) into `application/problem+json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://uplift.example/problems/"

log = structlog.get_logger("uplift.errors")


class FieldError(dict[str, str]):
    """`{"field": "members[0].id_number", "message": "bad check digit"}`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field=field, message=message)


class ProblemError(Exception):
    """An error that knows its HTTP status and renders as problem details."""

    status: int = 500
    slug: str = "internal"
    title: str = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = list(errors or [])
        self.headers = headers or {}
        self.extra = extra

    def to_problem(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", "Bad Request"


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not Found"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class IdempotencyKeyTaken(Conflict):
    """This request's Idempotency-Key claim expired and a retry took it over: the retry's outcome stands."""

    def __init__(self) -> None:
        super().__init__(
            "A retry with this Idempotency-Key took over while this request was still running; its outcome stands.",
            idempotency="taken_over",
        )


class PreconditionFailed(ProblemError):
    status, slug, title = 412, "precondition-failed", "Precondition Failed"


class PreconditionRequired(ProblemError):
    status, slug, title = 428, "precondition-required", "Precondition Required"


class Unprocessable(ProblemError):
    status, slug, title = 422, "validation", "Unprocessable Content"


class TooManyRequests(ProblemError):
    status, slug, title = 429, "rate-limited", "Too Many Requests"


class ServiceUnavailable(ProblemError):
    status, slug, title = 503, "unavailable", "Service Unavailable"


def problem_response(
    status: int, instance: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _loc_to_field(loc: Sequence[Any]) -> str:
    """`("body", "members", 0, "id_number")` -> `members[0].id_number`."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where = parts.pop(0)
        if not parts:
            return str(where)
        if where != "body":
            parts = [*parts]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error of `app` as problem details."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, request.url.path, exc.to_problem(request.url.path), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        malformed = False
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                malformed = True
            errors.append(FieldError(_loc_to_field(err.get("loc", ())), str(err.get("msg", "invalid"))))
        problem: ProblemError = (
            BadRequest("The request body is not valid JSON.", errors=errors)
            if malformed
            else Unprocessable("The request is invalid; see errors.", errors=errors)
        )
        return problem_response(problem.status, request.url.path, problem.to_problem(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:
            title = "Error"
        detail = exc.detail if isinstance(exc.detail, str) else title
        body = {
            "type": PROBLEM_BASE + title.lower().replace(" ", "-"),
            "title": title,
            "status": exc.status_code,
            "detail": detail,
            "instance": request.url.path,
        }
        return problem_response(exc.status_code, request.url.path, body, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        from uplift.common.db import is_infrastructure_error

        if is_infrastructure_error(exc):
            # Our own database is unreachable: say so (and nothing else), and when to try again.
            log.warning("database_unavailable", path=request.url.path, error_type=type(exc).__name__)
            problem = ServiceUnavailable("The service's database is unavailable; try again shortly.")
            return problem_response(503, request.url.path, problem.to_problem(request.url.path), {"Retry-After": "5"})
        # The stack goes to the log; the caller learns nothing about internals.
        log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
        body = ProblemError("An unexpected error occurred.").to_problem(request.url.path)
        return problem_response(500, request.url.path, body)
