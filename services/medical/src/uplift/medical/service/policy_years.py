"""Policy years: the five lines' parameters per year, frozen (except the budgets) once a claim is settled.

Locks: a claim holds the year's row `FOR SHARE` while it settles and a `PUT` holds it `FOR UPDATE`, so a change
and a settlement never interleave: the freeze check sees every claim that could have used the old parameters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.contracts import PolicyYearSet
from uplift.common.errors import Conflict, FieldError
from uplift.common.unit_of_work import UnitOfWork
from uplift.medical.domain import FundUsage, PolicyYear, frozen_change_violations
from uplift.medical.models import Claim, PolicyYearRecord, table_of
from uplift.medical.service.funds import FUND_ORDER, FundBalance, emit_if_low, fund_balances, funds_table

policy_years_table = table_of(PolicyYearRecord)
claims_table = table_of(Claim)

_MAX_CACHED = 64
_parsed: dict[tuple[int, int, dt.datetime], PolicyYear] = {}


@dataclass(frozen=True)
class StoredPolicyYear:
    year: int
    policy: PolicyYear
    version: int


@dataclass(frozen=True)
class PolicyYearSaved:
    stored: StoredPolicyYear
    created: bool
    changed: bool


def parsed_policy(year: int, version: int, updated_at: dt.datetime, document: dict[str, Any]) -> PolicyYear:
    """The stored document of `year` at `version` as a `PolicyYear`, parsed once per process."""
    # Every claim needs its year's parameters: parse each stored version once per process.
    key = (year, version, updated_at)
    policy = _parsed.get(key)
    if policy is None:
        policy = PolicyYear.model_validate(document)
        if len(_parsed) >= _MAX_CACHED:
            _parsed.clear()
        _parsed[key] = policy
    return policy


async def load_policy_year(session: AsyncSession, year: int, *, share_lock: bool = False) -> StoredPolicyYear | None:
    """The stored parameters of `year`, or None; `share_lock` keeps them from changing until commit."""
    table = policy_years_table
    stmt = sa.select(table.c.year, table.c.version, table.c.updated_at, table.c.document).where(table.c.year == year)
    if share_lock:
        stmt = stmt.with_for_update(read=True)
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    return StoredPolicyYear(year, parsed_policy(year, row.version, row.updated_at, row.document), row.version)


async def has_settled_claims(session: AsyncSession, year: int) -> bool:
    """Whether any claim of `year` stands (settled and not reversed)."""
    stmt = sa.select(sa.exists().where(claims_table.c.policy_year == year, claims_table.c.status == "settled"))
    return bool((await session.execute(stmt)).scalar_one())


def _fund_values(year: int, policy: PolicyYear) -> dict[str, dict[str, Any]]:
    ratio = policy.supplementary.low_threshold_ratio
    return {
        "charity": {
            "policy_year": year,
            "fund": "charity",
            "budget": policy.charity.budget,
            "low_threshold_ratio": ratio,
        },
        "supplementary": {
            "policy_year": year,
            "fund": "supplementary",
            "budget": policy.supplementary.budget,
            "low_threshold_ratio": ratio,
        },
    }


def _emit_set(uow: UnitOfWork, year: int, policy: PolicyYear) -> None:
    payload = PolicyYearSet(
        policy_year=year, supplementary_budget=policy.supplementary.budget, charity_budget=policy.charity.budget
    )
    uow.emit(PolicyYearSet.event_type, subject=payload.aggregate_id, data=payload)


async def set_policy_year(uow: UnitOfWork, *, year: int, policy: PolicyYear) -> PolicyYearSaved:
    """Create or replace the parameters of `year` (409 naming each forbidden change once claims are settled)."""
    session = uow.session
    table = policy_years_table
    inserted = (
        await session.execute(
            pg_insert(table)
            .values(year=year, document=policy.to_document(), version=1)
            .on_conflict_do_nothing()
            .returning(table.c.year)
        )
    ).first()
    if inserted is not None:
        values = _fund_values(year, policy)
        await session.execute(sa.insert(funds_table), [values[fund] for fund in FUND_ORDER])
        _emit_set(uow, year, policy)
        return PolicyYearSaved(StoredPolicyYear(year, policy, 1), created=True, changed=True)

    row = (
        await session.execute(
            sa.select(table.c.version, table.c.document).where(table.c.year == year).with_for_update()
        )
    ).one()
    old = PolicyYear.model_validate(row.document)
    if old.to_document() == policy.to_document():
        return PolicyYearSaved(StoredPolicyYear(year, old, row.version), created=False, changed=False)

    funds = await fund_balances(session, year, lock=True, count_unlimited=True)
    if await has_settled_claims(session, year):
        usage = FundUsage(supplementary_used=funds["supplementary"].used, charity_used=funds["charity"].used)
        violations = frozen_change_violations(old, policy, usage)
        if violations:
            raise Conflict(
                f"Policy year {year} has settled claims: only the budgets may change, and never below what is used.",
                errors=[FieldError(*violation.split(": ", 1)) for violation in violations],
                violations=violations,
            )
    version = row.version + 1
    await session.execute(
        sa.update(table)
        .where(table.c.year == year)
        .values(document=policy.to_document(), version=version, updated_at=sa.func.now())
    )
    new_values = _fund_values(year, policy)
    for fund in FUND_ORDER:
        before = funds[fund]
        new: dict[str, Any] = new_values[fund]
        await session.execute(
            sa.update(funds_table)
            .where(funds_table.c.policy_year == year, funds_table.c.fund == fund)
            # A fund that was unlimited starts counting from what it has paid (summed above, under lock).
            .values(budget=new["budget"], low_threshold_ratio=new["low_threshold_ratio"], used=before.used)
        )
        after: FundBalance = dataclasses.replace(
            before, budget=new["budget"], low_threshold_ratio=Decimal(new["low_threshold_ratio"])
        )
        emit_if_low(uow, before, after)
    _emit_set(uow, year, policy)
    return PolicyYearSaved(StoredPolicyYear(year, policy, version), created=False, changed=True)
