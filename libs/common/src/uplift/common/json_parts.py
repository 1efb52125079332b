"""JSON values written exactly as pydantic writes them, for hot reads that format their answer directly.

A hot read (`GET /households/{id}`, `GET /claims/{id}`) answers what its response model's `model_dump_json()` would
write, without building and validating the models on every request. These write the values of a JSON text as
pydantic does: strings escaped by the JSON encoder's own C function (UTF-8 kept, as `ensure_ascii=False`),
datetimes in ISO 8601 with `Z` for UTC, money and ratios through `format_money` / `format_ratio` (what `MoneyStr`
and `RatioStr` serialise with), `null` for None. Each service's test compares its answer with the model's byte
for byte.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from uplift.common.money import format_money, format_ratio

__all__ = ["boolean", "date", "datetime", "money", "opt_string", "ratio", "string", "strings", "uuid"]

string = encode_basestring
"""A JSON string: `"..."`, escaped as `json.dumps(value, ensure_ascii=False)` and pydantic do."""


def opt_string(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def boolean(value: bool | None) -> str:
    return "null" if value is None else ("true" if value else "false")


def date(value: dt.date | None) -> str:
    return "null" if value is None else f'"{value.isoformat()}"'


def datetime(value: dt.datetime | None) -> str:
    """ISO 8601, `Z` for UTC (as pydantic writes it)."""
    if value is None:
        return "null"
    text = value.isoformat()
    return f'"{text[:-6]}Z"' if text.endswith("+00:00") else f'"{text}"'


def uuid(value: Any) -> str:
    """A UUID (the standard library's or asyncpg's) in its canonical form, or null."""
    return "null" if value is None else f'"{value}"'


# What `format_money` returns for a Decimal already in whole cents: its own plain text (negative zero aside).
_PLAIN_CENTS = re.compile(r"-?[0-9]{1,12}\.[0-9]{2}")


def money(value: Decimal | None) -> str:
    """`format_money`'s text; a Decimal of a money column (two places, in range) is written without re-parsing."""
    if value is None:
        return "null"
    if type(value) is Decimal:
        text = f"{value:f}"
        if _PLAIN_CENTS.fullmatch(text) and text != "-0.00":
            return f'"{text}"'
    return f'"{format_money(value)}"'


def ratio(value: Decimal | None) -> str:
    return "null" if value is None else f'"{format_ratio(value)}"'


def strings(values: Iterable[Any]) -> str:
    """A list of strings (or of UUIDs, written as strings)."""
    return "[" + ",".join([encode_basestring(str(value)) for value in values]) + "]"
