"""The policy toolbox: `GET/POST/PATCH /policies`, `GET /households/{id}/eligible-policies`."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from uplift.common.app import ReadSessionDep, RuntimeDep, UnitOfWorkDep
from uplift.common.auth import Principal, Role, require
from uplift.common.concurrency import IF_MATCH_CHECKED, require_if_match, set_etag
from uplift.common.errors import FieldError, Unprocessable
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.common.scheduler import business_today
from uplift.registry.api.support_scope import AdminOnly, HouseholdSupportReader, household_in_scope
from uplift.registry.models.support import Policy
from uplift.registry.service import policies as policy_service
from uplift.registry.service.parameters import parameters_in_force

router = APIRouter(tags=["policies"])
Pages = Annotated[PageParams, Depends(page_params)]
PolicyReader = Annotated[
    Principal,
    Depends(
        require(
            Role.DISTRICT_ADMIN,
            Role.STREET_OPERATOR,
            Role.COMMUNITY_WORKER,
            Role.CADRE,
            Role.DEPARTMENT_ADMIN,
            perms=("registry:read",),
        )
    ),
]
PolicyCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=64)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Expression = Annotated[str, Field(min_length=1, max_length=4000)]


class PolicyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: PolicyCode
    area: str
    name_zh: Text
    name_en: Text
    description: Annotated[str, Field(max_length=2000)] = ""
    eligibility: Expression
    active: bool = True


class PolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    area: str | None = None
    name_zh: Text | None = None
    name_en: Text | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    eligibility: Expression | None = None
    active: bool | None = None


class PolicyRead(BaseModel):
    code: str
    area: str
    name_zh: str
    name_en: str
    description: str
    eligibility: str
    active: bool
    version: int
    updated_at: dt.datetime


class QualifyingPolicy(BaseModel):
    code: str
    area: str
    name_zh: str
    name_en: str
    applies_to: str  # "household" or "person"
    person_ids: list[str]  # the qualifying members (by id; names are on the household read, masked per rights)


class EligiblePolicies(BaseModel):
    household_id: str
    on: dt.date
    policies: list[QualifyingPolicy]
    not_evaluated: list[dict[str, str]]  # policies whose rule failed on this household's data, with why


def _read(policy: Policy) -> PolicyRead:
    return PolicyRead.model_validate(policy, from_attributes=True)


@router.get("/policies", response_model=Page[PolicyRead], summary="List the policy toolbox")
async def list_policies(
    principal: PolicyReader,
    session: ReadSessionDep,
    page: Pages,
    area: str | None = None,
    active: bool | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[PolicyRead]:
    conditions: list[sa.ColumnElement[bool]] = []
    if area is not None:
        conditions.append(Policy.area == area)
    if active is not None:
        conditions.append(Policy.active == active)
    if updated_since is not None:
        conditions.append(Policy.updated_at >= updated_since)
    if page.cursor:
        conditions.append(Policy.code > str(page.cursor[0]))
    rows = await session.execute(sa.select(Policy).where(*conditions).order_by(Policy.code).limit(page.limit + 1))
    return make_page([_read(row) for row in rows.scalars()], page.limit, key=lambda item: [item.code])


@router.get("/policies/{code}", response_model=PolicyRead, summary="Read a policy")
async def read_policy(code: str, principal: PolicyReader, session: ReadSessionDep, response: Response) -> PolicyRead:
    policy = await policy_service.get_policy(session, code)
    set_etag(response, policy.version)
    return _read(policy)


@router.post("/policies", status_code=201, response_model=PolicyRead, summary="Add a policy")
async def create_policy(body: PolicyCreate, principal: AdminOnly, uow: UnitOfWorkDep, response: Response) -> PolicyRead:
    """The eligibility expression is compiled first: 422 with `line` and `column` when it does not."""
    policy = await policy_service.create_policy(uow.session, body.model_dump())
    await uow.commit()
    set_etag(response, policy.version)
    return _read(policy)


@router.patch("/policies/{code}", response_model=PolicyRead, summary="Change a policy", dependencies=[IF_MATCH_CHECKED])
async def update_policy(
    code: str, body: PolicyUpdate, principal: AdminOnly, uow: UnitOfWorkDep, request: Request, response: Response
) -> PolicyRead:
    """`If-Match` is checked when sent."""
    policy = await policy_service.get_policy(uow.session, code, for_update=True)
    if request.headers.get("if-match") is not None:
        require_if_match(request, policy.version)
    changes = body.model_dump(exclude_unset=True)
    nulls = [field for field, value in changes.items() if value is None]
    if nulls:
        raise Unprocessable("These fields cannot be null.", errors=[FieldError(field, "null") for field in nulls])
    policy = await policy_service.update_policy(uow.session, policy, changes)
    await uow.commit()
    set_etag(response, policy.version)
    return _read(policy)


@router.get(
    "/households/{household_id}/eligible-policies",
    response_model=EligiblePolicies,
    summary="Policies the household or its members qualify for",
)
async def eligible_policies(
    household_id: uuid.UUID,
    principal: HouseholdSupportReader,
    session: ReadSessionDep,
    runtime: RuntimeDep,
    on: dt.date | None = None,
) -> EligiblePolicies:
    household = await household_in_scope(session, principal, household_id)
    day = on or business_today(runtime.settings.timezone)
    params = await parameters_in_force(session, day)
    report = await policy_service.eligible_policies(session, household.id, day, params)
    return EligiblePolicies(
        household_id=str(household.id),
        on=day,
        policies=[
            QualifyingPolicy(
                code=item.policy.code,
                area=item.policy.area,
                name_zh=item.policy.name_zh,
                name_en=item.policy.name_en,
                applies_to=item.eligibility.applies_to,
                person_ids=list(item.eligibility.person_ids),
            )
            for item in report.eligible
        ],
        not_evaluated=[{"code": code, "reason": reason} for code, reason in report.failed],
    )
