"""Who may call which matching endpoint, and the per-process helpers the routes share.

Employers manage their own record and postings and see the candidates and applicants of their postings (an
`employer_id` claim scopes them: anything else is 404); street and community workers work with the seekers of
their org; district admins do everything; integrators need `matching:read` / `matching:write`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from uplift.common.auth import Principal, Role, require
from uplift.common.errors import BadRequest, FieldError
from uplift.common.pagination import PageParams
from uplift.common.pii import FieldCipher
from uplift.common.settings import ServiceSettings
from uplift.matching.service.postings import OpenPostingsCache
from uplift.matching.service.recommendations import business_today

READ = ("matching:read", "matching:write")
WRITE = ("matching:write",)
_HELPERS = (Role.DISTRICT_ADMIN, Role.STREET_OPERATOR, Role.COMMUNITY_WORKER)

AnyMatchingReader = Annotated[
    Principal, Depends(require(*_HELPERS, Role.EMPLOYER, Role.CADRE, Role.ANALYST, any_of_perms=READ))
]
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
    """Per-process helpers: the open-postings cache and the cipher of applicants' contact details."""
    settings: ServiceSettings = app.state.settings
    app.state.open_postings = OpenPostingsCache()
    app.state.contact_cipher = FieldCipher.from_settings(settings.pii_key, settings.pii_key_id, settings.pii_old_keys)


def get_open_postings(request: Request) -> OpenPostingsCache:
    cache: OpenPostingsCache = request.app.state.open_postings
    return cache


def get_contact_cipher(request: Request) -> FieldCipher:
    cipher: FieldCipher = request.app.state.contact_cipher
    return cipher


def get_today(request: Request) -> dt.date:
    settings: ServiceSettings = request.app.state.settings
    return business_today(settings)


OpenPostingsDep = Annotated[OpenPostingsCache, Depends(get_open_postings)]
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
