"""Pairing (党员包户): who helps a household now, manual and automatic pairing, and releases.

Every pairing write takes one transaction-level advisory lock, so quotas and "at most one active helper per
household" hold under concurrency (the partial unique index on active pairings is the last line).
Events: `registry.pairing.assigned` / `released`, aggregate = the household's pairing (subject = household id).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.contracts import Helper, PairingAssigned, PairingReleased
from uplift.common.db import advisory_key, new_id
from uplift.common.errors import Conflict, FieldError, NotFound, Unprocessable
from uplift.common.unit_of_work import UnitOfWork
from uplift.registry.db import platform
from uplift.registry.domain.pairing import HelperKind, PairingHelper, UnpairedHousehold, auto_pair
from uplift.registry.domain.parameters import CadreRank, Parameters
from uplift.registry.models.households import Household
from uplift.registry.models.support import Cadre, Pairing, PartyBranch
from uplift.registry.service.helpers import HelperRecord, department_linked_streets, find_helper
from uplift.registry.service.parameters import parameters_in_force

PAIRABLE_STATUSES = ("enrolled", "transition")
PAIRING_LOCK = advisory_key("uplift:registry:pairing")


async def lock_pairing(session: AsyncSession) -> None:
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(PAIRING_LOCK)))


async def assign_seqs(uow: UnitOfWork, aggregate_type: str, aggregate_ids: Sequence[str]) -> dict[str, int]:
    """Bump the version of many aggregates in one statement (the unit of work would take one per event)."""
    if not aggregate_ids:
        return {}
    if len(set(aggregate_ids)) != len(aggregate_ids):
        raise ValueError("assign_seqs needs distinct aggregate ids")
    table = platform.aggregate_versions
    stmt = sa.text(
        f"INSERT INTO {table.schema}.{table.name} (aggregate_type, aggregate_id, seq)"
        " SELECT :aggregate_type, unnest(CAST(:aggregate_ids AS text[])), 1"
        " ON CONFLICT (aggregate_type, aggregate_id)"
        f" DO UPDATE SET seq = {table.schema}.{table.name}.seq + 1"
        " RETURNING aggregate_id, seq"
    ).bindparams(sa.bindparam("aggregate_ids", type_=ARRAY(sa.Text)))
    rows = await uow.session.execute(stmt, {"aggregate_type": aggregate_type, "aggregate_ids": list(aggregate_ids)})
    return {aggregate_id: int(seq) for aggregate_id, seq in rows}


def _helper(kind: str, helper_id: uuid.UUID, department_code: str | None) -> Helper:
    return Helper(kind=cast(HelperKind, kind), id=helper_id, department_code=department_code)


async def _emit_pairing_events(
    uow: UnitOfWork,
    event: type[PairingAssigned] | type[PairingReleased],
    pairings: Iterable[tuple[uuid.UUID, str, uuid.UUID, str | None, str]],
    on: dt.date,
) -> None:
    """Emit one event per (household, helper kind, helper id, department, street), seqs assigned in bulk.

    The payloads are built as JSON-ready dicts of the `PairingAssigned`/`PairingReleased` shape (a test checks
    they parse as such): validating thousands of models would cost more than the whole pairing.
    """
    items = list(pairings)
    seqs = await assign_seqs(uow, "pairing", [str(household_id) for household_id, *_ in items])
    day = on.isoformat()
    for household_id, kind, helper_id, department_code, street_code in items:
        subject = str(household_id)
        payload = {
            "seq": None,
            "household_id": subject,
            "helper": {"kind": kind, "id": str(helper_id), "department_code": department_code},
            "street_code": street_code,
            "on": day,
        }
        uow.emit(event.event_type, subject=subject, data=payload, seq=seqs[subject])


def time_ordered_ids(count: int) -> list[uuid.UUID]:
    """`count` UUIDv7s in increasing order, made in bulk (`new_id` costs ~30 µs each, too much for 50,000).

    Layout (RFC 9562): 48-bit Unix milliseconds, version 7, a 12-bit counter keeping the batch in order
    (carried into the millisecond when it overflows), variant 0b10, 62 random bits.
    """
    millis = time.time_ns() // 1_000_000
    noise = os.urandom(8 * count)
    ids = []
    for index in range(count):
        stamp, counter = millis + (index >> 12), index & 0xFFF
        tail = int.from_bytes(noise[8 * index : 8 * index + 8], "big") & ((1 << 62) - 1)
        ids.append(uuid.UUID(int=(stamp << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | tail))
    return ids


async def insert_pairings(
    session: AsyncSession, rows: Sequence[tuple[uuid.UUID, str, uuid.UUID, str | None, str]], *, on: dt.date
) -> None:
    """Insert active pairings (household, helper kind, helper id, department, street) in one statement."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    stmt = sa.text(
        "INSERT INTO registry.pairings (id, household_id, helper_kind, helper_id, department_code, street_code,"
        " started_on, active, assigned_by)"
        " SELECT id, household_id, helper_kind, helper_id, department_code, street_code, :on, true, 'auto'"
        " FROM unnest(CAST(:ids AS uuid[]), CAST(:households AS uuid[]), CAST(:kinds AS text[]),"
        " CAST(:helpers AS uuid[]), CAST(:departments AS text[]), CAST(:streets AS text[]))"
        " AS pairing(id, household_id, helper_kind, helper_id, department_code, street_code)"
    ).bindparams(
        sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True))),
        sa.bindparam("households", type_=ARRAY(UUID(as_uuid=True))),
        sa.bindparam("kinds", type_=ARRAY(sa.Text)),
        sa.bindparam("helpers", type_=ARRAY(UUID(as_uuid=True))),
        sa.bindparam("departments", type_=ARRAY(sa.Text)),
        sa.bindparam("streets", type_=ARRAY(sa.Text)),
        sa.bindparam("on", type_=sa.Date),
    )
    await session.execute(
        stmt,
        {
            "ids": time_ordered_ids(len(rows)),
            "households": list(columns[0]),
            "kinds": list(columns[1]),
            "helpers": list(columns[2]),
            "departments": list(columns[3]),
            "streets": list(columns[4]),
            "on": on,
        },
    )


