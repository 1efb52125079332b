"""The year's funds (supplementary insurance 大病附加保险 and charity 慈善救助): budgets, what is used, low alarms.

No fund is ever overspent under any concurrency: money leaves a limited fund only through `take_from_fund`, a
single conditional `UPDATE … WHERE used + amount <= budget`, which either takes the whole amount or nothing (and
the table's check constraint refuses `used > budget` whatever the code does). An unlimited fund (charity with
budget null) keeps no counter; when a budget is set on it, its counter starts from the sum of what it paid.
Fund rows are always locked in `FUND_ORDER`, so two transactions touching both funds cannot deadlock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.contracts import FundLow
from uplift.common.unit_of_work import UnitOfWork
from uplift.medical.domain import crossed_low_threshold
from uplift.medical.models import Claim, Fund, table_of

FundName = Literal["charity", "supplementary"]
FUND_ORDER: tuple[FundName, ...] = ("charity", "supplementary")  # the order rows are locked in, everywhere

funds_table = table_of(Fund)
claims_table = table_of(Claim)


@dataclass(frozen=True)
class FundBalance:
    """A fund of one year: its budget (None = unlimited), what is used and when it counts as low."""

    fund: FundName
    policy_year: int
    budget: Decimal | None
    used: Decimal
    low_threshold_ratio: Decimal

    @property
    def remaining(self) -> Decimal | None:
        return None if self.budget is None else self.budget - self.used


def balance_of(row: Any) -> FundBalance:
    """A fund from a row holding the `funds` columns."""
    fund: FundName = "charity" if row.fund == "charity" else "supplementary"
    return FundBalance(fund, row.policy_year, row.budget, row.used, row.low_threshold_ratio)


_COLUMNS = (
    funds_table.c.policy_year,
    funds_table.c.fund,
    funds_table.c.budget,
    funds_table.c.used,
    funds_table.c.low_threshold_ratio,
)


async def fund_balances(
    session: AsyncSession, year: int, *, lock: bool = False, count_unlimited: bool = False
) -> dict[FundName, FundBalance]:
    """The year's funds by name; `lock=True` row-locks them (in `FUND_ORDER`) until the transaction ends.

    A limited fund's `used` is its counter. An unlimited fund keeps no counter (claims would all queue on one
    row for nothing): with `count_unlimited=True` its `used` is summed from the standing claims' lines.
    """
    stmt = sa.select(*_COLUMNS).where(funds_table.c.policy_year == year).order_by(funds_table.c.fund)
    if lock:
        stmt = stmt.with_for_update()
    balances = {balance.fund: balance for balance in (balance_of(row) for row in (await session.execute(stmt)).all())}
    if count_unlimited:
        for fund, balance in balances.items():
            if balance.budget is None:
                paid = claims_table.c[fund]
                total = sa.select(sa.func.coalesce(sa.func.sum(paid), 0)).where(
                    claims_table.c.policy_year == year, claims_table.c.status == "settled"
                )
                used = Decimal((await session.execute(total)).scalar_one())
                balances[fund] = dataclasses.replace(balance, used=used.quantize(Decimal("0.01")))
    return balances


# Built once: every claim that draws on a fund runs it (PERFORMANCE.md: cached statements on the write path too).
_TAKE = (
    sa.update(funds_table)
    .where(
        funds_table.c.policy_year == sa.bindparam("year"),
        funds_table.c.fund == sa.bindparam("fund_name"),
        sa.or_(
            funds_table.c.budget.is_(None),
            funds_table.c.used + sa.bindparam("amount", type_=funds_table.c.used.type) <= funds_table.c.budget,
        ),
    )
    .values(used=funds_table.c.used + sa.bindparam("amount", type_=funds_table.c.used.type))
    .returning(*_COLUMNS)
)


async def take_from_fund(session: AsyncSession, year: int, fund: FundName, amount: Decimal) -> FundBalance | None:
    """Take `amount` from the fund if it has that much left; the fund after it, or None (nothing taken)."""
    row = (await session.execute(_TAKE, {"year": year, "fund_name": fund, "amount": amount})).first()
    return None if row is None else balance_of(row)


async def give_back_to_fund(session: AsyncSession, year: int, fund: FundName, amount: Decimal) -> FundBalance:
    """Return `amount` to the fund (a reversed claim's share)."""
    stmt = (
        sa.update(funds_table)
        .where(funds_table.c.policy_year == year, funds_table.c.fund == fund)
        .values(used=funds_table.c.used - amount)
        .returning(*_COLUMNS)
    )
    return balance_of((await session.execute(stmt)).one())


def emit_if_low(uow: UnitOfWork, before: FundBalance, after: FundBalance) -> bool:
    """Emit `medical.fund.low` when the fund's remainder just fell under its threshold (once per crossing).

    `before` and `after` are the fund on either side of one change made under the row's lock, so exactly one
    transaction sees a given crossing.
    """
    if after.budget is None or after.remaining is None:
        return False
    remaining_before = before.remaining if before.remaining is not None else after.budget
    line_before = (before.budget if before.budget is not None else after.budget) * before.low_threshold_ratio
    was_above = remaining_before >= line_before
    if before.budget == after.budget:
        crossed = crossed_low_threshold(after.budget, remaining_before, after.remaining, after.low_threshold_ratio)
    else:  # the budget itself moved (a policy-year update): compare each side with its own line
        crossed = was_above and after.remaining < after.budget * after.low_threshold_ratio
    if crossed:
        payload = FundLow(
            fund=after.fund, policy_year=after.policy_year, remaining=after.remaining, budget=after.budget
        )
        uow.emit(FundLow.event_type, subject=payload.aggregate_id, data=payload)
    return crossed
