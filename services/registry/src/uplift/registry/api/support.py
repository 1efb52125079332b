"""Routers of helpers, pairing, visits, plans, policies and alerts."""

from __future__ import annotations

from fastapi import APIRouter

routers: list[APIRouter] = []
