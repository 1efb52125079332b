"""Job fairs (为精准扶贫对象送岗位, DOMAIN.md §8): the invited seekers and postings, and their batch assignment.

`:assign` builds each invited seeker's top-k feasible postings (as of the fair's day), solves the lexicographic
assignment beside the greedy one, stores the answer and turns every assignment into an application in state
`recommended` (one bulk insert). Assigning a fair again returns the stored answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.db import new_id
from uplift.common.errors import FieldError, NotFound, Unprocessable
from uplift.matching.domain.assignment import GroupRate, Objective, assign_job_fair
from uplift.matching.domain.job_fair_edges import build_job_fair_edges
from uplift.matching.models import JobFair, table_of
from uplift.matching.schemas import JobFairCreate, score_text
from uplift.matching.service.applications import insert_recommended
from uplift.matching.service.postings import load_domain_postings, postings_table
from uplift.matching.service.seekers import load_seekers, persons_table, working_age_on

job_fairs_table = table_of(JobFair)

JOB_FAIR_NOT_FOUND = "No such job fair."


async def create_job_fair(*, session: AsyncSession, body: JobFairCreate) -> dict[str, Any]:
    """Record a fair; 422 when it has no postings or names postings or seekers that are not known."""
    posting_ids = list(dict.fromkeys(body.posting_ids))
    seeker_ids = list(dict.fromkeys(body.seeker_ids))
    errors: list[FieldError] = []
    if not posting_ids:
        errors.append(FieldError("posting_ids", "a job fair needs at least one posting"))
    if not seeker_ids:
        errors.append(FieldError("seeker_ids", "a job fair needs at least one invited seeker"))
    if errors:
        raise Unprocessable("A job fair needs postings and invited seekers.", errors=errors)
    known_postings = set(
        (await session.execute(sa.select(postings_table.c.id).where(postings_table.c.id.in_(posting_ids)))).scalars()
    )
    known_seekers = set(
        (
            await session.execute(
                sa.select(persons_table.c.person_id).where(
                    persons_table.c.person_id.in_(seeker_ids), persons_table.c.active.is_(True)
                )
            )
        ).scalars()
    )
    unknown_postings = [p for p in posting_ids if p not in known_postings]
    unknown_seekers = [s for s in seeker_ids if s not in known_seekers]
    errors = [FieldError("posting_ids", f"unknown posting {p}") for p in unknown_postings[:20]]
    errors += [FieldError("seeker_ids", f"unknown or inactive seeker {s}") for s in unknown_seekers[:20]]
    if errors:
        raise Unprocessable(
            f"{len(unknown_postings)} unknown postings and {len(unknown_seekers)} unknown seekers.", errors=errors
        )
    values = {
        "id": new_id(),
        "name": body.name,
        "held_on": body.held_on,
        "posting_ids": posting_ids,
        "seeker_ids": seeker_ids,
        "k": body.k,
    }
    row = (await session.execute(sa.insert(job_fairs_table).values(values).returning(*job_fairs_table.c))).one()
    return dict(row._mapping)


async def get_job_fair(*, session: AsyncSession, job_fair_id: uuid.UUID, for_update: bool = False) -> dict[str, Any]:
    stmt = sa.select(job_fairs_table).where(job_fairs_table.c.id == job_fair_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound(JOB_FAIR_NOT_FOUND)
    return dict(row._mapping)


def _objective(objective: Objective) -> dict[str, Any]:
    return {
        "tier1_matched": objective.tier1_matched,
        "tier2_matched": objective.tier2_matched,
        "total_score": score_text(objective.total_score),
    }


def _rates(rates: Mapping[int, GroupRate]) -> dict[str, Any]:
    return {
        str(group): {"invited": rate.invited, "matched": rate.matched, "rate": score_text(rate.rate)}
        for group, rate in sorted(rates.items())
    }


async def assign(*, session: AsyncSession, job_fair_id: uuid.UUID) -> dict[str, Any]:
    """Solve the fair's assignment, store it and create the `recommended` applications (once)."""
    fair = await get_job_fair(session=session, job_fair_id=job_fair_id, for_update=True)
    if fair["result"] is not None:
        stored: dict[str, Any] = fair["result"]
        return stored
    on = fair["held_on"]
    working_age = await working_age_on(session, on)
    postings = await load_domain_postings(session=session, posting_ids=fair["posting_ids"])
    views = await load_seekers(session=session, on=on, working_age=working_age, person_ids=fair["seeker_ids"])
    household_of = {v.seeker.person_id: v.household_id for v in views}
    invited = build_job_fair_edges([v.seeker for v in views], postings, on, k=fair["k"], working_age=working_age)
    capacities = {p.posting_id: p.openings for p in postings}
    result = assign_job_fair(invited, capacities, k=fair["k"])

    rows = [
        {
            "id": new_id(),
            "person_id": assignment.person_id,
            "household_id": household_of[assignment.person_id],
            "posting_id": assignment.posting_id,
            "score": assignment.score,
            "tier": assignment.tier,
        }
        for assignment in result.assignments
    ]
    await insert_recommended(session=session, job_fair_id=job_fair_id, on=on, rows=rows)
    answer = {
        "job_fair_id": str(job_fair_id),
        "assignments": [
            {
                "person_id": str(assignment.person_id),
                "posting_id": str(assignment.posting_id),
                "score": score_text(assignment.score),
                "tier": assignment.tier,
                "application_id": str(row["id"]),
            }
            for assignment, row in zip(result.assignments, rows, strict=True)
        ],
        "objective": _objective(result.objective),
        "greedy": _objective(result.greedy),
        "filled": result.filled,
        "openings": result.openings,
        "rates": {"by_tier": _rates(result.rates_by_tier), "by_disability": _rates(result.rates_by_disability)},
    }
    await session.execute(
        sa.update(job_fairs_table)
        .where(job_fairs_table.c.id == job_fair_id)
        .values(result=answer, assigned_at=sa.func.now())
    )
    return answer