# ------------------------------------------------------------------------------------------ the contract API


async def active_helper(session: AsyncSession, household_id: uuid.UUID) -> Helper | None:
    """The household's active helper, or None."""
    row = (
        await session.execute(
            sa.select(Pairing.helper_kind, Pairing.helper_id, Pairing.department_code).where(
                Pairing.household_id == household_id, Pairing.active
            )
        )
    ).first()
    return None if row is None else _helper(row.helper_kind, row.helper_id, row.department_code)


async def release_pairings(uow: UnitOfWork, household_id: uuid.UUID, *, on: dt.date, reason: str) -> None:
    """End the household's active pairing (exit, relapse bookkeeping, operator) and emit `pairing.released`."""
    await _release(uow, Pairing.household_id == household_id, on=on, reason=reason)


async def release_helper_pairings(
    uow: UnitOfWork, helper_kind: HelperKind, helper_id: uuid.UUID, *, on: dt.date, reason: str
) -> int:
    """End every active pairing of a helper (a cadre deactivated); returns how many."""
    return await _release(
        uow, sa.and_(Pairing.helper_kind == helper_kind, Pairing.helper_id == helper_id), on=on, reason=reason
    )


async def _release(uow: UnitOfWork, condition: sa.ColumnElement[bool], *, on: dt.date, reason: str) -> int:
    rows = (
        await uow.session.execute(
            sa.update(Pairing)
            .where(condition, Pairing.active)
            .values(active=False, ended_on=on, end_reason=reason, updated_at=sa.func.now())
            .returning(
                Pairing.household_id,
                Pairing.helper_kind,
                Pairing.helper_id,
                Pairing.department_code,
                Pairing.street_code,
            )
        )
    ).all()
    await _emit_pairing_events(uow, PairingReleased, [tuple(row) for row in rows], on)  # type: ignore[misc]
    return len(rows)


# ------------------------------------------------------------------------------------------------- manual


@dataclass(frozen=True)
class HouseholdPlace:
    id: uuid.UUID
    status: str
    street_code: str
    community_code: str


