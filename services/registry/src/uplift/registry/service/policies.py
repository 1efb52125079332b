"""The policy toolbox (政策工具箱): policies with CEL eligibility, and who in a household qualifies.

Expressions are compiled on save; one that does not compile is a 422 naming the `eligibility` field with the
line and column of the fault. The catalogue is seeded by the 0003 migration (`SEED_POLICIES`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.errors import Conflict, FieldError, NotFound, Unprocessable
from uplift.registry.domain.eligibility import (
    CompiledRule,
    Eligibility,
    InvalidExpression,
    RuleEvaluationError,
    assess,
    compile_expression,
    eligibility_facts,
)
from uplift.registry.domain.months import completed_years
from uplift.registry.domain.parameters import Parameters
from uplift.registry.domain.policy_catalogue import POLICY_AREAS
from uplift.registry.models.households import Household, Person
from uplift.registry.models.support import Policy

AREA_CODES = tuple(area.code for area in POLICY_AREAS)


def compile_or_reject(expression: str, field: str = "eligibility") -> CompiledRule:
    """The compiled rule, or 422 with the position of the fault."""
    try:
        return compile_expression(expression)
    except InvalidExpression as error:
        raise Unprocessable(
            f"The eligibility expression does not compile: {error.message}.",
            errors=[FieldError(field, f"{error.message} (line {error.line}, column {error.column})")],
            line=error.line,
            column=error.column,
        ) from None


def require_area(area: str) -> None:
    if area not in AREA_CODES:
        raise Unprocessable("Unknown policy area.", errors=[FieldError("area", f"one of {', '.join(AREA_CODES)}")])


async def get_policy(session: AsyncSession, code: str, *, for_update: bool = False) -> Policy:
    stmt = sa.select(Policy).where(Policy.code == code)
    policy = (await session.execute(stmt.with_for_update() if for_update else stmt)).scalar()
    if policy is None:
        raise NotFound("No such policy.")
    return policy


async def create_policy(session: AsyncSession, values: dict[str, Any]) -> Policy:
    """Add a policy; 409 when its code exists."""
    require_area(values["area"])
    compile_or_reject(values["eligibility"])
    if await session.get(Policy, values["code"]) is not None:
        raise Conflict("A policy with this code exists.", errors=[FieldError("code", "already used")])
    policy = Policy(**{"active": True, **values}, version=1)
    session.add(policy)
    await session.flush()
    await session.refresh(policy)  # server-set timestamps
    return policy


async def update_policy(session: AsyncSession, policy: Policy, changes: dict[str, Any]) -> Policy:
    if "area" in changes:
        require_area(changes["area"])
    if "eligibility" in changes:
        compile_or_reject(changes["eligibility"])
    for field, value in changes.items():
        setattr(policy, field, value)
    if changes:
        policy.version += 1
    await session.flush()
    await session.refresh(policy)  # server-set updated_at
    return policy


# ------------------------------------------------------------------------------------------ eligibility


@dataclass(frozen=True)
class HouseholdFacts:
    household: dict[str, Any]
    persons: list[dict[str, Any]]


async def household_facts(session: AsyncSession, household_id: uuid.UUID, on: dt.date) -> HouseholdFacts:
    """The household and its active members in the shape eligibility expressions see."""
    household = (await session.execute(sa.select(Household).where(Household.id == household_id))).scalar_one()
    members = (
        (
            await session.execute(
                sa.select(Person).where(Person.household_id == household_id, Person.active).order_by(Person.id)
            )
        )
        .scalars()
        .all()
    )
    size = len(members)
    income = Decimal(household.monthly_income)
    per_capita = (income / size).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) if size else income
    return HouseholdFacts(
        household={
            "category": household.category,
            "status": household.status,
            "monthly_income": income,
            "per_capita_income": per_capita,
            "size": size,
            "causes": list(household.causes or []),
            "zero_employment": bool(household.zero_employment),
            "street_code": household.street_code,
        },
        persons=[
            {
                "person_id": str(member.id),
                "age": completed_years(member.birth_date, on),
                "sex": member.sex,
                "work_ability": member.work_ability,
                "employment_status": member.employment_status,
                "disability_level": int(member.disability_level),
                "chronic_illness": bool(member.chronic_illness),
                "education": member.education,
                "pension_insured": bool(member.pension_insured),
                "medical_insured": bool(member.medical_insured),
                "skills": list(member.skills or []),
            }
            for member in members
        ],
    )


@dataclass(frozen=True)
class PolicyEligibility:
    policy: Policy
    eligibility: Eligibility


@dataclass(frozen=True)
class EligibilityReport:
    eligible: list[PolicyEligibility]
    failed: list[tuple[str, str]]  # (policy code, why the rule could not be evaluated on this household)


async def eligible_policies(
    session: AsyncSession, household_id: uuid.UUID, on: dt.date, params: Parameters
) -> EligibilityReport:
    """Active policies the household (or at least one member) qualifies for, with the qualifying members."""
    facts = await household_facts(session, household_id, on)
    converted = eligibility_facts(facts.household, facts.persons, params)
    policies = (await session.execute(sa.select(Policy).where(Policy.active).order_by(Policy.code))).scalars().all()
    eligible: list[PolicyEligibility] = []
    failed: list[tuple[str, str]] = []
    for policy in policies:
        try:
            outcome = assess(compile_expression(policy.eligibility), converted)
        except (InvalidExpression, RuleEvaluationError) as error:
            failed.append((policy.code, str(error)))
            continue
        if outcome.eligible:
            eligible.append(PolicyEligibility(policy, outcome))
    return EligibilityReport(eligible, failed)
