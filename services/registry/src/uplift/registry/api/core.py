"""Routers of org units, households, persons, lifecycle, parameters, audit and imports."""

from __future__ import annotations

from fastapi import APIRouter

from uplift.registry.api import households, imports, org_units, parameters

routers: list[APIRouter] = [org_units.router, households.router, parameters.router, imports.router]
