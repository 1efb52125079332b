"""Job fairs (为精准扶贫对象送岗位) and their batch assignment."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, status

from uplift.common.app import ReadSessionDep, UnitOfWorkDep
from uplift.matching.api.access import DistrictAdmin, SeekerReader
from uplift.matching.schemas import JobFairAssignmentRead, JobFairCreate, JobFairRead
from uplift.matching.service import job_fairs as service

router = APIRouter(tags=["job fairs"])


def job_fair_read(row: dict[str, Any]) -> JobFairRead:
    return JobFairRead.model_validate({**row, "assigned": row["result"] is not None})


@router.post("/job-fairs", status_code=status.HTTP_201_CREATED, response_model=JobFairRead, summary="Plan a job fair")
async def create_job_fair(body: JobFairCreate, principal: DistrictAdmin, uow: UnitOfWorkDep) -> JobFairRead:
    row = await service.create_job_fair(session=uow.session, body=body)
    await uow.commit()
    return job_fair_read(row)


@router.get("/job-fairs/{job_fair_id}", response_model=JobFairRead, summary="One job fair")
async def get_job_fair(job_fair_id: uuid.UUID, principal: SeekerReader, session: ReadSessionDep) -> JobFairRead:
    return job_fair_read(await service.get_job_fair(session=session, job_fair_id=job_fair_id))


@router.post(
    "/job-fairs/{job_fair_id}:assign",
    response_model=JobFairAssignmentRead,
    summary="Assign the invited seekers to the fair's postings (lexicographic min-cost flow beside greedy)",
)
async def assign(job_fair_id: uuid.UUID, principal: DistrictAdmin, uow: UnitOfWorkDep) -> JobFairAssignmentRead:
    answer = await service.assign(session=uow.session, job_fair_id=job_fair_id)
    await uow.commit()
    return JobFairAssignmentRead.model_validate(answer)
