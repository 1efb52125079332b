"""The medical service's HTTP API, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from uplift.medical.api import claims, funds, persons, policy_years

routers: list[APIRouter] = [policy_years.router, claims.router, persons.router, funds.router]
