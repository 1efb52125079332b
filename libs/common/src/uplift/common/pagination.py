"""Cursor pagination: `?limit=50&cursor=…` -> `{"items": [...], "next_cursor": "…" | null}`.

A cursor is the opaque, URL-safe encoding of the last item's sort key; lists are keyset-paginated on it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from uplift.common.errors import BadRequest, FieldError
from uplift.common.openapi import may_raise

T = TypeVar("T")

MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps([str(k) if not isinstance(k, int | float | str | None) else k for k in key])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except Exception:
        raise BadRequest(
            "The cursor is not valid.", errors=[FieldError("cursor", "not a cursor we issued")]
        ) from None
    if not isinstance(value, list):
        raise BadRequest("The cursor is not valid.", errors=[FieldError("cursor", "not a cursor we issued")])
    return value


class PageParams(BaseModel):
    limit: int
    cursor: list[Any] | None


@may_raise(400)  # a cursor that is not one we issued
async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = 50,
    cursor: Annotated[str | None, Query(description="opaque cursor from next_cursor")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=decode_cursor(cursor))


def make_page(rows: Sequence[T], limit: int, key: Any) -> Page[T]:
    """Build a page from up to `limit + 1` rows fetched in key order; `key(row)` gives the sort key."""
    items = list(rows[:limit])
    next_cursor = encode_cursor(key(items[-1])) if len(rows) > limit and items else None
    return Page[T](items=items, next_cursor=next_cursor)
