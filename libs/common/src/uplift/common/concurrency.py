"""Optimistic concurrency over HTTP: `ETag: "<version>"` on reads, `If-Match` required on updates."""

from __future__ import annotations

from fastapi import Request, Response

from uplift.common.errors import PreconditionFailed, PreconditionRequired


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def require_if_match(request: Request, current_version: int) -> None:
    """428 when `If-Match` is missing, 412 when it names another version than `current_version`."""
    header = request.headers.get("if-match")
    if header is None:
        raise PreconditionRequired("This update needs an If-Match header with the ETag you read.")
    candidates = [c.strip() for c in header.split(",")]
    if "*" in candidates:
        return
    wanted = {c.removeprefix("W/") for c in candidates}
    if etag(current_version) not in wanted:
        raise PreconditionFailed(
            "The resource changed since you read it; read it again and retry.",
            current_etag=etag(current_version),
        )


def if_match_version(request: Request) -> int | None:
    """The version named by `If-Match` (for a conditional UPDATE ... WHERE version = :v), or None for `*`."""
    header = request.headers.get("if-match")
    if header is None:
        raise PreconditionRequired("This update needs an If-Match header with the ETag you read.")
    value = header.split(",")[0].strip().removeprefix("W/")
    if value == "*":
        return None
    try:
        return int(value.strip('"'))
    except ValueError:
        raise PreconditionFailed("If-Match does not name a version of this resource.") from None
