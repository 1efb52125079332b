"""Who may call which matching endpoint, and the per-process helpers the routes share.

Employers manage their own record and postings and see the candidates and applicants of their postings (an
`employer_id` claim scopes them: anything else is 404); street and community workers work with the seekers of
their org; district admins do everything; integrators need `matching:read` / `matching:write`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request

from uplift.common.auth import Principal, Role, require
from uplift.common.errors import BadRequest, FieldError
from uplift.common.pagination import PageParams
from uplift.common.pii import FieldCipher
from uplift.common.settings import ServiceSettings
from uplift.matching.service.postings import OpenPostingsCache
from uplift.matching.service.recommendations import business_today
from uplift.matching.service.seeker_index import SeekerIndexCache

log = structlog.get_logger("uplift.matching")

READ = ("matching:read", "matching:write")
WRITE = ("matching:write",)
_HELPERS = (Role.DISTRICT_ADMIN, Role.STREET_OPERATOR, Role.COMMUNITY_WORKER)

AnyMatchingReader = Annotated[Principal, Depends(require(*_HELPERS, Role.EMPLOYER, Role.CADRE, any_of_perms=READ))]
EmployerManager = Annotated[Principal, Depends(require(Role.DISTRICT_ADMIN, Role.EMPLOYER, perms=WRITE))]
EmployerReader = Annotated[Principal, Depends(require(*_HELPERS, Role.EMPLOYER, any_of_perms=READ))]
DistrictAdmin = Annotated[Principal, Depends(require(Role.DISTRICT_ADMIN, perms=WRITE))]
SeekerReader = Annotated[Principal, Depends(require(*_HELPERS, any_of_perms=READ))]
SeekerWriter = Annotated[Principal, Depends(require(*_HELPERS, perms=WRITE))]
CandidateReader = Annotated[Principal, Depends(require(*_HELPERS, Role.EMPLOYER, any_of_perms=READ))]
ApplicationReader = Annotated[Principal, Depends(require(*_HELPERS, Role.EMPLOYER, any_of_perms=READ))]
ApplicationWriter = Annotated[Principal, Depends(require(*_HELPERS, perms=WRITE))]
ApplicationMover = Annotated[Principal, Depends(require(*_HELPERS, Role.EMPLOYER, perms=WRITE))]
TrainingReader = Annotated[Principal, Depends(require(*_HELPERS, Role.CADRE, any_of_perms=READ))]


def install_matching_state(app: FastAPI) -> None:
    """Per-process helpers: the open-postings and seeker caches, and the cipher of applicants' contact details."""
    settings: ServiceSettings = app.state.settings
    app.state.open_postings = OpenPostingsCache()
    app.state.seeker_index = SeekerIndexCache()
    app.state.contact_cipher = FieldCipher.from_settings(settings.pii_key, settings.pii_key_id, settings.pii_old_keys)


async def warm_caches(app: FastAPI) -> dict[str, Any]:
    """Load the open postings (with today's ranking index) and the seeker index, as the first request would.

    Returns what it loaded and how long it took; a failure (the database is down) is logged and left to the
    first request, which loads the caches itself.
    """
    started = time.perf_counter()
    try:
        async with app.state.runtime.sessions() as session:
            postings, _index = await app.state.open_postings.index(session, business_today(app.state.settings))
            seekers = await app.state.seeker_index.refresh(session)
    except Exception as error:  # warming is an optimisation: requests load the caches anyway
        log.warning("matching.caches_not_warmed", error=repr(error))
        return {"warmed": False}
    figures = {
        "warmed": True,
        "open_postings": len(postings.postings),
        "seekers": len(seekers),
        "seconds": round(time.perf_counter() - started, 3),
    }
    log.info("matching.caches_warmed", **figures)
    return figures


def start_warming_caches(app: FastAPI) -> None:
    """Warm the caches in the background right after start, so that no request pays the load (1–2 s over
    20,000 postings and 50,000 seekers) while the process already answers health checks. A request arriving
    before it finished waits on the same cache lock instead of loading a second time."""
    app.state.caches_warmed = asyncio.get_running_loop().create_task(warm_caches(app), name="matching-warm-caches")


async def get_open_postings(request: Request) -> OpenPostingsCache:
    cache: OpenPostingsCache = request.app.state.open_postings
    return cache


async def get_seeker_index(request: Request) -> SeekerIndexCache:
    cache: SeekerIndexCache = request.app.state.seeker_index
    return cache


async def get_contact_cipher(request: Request) -> FieldCipher:
    cipher: FieldCipher = request.app.state.contact_cipher
    return cipher


async def get_today(request: Request) -> dt.date:
    settings: ServiceSettings = request.app.state.settings
    return business_today(settings)


OpenPostingsDep = Annotated[OpenPostingsCache, Depends(get_open_postings)]
SeekerIndexDep = Annotated[SeekerIndexCache, Depends(get_seeker_index)]
ContactCipherDep = Annotated[FieldCipher, Depends(get_contact_cipher)]
TodayDep = Annotated[dt.date, Depends(get_today)]


def cursor_id(page: PageParams) -> uuid.UUID | None:
    """The id a keyset page continues after (our cursors hold the last item's id)."""
    if not page.cursor:
        return None
    try:
        return uuid.UUID(str(page.cursor[0]))
    except ValueError:
        raise BadRequest("The cursor is not valid.", errors=[FieldError("cursor", "not a cursor we issued")]) from None
