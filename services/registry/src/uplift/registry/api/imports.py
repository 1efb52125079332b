"""Bulk import: upload a spreadsheet of the template (docs/import-template.md), follow the job's progress."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile, status
from pydantic import BaseModel

from uplift.common.app import ReadSessionDep, RuntimeDep
from uplift.common.auth import Principal, Role, require
from uplift.common.errors import NotFound
from uplift.registry.service import imports as service

router = APIRouter(tags=["imports"])

Importer = Annotated[Principal, Depends(require(Role.DISTRICT_ADMIN, Role.STREET_OPERATOR, perms=("registry:write",)))]


class ImportAccepted(BaseModel):
    id: uuid.UUID


class ImportRejection(BaseModel):
    rows: list[int]
    reasons: list[str]


class ImportRead(BaseModel):
    id: uuid.UUID
    status: str
    dry_run: bool
    file_name: str
    file_type: str
    rows_read: int
    households_read: int
    households_applied: int
    households_enrolled: int
    households_updated: int
    households_unchanged: int
    households_rejected: int
    rejected: list[ImportRejection]
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


def _keep_running(request: Request, task: asyncio.Task[None]) -> None:
    """Hold a reference to the job's task until it ends (asyncio keeps only weak ones)."""
    tasks: set[asyncio.Task[None]] = getattr(request.app.state, "import_tasks", set())
    request.app.state.import_tasks = tasks
    tasks.add(task)
    task.add_done_callback(tasks.discard)


@router.post("/imports", status_code=status.HTTP_202_ACCEPTED, summary="Start a bulk import (XLSX or CSV)")
async def start_import(
    request: Request,
    principal: Importer,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File(description="XLSX or CSV of the import template")],
    dry_run: Annotated[bool, Form()] = False,
) -> ImportAccepted:
    file_name = file.filename or "upload"
    handle = tempfile.NamedTemporaryFile(prefix="uplift-import-", suffix=Path(file_name).suffix, delete=False)  # noqa: SIM115
    path = Path(handle.name)
    try:
        with handle:
            await asyncio.to_thread(shutil.copyfileobj, file.file, handle)
        file_type = await asyncio.to_thread(service.check_file, path, file_name)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    job_id = uuid.uuid4()
    async with runtime.sessions() as session:
        await session.execute(
            sa.insert(service.imports_table).values(
                id=job_id,
                status="queued",
                dry_run=dry_run,
                file_name=file_name[:200],
                file_type=file_type,
                actor=principal.sub,
                org=principal.org,
            )
        )
        await session.commit()
    task = asyncio.create_task(service.run_import(runtime, job_id, path, file_type, principal, dry_run=dry_run))
    _keep_running(request, task)
    return ImportAccepted(id=job_id)


@router.get("/imports/{import_id}", summary="An import's progress and outcome")
async def get_import(import_id: uuid.UUID, principal: Importer, session: ReadSessionDep) -> ImportRead:
    await service.mark_if_stalled(session, import_id)
    row: Any = (
        await session.execute(sa.select(service.imports_table).where(service.imports_table.c.id == import_id))
    ).first()
    if row is None or (not principal.has_role(Role.DISTRICT_ADMIN) and row.actor != principal.sub):
        raise NotFound(f"import {import_id} not found")
    return ImportRead(
        id=row.id,
        status=row.status,
        dry_run=row.dry_run,
        file_name=row.file_name,
        file_type=row.file_type,
        rows_read=row.rows_read,
        households_read=row.households_read,
        households_applied=row.households_applied,
        households_enrolled=row.households_enrolled,
        households_updated=row.households_updated,
        households_unchanged=row.households_unchanged,
        households_rejected=row.households_rejected,
        rejected=[ImportRejection.model_validate(item) for item in row.rejected],
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )
