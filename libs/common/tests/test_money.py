"""Money and ratio helpers: half-up rounding, strict parsing, two-place strings on the wire."""

from __future__ import annotations

import decimal
import json
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from uplift.common.money import (
    CENT,
    MoneyStr,
    NonNegativeMoney,
    PositiveMoney,
    RatioStr,
    format_money,
    format_ratio,
    parse_money,
    parse_ratio,
    round_money,
    round_ratio,
)


class Amounts(BaseModel):
    amount: MoneyStr
    non_negative: NonNegativeMoney = Decimal("0.00")
    positive: PositiveMoney = Decimal("1.00")
    ratio: RatioStr = Decimal("0")


# --- round_money


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("0.005", "0.01"),
        ("2.675", "2.68"),  # a float would give 2.67: 2.675 is 2.67499999… in binary
        ("2.665", "2.67"),  # half-up, not banker's rounding (which gives 2.66)
        ("-2.675", "-2.68"),  # half away from zero
        ("0.004", "0.00"),
        ("1234.5", "1234.50"),
        ("4709.6000", "4709.60"),
    ],
)
def test_round_money_rounds_half_up_to_the_cent(value: str, rounded: str) -> None:
    assert str(round_money(Decimal(value))) == rounded


def test_round_money_never_returns_negative_zero() -> None:
    assert str(round_money(Decimal("-0.004"))) == "0.00"


def test_round_money_ignores_the_callers_decimal_context() -> None:
    with decimal.localcontext(decimal.Context(prec=3, rounding=decimal.ROUND_DOWN)):
        assert round_money(Decimal("12345.675")) == Decimal("12345.68")


def test_round_money_accepts_int() -> None:
    assert str(round_money(7)) == "7.00"


def test_round_money_refuses_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        round_money(Decimal("NaN"))


# --- parse_money


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("1234.50", "1234.50"),
        ("1234.5", "1234.50"),
        ("1234", "1234.00"),
        ("-12.3", "-12.30"),
        ("1.230", "1.23"),  # trailing zeros change nothing
        ("-0.00", "0.00"),  # zero has no sign
        ("007.10", "7.10"),
        (42, "42.00"),
        (Decimal("17920.00"), "17920.00"),
        (Decimal("1E+3"), "1000.00"),  # a Decimal's exponent is its own business; its value is whole cents
    ],
)
def test_parse_money_reads_whole_cents(value: str | int | Decimal, parsed: str) -> None:
    amount = parse_money(value)
    assert isinstance(amount, Decimal)
    assert str(amount) == parsed
    assert amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "value",
    [
        "1.234",  # a third decimal would need rounding: the caller decides that, not the parser
        "0.001",
        Decimal("2.675"),
        "1e3",  # exponents are not money notation
        "1E-2",
        "NaN",
        "Infinity",
        "-Infinity",
        Decimal("NaN"),
        Decimal("-Infinity"),
        "abc",
        "",
        " 1.00",
        "1.00 ",
        "+1.00",
        ".50",
        "1.",
        "1,000.00",
        "9" * 39,  # more digits than any amount (and the decimal context) holds
        "9" * 41,  # refused by length before parsing
    ],
)
def test_parse_money_refuses_what_is_not_whole_cents(value: str | Decimal) -> None:
    with pytest.raises(ValueError):
        parse_money(value)


@pytest.mark.parametrize("value", [True, False, 1.5, None, [1]])
def test_parse_money_refuses_other_types_with_value_error(value: object) -> None:
    with pytest.raises(ValueError):
        parse_money(value)  # type: ignore[arg-type]


# --- format_money


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("1234.5"), "1234.50"),
        (Decimal("0"), "0.00"),
        (0, "0.00"),
        (Decimal("-0.00"), "0.00"),
        (Decimal("-12.3"), "-12.30"),
        (Decimal("3E+6"), "3000000.00"),  # never an exponent in the text
        (Decimal("0.01"), "0.01"),
    ],
)
def test_format_money_always_writes_two_places(amount: Decimal | int, text: str) -> None:
    assert format_money(amount) == text


def test_format_money_refuses_fractions_of_a_cent_instead_of_rounding_them() -> None:
    with pytest.raises(ValueError, match="two decimal places"):
        format_money(Decimal("1.005"))


def test_cent_is_one_hundredth() -> None:
    assert Decimal(1) / 100 == CENT


# --- ratios


def test_round_ratio_gives_the_reference_exit_rate() -> None:
    # DOMAIN.md: 690 of 3,407 households exited -> 0.2025
    assert round_ratio(Decimal(690) / Decimal(3407)) == Decimal("0.2025")


