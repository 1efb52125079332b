"""Routers of org units, households, persons, lifecycle, parameters, audit and imports."""

from __future__ import annotations

from fastapi import APIRouter

routers: list[APIRouter] = []
