"""Helpers (the cadres and party branches that take responsibility for households) and their contracts.

Use cases take the session or unit of work and never commit. Org codes are checked against
`registry.org_units`: an unknown or wrong-kind code is a 422 naming the field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.contracts import Helper
from uplift.common.errors import FieldError, NotFound, Unprocessable
from uplift.registry.domain.pairing import HelperKind
from uplift.registry.domain.parameters import CadreRank
from uplift.registry.models.households import OrgUnit
from uplift.registry.models.support import Cadre, PartyBranch, ResponsibilityContract

CADRE_RANKS: tuple[CadreRank, ...] = ("district_leader", "division", "section", "staff")


@dataclass(frozen=True)
class HelperRecord:
    """A cadre or a branch as pairing, visits and plans see it."""

    kind: HelperKind
    id: uuid.UUID
    department_code: str | None
    rank: CadreRank | None
    active: bool
    home_street: str | None  # a cadre's home street; a community branch's street
    community_code: str | None = None

    @property
    def contract(self) -> Helper:
        """The `helper` part of pairing, visit and measure events."""
        return Helper(kind=self.kind, id=self.id, department_code=self.department_code)


async def org_unit_kinds(session: AsyncSession, codes: Sequence[str]) -> dict[str, str]:
    """Kind of each known code among `codes`."""
    if not codes:
        return {}
    rows = await session.execute(sa.select(OrgUnit.code, OrgUnit.kind).where(OrgUnit.code.in_(set(codes))))
    return {code: kind for code, kind in rows}


async def require_org_units(session: AsyncSession, expected: Sequence[tuple[str, str | None, str]]) -> None:
    """422 naming every field whose code is unknown or not of the expected kind: (field, code, kind)."""
    kinds = await org_unit_kinds(session, [code for _, code, _ in expected if code is not None])
    errors = [
        FieldError(field, f"{code!r} is not a known {kind}")
        for field, code, kind in expected
        if code is not None and kinds.get(code) != kind
    ]
    if errors:
        raise Unprocessable("Unknown org unit code.", errors=errors)


async def department_linked_streets(session: AsyncSession) -> dict[str, frozenset[str]]:
    """部门包街道: the streets linked to each department."""
    rows = await session.execute(sa.select(OrgUnit.code, OrgUnit.linked_streets).where(OrgUnit.kind == "department"))
    return {code: frozenset(linked or ()) for code, linked in rows}


# --------------------------------------------------------------------------------------------------- cadres


async def create_cadre(
    session: AsyncSession, *, name: str, rank: CadreRank, department_code: str, home_street_code: str
) -> Cadre:
    """Register a cadre after checking its department and home street."""
    await require_org_units(
        session,
        [("department_code", department_code, "department"), ("home_street_code", home_street_code, "street")],
    )
    cadre = Cadre(
        name=name,
        rank=rank,
        department_code=department_code,
        home_street_code=home_street_code,
        active=True,
    )
    session.add(cadre)
    await session.flush()
    return cadre


async def get_cadre(session: AsyncSession, cadre_id: uuid.UUID, *, for_update: bool = False) -> Cadre:
    stmt = sa.select(Cadre).where(Cadre.id == cadre_id)
    if for_update:
        stmt = stmt.with_for_update()
    cadre = (await session.execute(stmt)).scalar_one_or_none()
    if cadre is None:
        raise NotFound("No such cadre.")
    return cadre


# ------------------------------------------------------------------------------------------------- branches


async def create_branch(
    session: AsyncSession, *, name: str, department_code: str | None, community_code: str | None
) -> PartyBranch:
    """Register a party branch of a department or of a community (exactly one of them)."""
    if (department_code is None) == (community_code is None):
        raise Unprocessable(
            "A party branch belongs to a department or to a community.",
            errors=[FieldError("department_code", "give exactly one of department_code and community_code")],
        )
    await require_org_units(
        session,
        [("department_code", department_code, "department"), ("community_code", community_code, "community")],
    )
    branch = PartyBranch(name=name, department_code=department_code, community_code=community_code, active=True)
    session.add(branch)
    await session.flush()
    return branch


# -------------------------------------------------------------------------------------------------- helpers


def _cadre_record(cadre: Cadre) -> HelperRecord:
    rank = cast(CadreRank, cadre.rank)  # checked on the way in
    return HelperRecord("cadre", cadre.id, cadre.department_code, rank, cadre.active, cadre.home_street_code)


def _branch_record(branch: PartyBranch) -> HelperRecord:
    street = branch.community_code[:9] if branch.community_code else None
    return HelperRecord("branch", branch.id, branch.department_code, None, branch.active, street, branch.community_code)


async def find_helper(
    session: AsyncSession, kind: HelperKind, helper_id: uuid.UUID, *, for_update: bool = False
) -> HelperRecord | None:
    if kind == "cadre":
        cadre_stmt = sa.select(Cadre).where(Cadre.id == helper_id)
        cadre = (await session.execute(cadre_stmt.with_for_update() if for_update else cadre_stmt)).scalar()
        return None if cadre is None else _cadre_record(cadre)
    branch_stmt = sa.select(PartyBranch).where(PartyBranch.id == helper_id)
    branch = (await session.execute(branch_stmt.with_for_update() if for_update else branch_stmt)).scalar()
    return None if branch is None else _branch_record(branch)


async def require_helper(
    session: AsyncSession, kind: HelperKind, helper_id: uuid.UUID, *, field: str = "helper_id"
) -> HelperRecord:
    """The helper, or 422 naming `field` when there is no such active helper."""
    helper = await find_helper(session, kind, helper_id)
    if helper is None or not helper.active:
        raise Unprocessable("Unknown helper.", errors=[FieldError(field, f"no active {kind} {helper_id}")])
    return helper


# ------------------------------------------------------------------------------------------------ contracts


async def create_contract(
    session: AsyncSession,
    *,
    helper_kind: HelperKind,
    helper_id: uuid.UUID,
    signed_on: dt.date,
    period_from: dt.date,
    period_to: dt.date,
) -> ResponsibilityContract:
    """Record a responsibility contract (责任状) of a helper."""
    if period_to < period_from:
        raise Unprocessable(
            "The contract period ends before it starts.",
            errors=[FieldError("period.to", "must be on or after period.from")],
        )
    helper = await find_helper(session, helper_kind, helper_id)
    if helper is None:
        raise Unprocessable("Unknown helper.", errors=[FieldError("helper_id", f"no {helper_kind} {helper_id}")])
    contract = ResponsibilityContract(
        helper_kind=helper_kind,
        helper_id=helper_id,
        department_code=helper.department_code,
        signed_on=signed_on,
        period_from=period_from,
        period_to=period_to,
    )
    session.add(contract)
    await session.flush()
    return contract
