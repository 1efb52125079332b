"""Optimistic concurrency over HTTP: `ETag: "<version>"` on reads, `If-Match` required on updates.

An operation that checks `If-Match` declares the header with `dependencies=[IF_MATCH_REQUIRED]` (428 without
it, 412 for another version) or `[IF_MATCH_CHECKED]` (checked only when sent: 412); the OpenAPI document then
shows the header and those statuses.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Response

from uplift.common.errors import PreconditionFailed, PreconditionRequired
from uplift.common.openapi import may_raise


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


@may_raise(412, 428)
async def _if_match_required(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The ETag of the version you read (e.g. `"3"`), or `*`. Required: 428 without it, 412 when '
            "the resource changed since.",
        ),
    ] = None,
) -> None:
    """Declares the header; the endpoint checks it against the version it loads (`require_if_match`)."""


@may_raise(412)
async def _if_match_checked(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='Optional: the ETag of the version you read (e.g. `"3"`), or `*`; when sent, 412 if the '
            "resource changed since.",
        ),
    ] = None,
) -> None:
    """Declares the optional header; the endpoint checks it when sent."""


IF_MATCH_REQUIRED = Depends(_if_match_required)
IF_MATCH_CHECKED = Depends(_if_match_checked)