@pytest.mark.parametrize(
    ("value", "places", "rounded"),
    [
        ("0.20255", 4, "0.2026"),
        ("0.13394666", 4, "0.1339"),  # oop_ratio of DOMAIN.md case 1: 4018.40 / 30000.00
        ("0.125", 2, "0.13"),
        ("0.5", 4, "0.5000"),
    ],
)
def test_round_ratio_rounds_half_up(value: str, places: int, rounded: str) -> None:
    assert str(round_ratio(Decimal(value), places)) == rounded


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("0.90", "0.90"), ("0.5", "0.5"), ("1", "1"), ("0", "0"), ("0.1339", "0.1339"), ("0.123400", "0.1234")],
)
def test_parse_ratio_keeps_the_scale_it_was_written_in(value: str, parsed: str) -> None:
    assert format_ratio(parse_ratio(value)) == parsed


@pytest.mark.parametrize("value", ["1.0001", "-0.1", "0.12345", "2", "1e-1", "NaN"])
def test_parse_ratio_refuses_values_outside_zero_to_one_or_too_precise(value: str) -> None:
    with pytest.raises(ValueError):
        parse_ratio(value)


# --- the pydantic types


def test_money_field_is_a_decimal_in_python_and_a_two_place_string_in_json() -> None:
    amounts = Amounts.model_validate({"amount": "1234.5"})
    assert amounts.amount == Decimal("1234.50")
    assert amounts.model_dump()["amount"] == Decimal("1234.50")
    assert json.loads(amounts.model_dump_json())["amount"] == "1234.50"
    assert amounts.model_dump(mode="json")["amount"] == "1234.50"


@pytest.mark.parametrize(("number", "text"), [("1234.5", "1234.50"), ("1234.50", "1234.50"), ("7", "7.00")])
def test_money_field_accepts_json_numbers_with_at_most_two_decimals(number: str, text: str) -> None:
    amounts = Amounts.model_validate_json(f'{{"amount": {number}}}')
    assert amounts.model_dump(mode="json")["amount"] == text


def test_money_field_refuses_a_float_with_binary_noise() -> None:
    with pytest.raises(ValidationError, match="two decimal places"):
        Amounts.model_validate({"amount": 0.1 + 0.2})


def test_money_field_refuses_a_json_number_with_three_decimals() -> None:
    with pytest.raises(ValidationError):
        Amounts.model_validate_json('{"amount": 1.005}')


def test_money_field_reads_a_json_exponent_number_but_not_an_exponent_string() -> None:
    # a JSON number arrives as a float, its notation lost; a string keeps it, and "1e3" is not money notation
    assert Amounts.model_validate_json('{"amount": 1e3}').amount == Decimal("1000.00")
    with pytest.raises(ValidationError):
        Amounts.model_validate_json('{"amount": "1e3"}')


@pytest.mark.parametrize("value", [True, None, "1.234", "NaN", float("inf"), float("nan")])
def test_money_field_refuses_non_amounts(value: object) -> None:
    with pytest.raises(ValidationError):
        Amounts.model_validate({"amount": value})


def test_non_negative_money_refuses_a_cent_below_zero_but_takes_negative_zero() -> None:
    with pytest.raises(ValidationError, match="must not be negative"):
        Amounts.model_validate({"amount": "0", "non_negative": "-0.01"})
    negative_zero = Amounts.model_validate({"amount": "0", "non_negative": "-0.00"})
    assert negative_zero.model_dump(mode="json")["non_negative"] == "0.00"


def test_positive_money_refuses_zero() -> None:
    with pytest.raises(ValidationError, match="must be positive"):
        Amounts.model_validate({"amount": "0", "positive": "0.00"})


def test_ratio_field_serialises_as_a_string() -> None:
    amounts = Amounts.model_validate_json('{"amount": "1", "ratio": 0.1339}')
    assert amounts.ratio == Decimal("0.1339")
    assert amounts.model_dump(mode="json")["ratio"] == "0.1339"


@pytest.mark.parametrize("value", ["1.5", -0.1, "0.12345", 0.1 + 0.2])
def test_ratio_field_refuses_values_outside_zero_to_one_or_too_precise(value: object) -> None:
    with pytest.raises(ValidationError):
        Amounts.model_validate({"amount": "1", "ratio": value})


def test_json_schema_says_money_is_written_as_a_two_place_string() -> None:
    schema = Amounts.model_json_schema(mode="serialization")["properties"]["amount"]
    assert schema["type"] == "string"
    assert schema["pattern"] == r"^-?[0-9]+\.[0-9]{2}$"
