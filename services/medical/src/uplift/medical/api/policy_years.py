"""`/policy-years/{year}`: the five lines' parameters of a year (the DOMAIN.md table as JSON)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from uplift.common.app import ReadSessionDep, UnitOfWorkDep
from uplift.common.concurrency import set_etag
from uplift.common.errors import NotFound
from uplift.medical.api.access import MedicalReader, PolicySetter
from uplift.medical.domain import PolicyYear
from uplift.medical.service.policy_years import load_policy_year, set_policy_year

router = APIRouter(tags=["policy years"])

Year = Annotated[int, Path(ge=2000, le=2200, description="the policy year (a discharge date's year)")]


@router.get("/policy-years/{year}", response_model=PolicyYear, summary="The parameters of a policy year")
async def read_policy_year(year: Year, session: ReadSessionDep, _: MedicalReader, response: Response) -> PolicyYear:
    stored = await load_policy_year(session, year)
    if stored is None:
        raise NotFound(f"No policy year {year} is set.")
    set_etag(response, stored.version)
    return stored.policy


@router.put(
    "/policy-years/{year}",
    response_model=PolicyYear,
    summary="Set the parameters of a policy year (whole document)",
    responses={
        201: {"description": "created"},
        409: {"description": "the year has settled claims: only budgets may change, never below what is used"},
    },
)
async def put_policy_year(
    year: Year, document: PolicyYear, uow: UnitOfWorkDep, _: PolicySetter, response: Response
) -> PolicyYear:
    saved = await set_policy_year(uow, year=year, policy=document)
    await uow.commit()
    response.status_code = 201 if saved.created else 200
    set_etag(response, saved.stored.version)
    return saved.stored.policy
