"""`POST /admin/rebuild`: replay the streams into fresh projections (district_admin)."""

from __future__ import annotations

from fastapi import APIRouter

from uplift.common.errors import Conflict, ServiceUnavailable
from uplift.common.runtime import RuntimeDep, UnitOfWorkDep
from uplift.metrics.access import DistrictAdmin
from uplift.metrics.api.schemas import RebuildRead
from uplift.metrics.rebuild import RebuildFailed, rebuild_projections

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/rebuild", summary="Rebuild the projections by replaying the streams")
async def rebuild(principal: DistrictAdmin, runtime: RuntimeDep, uow: UnitOfWorkDep) -> RebuildRead:
    if not runtime.nats.connected:
        raise ServiceUnavailable("NATS is not connected: the streams cannot be replayed now.")
    try:
        result = await rebuild_projections(uow.session, runtime.nats.js)
    except RebuildFailed as exc:
        raise Conflict(f"The rebuild was rolled back: {exc}") from exc
    await uow.commit()
    return RebuildRead(
        streams=result.streams,
        applied=result.applied,
        ignored=result.ignored,
        rejected=result.rejected,
        rows=result.rows,
        seconds=result.seconds,
    )