async def household_place(session: AsyncSession, household_id: uuid.UUID) -> HouseholdPlace | None:
    row = (
        await session.execute(
            sa.select(
                Household.id,
                Household.status,
                Household.street_code,
                Household.community_code,
            ).where(Household.id == household_id)
        )
    ).first()
    return None if row is None else HouseholdPlace(row.id, row.status, row.street_code, row.community_code)


async def helper_load(session: AsyncSession, helper_kind: str, helper_id: uuid.UUID) -> int:
    """Households the helper holds now."""
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Pairing)
        .where(Pairing.helper_kind == helper_kind, Pairing.helper_id == helper_id, Pairing.active)
    )
    return int(count or 0)


def quota_of(helper: HelperRecord, params: Parameters) -> int:
    return params.quotas.branch if helper.rank is None else params.quotas.for_cadre(helper.rank)


async def pair_manually(
    uow: UnitOfWork,
    household: HouseholdPlace,
    *,
    helper_kind: HelperKind,
    helper_id: uuid.UUID,
    on: dt.date,
    assigned_by: str,
) -> Pairing:
    """Pair a household with a helper: the household must be in the programme and unpaired, the helper active
    and under its quota."""
    session = uow.session
    await lock_pairing(session)
    if household.status not in PAIRABLE_STATUSES:
        raise Conflict(
            f"The household is {household.status}; only enrolled or transitioning households are paired.",
            errors=[FieldError("household_id", f"household is {household.status}")],
        )
    helper = await find_helper(session, helper_kind, helper_id)
    if helper is None or not helper.active:
        raise Unprocessable("Unknown helper.", errors=[FieldError("helper_id", f"no active {helper_kind} {helper_id}")])
    current = await active_helper(session, household.id)
    if current is not None:
        raise Conflict(
            "The household already has an active helper.",
            errors=[FieldError("household_id", "already paired")],
            helper={"kind": current.kind, "id": str(current.id)},
        )
    params = await parameters_in_force(session, on)
    quota = quota_of(helper, params)
    load = await helper_load(session, helper_kind, helper_id)
    if load >= quota:
        raise Conflict(
            f"The helper already holds {load} households, its quota is {quota}.",
            errors=[FieldError("helper_id", f"quota of {quota} reached")],
            quota=quota,
            load=load,
        )
    pairing = Pairing(
        id=new_id(),
        household_id=household.id,
        helper_kind=helper_kind,
        helper_id=helper_id,
        department_code=helper.department_code,
        street_code=household.street_code,
        started_on=on,
        active=True,
        assigned_by=assigned_by,
    )
    session.add(pairing)
    await session.flush()
    await _emit_pairing_events(
        uow,
        PairingAssigned,
        [(household.id, helper_kind, helper_id, helper.department_code, household.street_code)],
        on,
    )
    return pairing


async def end_pairing(uow: UnitOfWork, pairing_id: uuid.UUID, *, on: dt.date, reason: str) -> Pairing:
    """End one pairing (DELETE /pairings/{id}); 409 when it already ended."""
    session = uow.session
    await lock_pairing(session)
    pairing = await session.get(Pairing, pairing_id)
    if pairing is None:
        raise NotFound("No such pairing.")
    if not pairing.active:
        raise Conflict("The pairing has already ended.", errors=[FieldError("id", "pairing ended")])
    await _release(uow, Pairing.id == pairing_id, on=on, reason=reason)
    await session.refresh(pairing)
    return pairing


# --------------------------------------------------------------------------------------------------- auto


@dataclass(frozen=True)
class AutoPairingOutcome:
    assigned: int
    unpaired: tuple[uuid.UUID, ...]
    by_helper_kind: dict[str, int]
    by_cost: dict[int, int]
    kept: int  # pairings that existed before and were kept


def _scope_condition(scope_code: str | None) -> sa.ColumnElement[bool]:
    """Households of a district (6 digits), street (9) or community (12)."""
    if scope_code is None:
        return sa.true()
    if len(scope_code) == 9:
        return Household.street_code == scope_code
    if len(scope_code) == 6:
        return Household.street_code.startswith(scope_code)
    return Household.community_code == scope_code


