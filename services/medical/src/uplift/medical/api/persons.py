"""`/persons/{person_id}/accumulators`: a person's running totals for a policy year."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel

from uplift.common.app import ReadSessionDep
from uplift.common.errors import NotFound
from uplift.common.money import MoneyStr
from uplift.medical.api.access import MedicalReader
from uplift.medical.service.claims import get_accumulators
from uplift.medical.service.insured_persons import persons_table

router = APIRouter(tags=["persons"])

BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")


class AccumulatorsRead(BaseModel):
    """Over the person's settled, not reversed claims of the year."""

    person_id: uuid.UUID
    policy_year: int
    admissions: int
    basic_paid: MoneyStr
    ci_base: MoneyStr
    ci_paid: MoneyStr
    assistance_paid: MoneyStr
    charity_paid: MoneyStr


@router.get(
    "/persons/{person_id}/accumulators",
    response_model=AccumulatorsRead,
    summary="The person's running totals for a policy year (default: this year)",
)
async def read_accumulators(
    person_id: uuid.UUID,
    session: ReadSessionDep,
    _: MedicalReader,
    year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
) -> AccumulatorsRead:
    known = (await session.execute(sa.select(sa.exists().where(persons_table.c.person_id == person_id)))).scalar_one()
    if not known:
        raise NotFound(f"No insured person {person_id}.")
    policy_year = year if year is not None else dt.datetime.now(BUSINESS_ZONE).year
    acc = await get_accumulators(session, person_id, policy_year)
    return AccumulatorsRead(
        person_id=person_id,
        policy_year=policy_year,
        admissions=acc.admissions,
        basic_paid=acc.basic_paid,
        ci_base=acc.ci_base,
        ci_paid=acc.ci_paid,
        assistance_paid=acc.assistance_paid,
        charity_paid=acc.charity_paid,
    )
