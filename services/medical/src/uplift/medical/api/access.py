"""Who may do what in the medical service (API.md, Authentication and authorisation).

- `medical_operator` (and integrators with `claims:write`) submit, simulate and reverse claims;
- `medical_operator`, `district_admin` (and integrators with `claims:read` or `claims:write`) read claims,
  accumulators, funds and policy years;
- `district_admin` alone sets policy years.
Every other role gets 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response

from uplift.common.auth import Principal, Role, require

CLAIMS_READ = "claims:read"
CLAIMS_WRITE = "claims:write"

ClaimWriter = Annotated[
    Principal, Depends(require(Role.MEDICAL_OPERATOR, Role.DISTRICT_ADMIN, perms=(CLAIMS_WRITE,)))
]
MedicalReader = Annotated[
    Principal,
    Depends(require(Role.MEDICAL_OPERATOR, Role.DISTRICT_ADMIN, any_of_perms=(CLAIMS_READ, CLAIMS_WRITE))),
]
PolicySetter = Annotated[Principal, Depends(require(Role.DISTRICT_ADMIN))]


def json_response(content: str, status_code: int = 200) -> Response:
    """An already serialised JSON body: the route's `response_model` documents it, nothing validates it twice."""
    return Response(content=content, status_code=status_code, media_type="application/json")
