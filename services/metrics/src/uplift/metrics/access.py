"""Who may read which metrics (API.md: analysts and admins read their org; a street operator its street; a
department admin its department; every other role is refused).

Scope checks answer 404, never 403, so that a scope outside the caller's org is indistinguishable from one
that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from uplift.common.auth import Principal, Role, require
from uplift.common.errors import Forbidden, NotFound
from uplift.metrics.domain.scopes import Scope

METRICS_READ = "metrics:read"

MetricsReader = Annotated[
    Principal,
    Depends(
        require(Role.DISTRICT_ADMIN, Role.ANALYST, Role.STREET_OPERATOR, Role.DEPARTMENT_ADMIN, perms=(METRICS_READ,))
    ),
]
DistrictAdmin = Annotated[Principal, Depends(require(Role.DISTRICT_ADMIN))]

NOT_FOUND_DETAIL = "No metrics for this scope."
# `responses=` of an operation whose scope comes from the query, not the path (OpenAPI: the 404 it answers).
SCOPE_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No metrics for this scope, or none the caller may read (it looks the same)."}
}


def may_read_scope(principal: Principal, scope: Scope | str) -> bool:
    return principal.in_scope(str(scope))


def ensure_scope_readable(principal: Principal, scope: Scope) -> None:
    """404 when `scope` lies outside the caller's org (a street operator's street, a department admin's
    department, an analyst's or admin's district)."""
    if not may_read_scope(principal, scope):
        raise NotFound(NOT_FOUND_DETAIL)


def ensure_district_wide(principal: Principal) -> None:
    """District reports are for district-wide readers (admins, analysts, integrators with metrics:read)."""
    if not principal.is_district_wide:
        raise Forbidden("District reports are open to district admins, analysts and integrators only.")
