"""The matching API (`/matching/v1`)."""

from __future__ import annotations

from fastapi import APIRouter

from uplift.matching.api import applications, employers, job_fairs, seekers, trainings

routers: list[APIRouter] = [
    employers.router,
    seekers.router,
    job_fairs.router,
    applications.router,
    trainings.router,
]
