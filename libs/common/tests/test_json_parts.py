"""The JSON values of hot reads are byte for byte what pydantic writes for the same values."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from pydantic import BaseModel

from uplift.common import json_parts as j
from uplift.common.money import MoneyStr, RatioStr

UTC = dt.UTC
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
TEXTS = [
    "",
    "plain",
    '"quoted" \\ back',
    "张三·阿依古丽 😀",
    "ctrl \x00\x01\x1f\x7f \u2028\u2029",
    "</script>",
    "\t\n\r",
]


class Values(BaseModel):
    text: str | None
    flag: bool | None
    day: dt.date | None
    moment: dt.datetime | None
    ident: uuid.UUID | None
    amount: MoneyStr | None
    share: RatioStr | None
    words: list[str]


def written(values: Values) -> str:
    return (
        f'{{"text":{j.opt_string(values.text)},"flag":{j.boolean(values.flag)},"day":{j.date(values.day)},'
        f'"moment":{j.datetime(values.moment)},"ident":{j.uuid(values.ident)},"amount":{j.money(values.amount)},'
        f'"share":{j.ratio(values.share)},"words":{j.strings(values.words)}}}'
    )


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 11, 27, 20, 31, 5, 123456, tzinfo=UTC),
        dt.datetime(2026, 11, 27, 20, 31, 5, tzinfo=UTC),  # no fraction
        dt.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=SHANGHAI),
        dt.datetime(2026, 1, 2, 3, 4, 5),  # naive
    ],
)
def test_values_are_written_as_pydantic_writes_them(text: str, moment: dt.datetime) -> None:
    values = Values(
        text=text,
        flag=bool(len(text) % 2),
        day=dt.date(2012, 2, 29),
        moment=moment,
        ident=uuid.uuid4(),
        amount=Decimal("-1234.50"),
        share=Decimal("0.1339"),
        words=[text, "cleaning", ""],
    )
    assert written(values) == values.model_dump_json()


def test_nulls_zeros_and_empty_lists() -> None:
    values = Values(text=None, flag=None, day=None, moment=None, ident=None, amount=None, share=None, words=[])
    assert written(values) == values.model_dump_json()
    zeros = Values(
        text="0", flag=False, day=dt.date(1, 1, 1), moment=None, ident=None, amount=Decimal("-0.00"),
        share=Decimal("0"), words=[],
    )  # fmt: skip
    assert written(zeros) == zeros.model_dump_json()
    assert j.money(Decimal("-0.00")) == '"0.00"'
    assert j.strings([uuid.UUID(int=1)]) == '["00000000-0000-0000-0000-000000000001"]'


@pytest.mark.parametrize(
    "amount",
    ["0.00", "-0.00", "0", "0E-2", "1234.5", "1234.50", "-1234.50", "999999999999.99", "-999999999999.99", "1E+2",
     "100", "0.10", "5.000", "00012.30"],
)  # fmt: skip
def test_money_is_exactly_format_money(amount: str) -> None:
    from uplift.common.money import format_money

    assert j.money(Decimal(amount)) == f'"{format_money(Decimal(amount))}"'
    assert j.money(int(Decimal(amount))) == f'"{format_money(int(Decimal(amount)))}"'


@pytest.mark.parametrize("amount", ["0.001", "1000000000000.00", "NaN", "Infinity"])
def test_money_refuses_what_format_money_refuses(amount: str) -> None:
    from uplift.common.money import format_money

    with pytest.raises(ValueError):
        format_money(Decimal(amount))
    with pytest.raises(ValueError):
        j.money(Decimal(amount))