@dataclass(frozen=True)
class HelperPool:
    """Every active helper as auto-pairing sees it, with the department each one answers to."""

    helpers: list[PairingHelper]
    departments: dict[tuple[str, str], str | None]  # (kind, id) -> department code


async def helper_pool(session: AsyncSession) -> HelperPool:
    """Every active cadre and branch with the streets of its costs and its current load."""
    linked = await department_linked_streets(session)
    loads = {
        (kind, str(helper_id)): int(count)
        for kind, helper_id, count in (
            await session.execute(
                sa.select(Pairing.helper_kind, Pairing.helper_id, sa.func.count())
                .where(Pairing.active)
                .group_by(Pairing.helper_kind, Pairing.helper_id)
            )
        )
    }
    helpers: list[PairingHelper] = []
    departments: dict[tuple[str, str], str | None] = {}
    cadres = await session.execute(
        sa.select(Cadre.id, Cadre.rank, Cadre.home_street_code, Cadre.department_code).where(Cadre.active)
    )
    for cadre_id, rank, home_street, department in cadres:
        key = ("cadre", str(cadre_id))
        departments[key] = department
        helpers.append(
            PairingHelper.cadre(
                key[1], cast(CadreRank, rank), home_street, linked.get(department, frozenset()), loads.get(key, 0)
            )
        )
    branches = await session.execute(
        sa.select(PartyBranch.id, PartyBranch.community_code, PartyBranch.department_code).where(PartyBranch.active)
    )
    for branch_id, community, branch_department in branches:
        key = ("branch", str(branch_id))
        departments[key] = branch_department
        helpers.append(
            PairingHelper.branch(
                key[1],
                community_street=community[:9] if community else None,
                department_linked_streets=linked.get(branch_department, frozenset()) if branch_department else (),
                current_load=loads.get(key, 0),
            )
        )
    return HelperPool(helpers, departments)


async def auto_pair_scope(uow: UnitOfWork, *, scope_code: str | None, on: dt.date) -> AutoPairingOutcome:
    """Give every unpaired enrolled or transitioning household of the scope a helper (min-cost flow), keeping
    existing pairings; bulk insert and one event per new pair."""
    session = uow.session
    await lock_pairing(session)
    active_pairing = sa.exists().where(Pairing.household_id == Household.id, Pairing.active)
    scope = _scope_condition(scope_code)
    rows = await session.execute(
        sa.select(Household.id, Household.street_code).where(
            Household.status.in_(PAIRABLE_STATUSES), scope, ~active_pairing
        )
    )
    unpaired = [UnpairedHousehold(str(household_id), street) for household_id, street in rows]
    kept = int(
        await session.scalar(
            sa.select(sa.func.count())
            .select_from(Household)
            .where(Household.status.in_(PAIRABLE_STATUSES), scope, active_pairing)
        )
        or 0
    )
    if not unpaired:
        return AutoPairingOutcome(0, (), {"cadre": 0, "branch": 0}, {0: 0, 1: 0, 3: 0}, kept)
    pool = await helper_pool(session)
    params = await parameters_in_force(session, on)
    result = auto_pair(unpaired, pool.helpers, params.quotas)

    streets = {household.household_id: household.street_code for household in unpaired}
    pairs = [
        (
            uuid.UUID(pair.household_id),
            pair.helper_kind,
            uuid.UUID(pair.helper_id),
            pool.departments.get((pair.helper_kind, pair.helper_id)),
            streets[pair.household_id],
        )
        for pair in result.assigned
    ]
    await insert_pairings(session, pairs, on=on)
    await _emit_pairing_events(uow, PairingAssigned, pairs, on)
    kinds = Counter(pair.helper_kind for pair in result.assigned)
    return AutoPairingOutcome(
        assigned=len(result.assigned),
        unpaired=tuple(uuid.UUID(household_id) for household_id in result.unpaired),
        by_helper_kind={"cadre": kinds["cadre"], "branch": kinds["branch"]},
        by_cost=dict(result.by_cost),
        kept=kept,
    )
