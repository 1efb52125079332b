"""`/funds/{year}`: the supplementary and charity funds of a year: budget, used, remaining."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from uplift.common.app import ReadSessionDep
from uplift.common.errors import NotFound
from uplift.common.money import MoneyStr
from uplift.medical.api.access import MedicalReader
from uplift.medical.service.funds import FundBalance, fund_balances

router = APIRouter(tags=["funds"])


class FundRead(BaseModel):
    budget: MoneyStr | None = Field(description="null: unlimited")
    used: MoneyStr
    remaining: MoneyStr | None = Field(description="null: unlimited")


class FundsRead(BaseModel):
    supplementary: FundRead
    charity: FundRead


def _fund(balance: FundBalance) -> FundRead:
    return FundRead(budget=balance.budget, used=balance.used, remaining=balance.remaining)


@router.get("/funds/{year}", response_model=FundsRead, summary="The year's funds")
async def read_funds(
    year: Annotated[int, Path(ge=2000, le=2200)], session: ReadSessionDep, _: MedicalReader
) -> FundsRead:
    funds = await fund_balances(session, year, count_unlimited=True)
    if not funds:
        raise NotFound(f"No policy year {year} is set.")
    return FundsRead(supplementary=_fund(funds["supplementary"]), charity=_fund(funds["charity"]))
