"""Who may do what in the helper half of the registry (API.md, Authentication and authorisation).

- district_admin: everything; street_operator / community_worker: households of their street / community;
- cadre: the households it is actively paired with (its token's `cadre_id`): read, record visits and measures;
- department_admin: reads pairings and visits of its department (`org` = department code);
- integrator: `registry:read` for reads, `registry:write` for writes.
A household outside the caller's scope is 404, a role the operation is never open to 403.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.auth import Principal, Role, ensure_in_scope, require
from uplift.common.errors import BadRequest, FieldError, NotFound
from uplift.common.pagination import PageParams
from uplift.registry.models.households import Household
from uplift.registry.models.support import Pairing
from uplift.registry.service.pairings import HouseholdPlace, household_place

HOUSEHOLD_NOT_FOUND = "No such household."

AdminOnly = Annotated[Principal, Depends(require(Role.DISTRICT_ADMIN, perms=("registry:write",)))]
HelperReader = Annotated[
    Principal,
    Depends(
        require(
            Role.DISTRICT_ADMIN,
            Role.STREET_OPERATOR,
            Role.COMMUNITY_WORKER,
            Role.DEPARTMENT_ADMIN,
            perms=("registry:read",),
        )
    ),
]
PairingReader = Annotated[
    Principal,
    Depends(
        require(
            Role.DISTRICT_ADMIN,
            Role.STREET_OPERATOR,
            Role.COMMUNITY_WORKER,
            Role.DEPARTMENT_ADMIN,
            Role.CADRE,
            perms=("registry:read",),
        )
    ),
]
PairingWriter = Annotated[
    Principal,
    Depends(require(Role.DISTRICT_ADMIN, Role.STREET_OPERATOR, Role.COMMUNITY_WORKER, perms=("registry:write",))),
]
HouseholdSupportReader = Annotated[
    Principal,
    Depends(
        require(Role.DISTRICT_ADMIN, Role.STREET_OPERATOR, Role.COMMUNITY_WORKER, Role.CADRE, perms=("registry:read",))
    ),
]
HouseholdSupportWriter = Annotated[
    Principal,
    Depends(
        require(Role.DISTRICT_ADMIN, Role.STREET_OPERATOR, Role.COMMUNITY_WORKER, Role.CADRE, perms=("registry:write",))
    ),
]
AlertWriter = PairingWriter


def cadre_uuid(principal: Principal) -> uuid.UUID | None:
    """The caller's cadre id when it is a cadre (a malformed claim matches nothing)."""
    if not principal.has_role(Role.CADRE) or principal.cadre_id is None:
        return None
    try:
        return uuid.UUID(principal.cadre_id)
    except ValueError:
        return None


def acts_as_cadre(principal: Principal) -> bool:
    """A cadre token without a wider role: scoped to its own pairings."""
    return principal.has_role(Role.CADRE) and not principal.has_role(
        Role.DISTRICT_ADMIN, Role.STREET_OPERATOR, Role.COMMUNITY_WORKER
    )


def acts_as_department(principal: Principal) -> bool:
    return principal.has_role(Role.DEPARTMENT_ADMIN) and not principal.has_role(
        Role.DISTRICT_ADMIN, Role.STREET_OPERATOR, Role.COMMUNITY_WORKER
    )


def paired_with_cadre(cadre_id: uuid.UUID | None) -> sa.ColumnElement[bool]:
    """Households the cadre is actively paired with (a condition on `Household.id`)."""
    if cadre_id is None:
        return sa.false()
    return sa.exists().where(
        Pairing.household_id == Household.id,
        Pairing.active,
        Pairing.helper_kind == "cadre",
        Pairing.helper_id == cadre_id,
    )


def household_scope(principal: Principal) -> sa.ColumnElement[bool]:
    """Households the caller may see, as a condition on `Household` (for list queries)."""
    if acts_as_cadre(principal):
        return paired_with_cadre(cadre_uuid(principal))
    if principal.is_district_wide and principal.org is None:
        return sa.true()
    code = principal.division_code
    if principal.is_district_wide and code is not None:
        return Household.community_code.startswith(code)
    if code is None or not principal.has_role(Role.STREET_OPERATOR, Role.COMMUNITY_WORKER, Role.DISTRICT_ADMIN):
        return sa.false()
    return Household.community_code.startswith(code)


async def household_in_scope(session: AsyncSession, principal: Principal, household_id: uuid.UUID) -> HouseholdPlace:
    """The household, or 404 when it does not exist or lies outside the caller's scope."""
    household = await household_place(session, household_id)
    if household is None:
        raise NotFound(HOUSEHOLD_NOT_FOUND)
    if acts_as_cadre(principal):
        cadre_id = cadre_uuid(principal)
        paired = cadre_id is not None and await session.scalar(
            sa.select(
                sa.exists().where(
                    Pairing.household_id == household_id,
                    Pairing.active,
                    Pairing.helper_kind == "cadre",
                    Pairing.helper_id == cadre_id,
                )
            )
        )
        if not paired:
            raise NotFound(HOUSEHOLD_NOT_FOUND)
        return household
    ensure_in_scope(principal, household.community_code, detail=HOUSEHOLD_NOT_FOUND)
    return household


def cursor_id(page: PageParams, position: int = 0) -> uuid.UUID:
    """The id at `position` of a keyset cursor (400 when the cursor is not one we issued)."""
    try:
        return uuid.UUID(str(page.cursor[position]))  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        raise BadRequest("The cursor is not valid.", errors=[FieldError("cursor", "not a cursor we issued")]) from None
