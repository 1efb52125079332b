"""Money and ratios as `Decimal` (DOMAIN.md: yuan with two decimals, never float, half-up when computed).

On the wire (API.md, EVENTS.md) money is a decimal string with two places, `"1234.50"`. Parsing never rounds:
a value with non-zero digits below the cent is an error, because choosing to round is the caller's business
(`round_money` at the step that computes the amount).

Accepted input for money and ratios:
- strings in plain decimal notation: `"1234.5"`, `"1234.50"`, `"-3"`, `"1.230"` (trailing zeros are harmless);
  not `"1e3"`, `"+1"`, `" 1"`, `".5"`, `"1."`, `"NaN"` (exponents and signs are never what money means);
- `int` and `Decimal` (finite); never `bool`;
- floats only through the pydantic types (JSON numbers arrive as floats): accepted when their shortest
  repr has no more decimals than allowed (`1234.5` yes, `0.1 + 0.2` no).
Negative zero is normalised to zero, so `"-0.00"` reads and prints as `0.00`.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, PlainSerializer, PlainValidator, WithJsonSchema

__all__ = [
    "CENT",
    "MoneyStr",
    "NonNegativeMoney",
    "PositiveMoney",
    "RatioStr",
    "format_money",
    "format_ratio",
    "parse_money",
    "parse_ratio",
    "round_money",
    "round_ratio",
]

CENT = Decimal("0.01")
RATIO_PLACES = 4  # DOMAIN.md rounds ratios (scores, indicators, oop_ratio) to four places

# Explicit context: results must not depend on whatever context the calling thread set up.
_CONTEXT = Context(prec=34, rounding=ROUND_HALF_UP)
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_MAX_TEXT = 40  # longer strings are not amounts; refuse before parsing them


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("NaN and Infinity are not amounts")
    # -0 prints as "-0.00"; zero has no sign here
    return value.copy_abs() if value.is_zero() else value


def _to_decimal(value: object) -> Decimal:
    """A finite Decimal from a plain decimal string, an int or a Decimal; ValueError for anything else."""
    if isinstance(value, bool):  # bool is an int; True is not one yuan
        raise ValueError("a boolean is not an amount")
    if isinstance(value, Decimal):
        return _finite(value)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        if len(value) > _MAX_TEXT or not _PLAIN_DECIMAL.fullmatch(value):
            raise ValueError(f"not a plain decimal number: {value[:_MAX_TEXT]!r}")
        return _finite(Decimal(value))
    raise ValueError(f"expected a decimal string, an int or a Decimal, not {type(value).__name__}")


def _from_json_number(value: float) -> Decimal:
    """The decimal a JSON number was written as, as far as a float can tell: its shortest repr."""
    if not math.isfinite(value):
        raise ValueError("NaN and Infinity are not amounts")
    return _finite(Decimal(repr(value)))


def _quantize(value: Decimal, quantum: Decimal) -> Decimal:
    try:
        return _finite(value.quantize(quantum, rounding=ROUND_HALF_UP, context=_CONTEXT))
    except InvalidOperation as exc:  # more digits than the context holds
        raise ValueError(f"amount out of range: {value}") from exc


def _exactly(value: Decimal, quantum: Decimal, message: str) -> Decimal:
    quantized = _quantize(value, quantum)
    if quantized != value:
        raise ValueError(f"{message}: {value}")
    return quantized


def round_money(amount: Decimal | int) -> Decimal:
    """Round half-up to the cent: `round_money(Decimal("2.675")) == Decimal("2.68")`."""
    return _quantize(_to_decimal(amount), CENT)


MAX_AMOUNT = Decimal("999999999999.99")  # what a numeric(14, 2) column holds


def parse_money(value: str | int | Decimal) -> Decimal:
    """An amount with two places, from text, an int or a Decimal; never rounds (ValueError instead)."""
    amount = _exactly(_to_decimal(value), CENT, "an amount has at most two decimal places")
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"an amount is at most {MAX_AMOUNT} in absolute value")
    return amount


def format_money(amount: Decimal | int) -> str:
    """`"1234.50"`: always two places, never an exponent; ValueError if the amount is not whole cents."""
    return f"{parse_money(amount):f}"


def round_ratio(ratio: Decimal | int, places: int = RATIO_PLACES) -> Decimal:
    """Round half-up to `places` decimals: `round_ratio(Decimal("0.20255")) == Decimal("0.2026")`."""
    if places < 0:
        raise ValueError("places must be >= 0")
    return _quantize(_to_decimal(ratio), Decimal(1).scaleb(-places))


def parse_ratio(value: str | int | Decimal, places: int = RATIO_PLACES) -> Decimal:
    """A ratio in [0, 1] with at most `places` decimals, keeping the scale it was written in ("0.90")."""
    ratio = _to_decimal(value)
    quantized = _exactly(ratio, Decimal(1).scaleb(-places), f"a ratio has at most {places} decimal places")
    if not Decimal(0) <= ratio <= Decimal(1):
        raise ValueError(f"a ratio lies in [0, 1]: {ratio}")
    # keep "0.90" as written, but not a scale longer than allowed ("0.5000000" -> "0.5000")
    exponent = ratio.as_tuple().exponent
    return quantized if isinstance(exponent, int) and exponent < -places else ratio


def format_ratio(ratio: Decimal | int) -> str:
    """`"0.1339"`: plain notation, never an exponent."""
    return f"{_to_decimal(ratio):f}"


def _validate_money(value: Any) -> Decimal:
    if isinstance(value, float):
        value = _from_json_number(value)
    return parse_money(value)


def _validate_ratio(value: Any) -> Decimal:
    if isinstance(value, float):
        value = _from_json_number(value)
    return parse_ratio(value)


def _non_negative(amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValueError(f"amount must not be negative: {amount}")
    return amount


def _positive(amount: Decimal) -> Decimal:
    if amount <= 0:
        raise ValueError(f"amount must be positive: {amount}")
    return amount


_MONEY_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"

MoneyStr = Annotated[
    Decimal,
    PlainValidator(_validate_money),
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,2})?$"}, {"type": "number"}],
            "examples": ["1234.50"],
        },
        mode="validation",
    ),
    WithJsonSchema(
        {"type": "string", "pattern": _MONEY_PATTERN, "examples": ["1234.50"]}, mode="serialization"
    ),
]
"""An amount in yuan: a `Decimal` with two places in Python, `"1234.50"` in JSON."""

NonNegativeMoney = Annotated[MoneyStr, AfterValidator(_non_negative)]
PositiveMoney = Annotated[MoneyStr, AfterValidator(_positive)]

RatioStr = Annotated[
    Decimal,
    PlainValidator(_validate_ratio),
    PlainSerializer(format_ratio, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,4})?$"}, {"type": "number"}],
            "examples": ["0.1339"],
        },
        mode="validation",
    ),
    WithJsonSchema(
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$", "examples": ["0.1339"]}, mode="serialization"
    ),
]
"""A ratio in [0, 1] with at most four places: a `Decimal` in Python, `"0.1339"` in JSON."""
