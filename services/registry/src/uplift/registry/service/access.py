"""Who may touch which household (API.md's table): the role dependencies and the org/pairing scope.

Operators see the households of their org (a street operator its street, a community worker its community,
a district admin everything); a cadre only the households it is paired with (its token's `cadre_id`);
integrators act with `registry:read` / `registry:write`. Anything outside the caller's scope is 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.auth import Principal, Role, require
from uplift.common.errors import NotFound

OPERATOR_ROLES = (Role.DISTRICT_ADMIN, Role.STREET_OPERATOR, Role.COMMUNITY_WORKER)

HouseholdReader = Annotated[
    Principal,
    Depends(require(*OPERATOR_ROLES, Role.CADRE, any_of_perms=("registry:read", "registry:write"))),
]
HouseholdWriter = Annotated[Principal, Depends(require(*OPERATOR_ROLES, perms=("registry:write",)))]
DistrictAdmin = Annotated[Principal, Depends(require(Role.DISTRICT_ADMIN))]

# registry-B's pairings, read through the columns both halves agreed on.
pairings = sa.table(
    "pairings",
    sa.column("household_id"),
    sa.column("helper_id"),
    sa.column("active"),
    schema="registry",
)


def scoped_by_org(principal: Principal) -> bool:
    """Operators and integrators are scoped by org; a cadre (without an operator role) by its pairings."""
    return principal.has_role(*OPERATOR_ROLES) or principal.is_integrator


async def pairings_exist(session: AsyncSession) -> bool:
    return bool(await session.scalar(sa.text("SELECT to_regclass('registry.pairings') IS NOT NULL")))


def cadre_uuid(principal: Principal) -> uuid.UUID | None:
    try:
        return uuid.UUID(principal.cadre_id) if principal.cadre_id else None
    except ValueError:
        return None


async def may_see(session: AsyncSession, principal: Principal, household_id: uuid.UUID, community_code: str) -> bool:
    """Whether the household lies inside the caller's scope."""
    if scoped_by_org(principal):
        return principal.in_scope(community_code)
    cadre_id = cadre_uuid(principal)
    if not principal.has_role(Role.CADRE) or cadre_id is None or not await pairings_exist(session):
        return False
    found = await session.scalar(
        sa.select(sa.literal(1)).where(
            pairings.c.household_id == household_id, pairings.c.helper_id == cadre_id, pairings.c.active
        )
    )
    return found is not None


async def ensure_may_see(
    session: AsyncSession, principal: Principal, household_id: uuid.UUID, community_code: str
) -> None:
    if not await may_see(session, principal, household_id, community_code):
        raise NotFound(f"household {household_id} not found")


async def list_scope(session: AsyncSession, principal: Principal, households: Any) -> sa.ColumnElement[bool] | None:
    """The condition restricting a household list to the caller's scope (None: no restriction)."""
    if scoped_by_org(principal):
        if principal.is_district_wide and (principal.org is None or principal.division_code is None):
            return None
        code = principal.division_code
        if code is None:
            return sa.false()
        return households.c.community_code.startswith(code, autoescape=True)
    cadre_id = cadre_uuid(principal)
    if not principal.has_role(Role.CADRE) or cadre_id is None or not await pairings_exist(session):
        return sa.false()
    paired = sa.select(pairings.c.household_id).where(pairings.c.helper_id == cadre_id, pairings.c.active)
    return households.c.id.in_(paired)


async def helper_condition(session: AsyncSession, households: Any, helper_id: uuid.UUID) -> sa.ColumnElement[bool]:
    """Households whose active helper is `helper_id` (false when pairing is not installed)."""
    if not await pairings_exist(session):
        return sa.false()
    paired = sa.select(pairings.c.household_id).where(pairings.c.helper_id == helper_id, pairings.c.active)
    return households.c.id.in_(paired)
