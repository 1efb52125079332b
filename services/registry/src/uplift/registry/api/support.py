"""Routers of helpers, pairing, visits, plans, policies and alerts."""

from __future__ import annotations

from fastapi import APIRouter

from uplift.registry.api import alerts, cadres, pairings, plans, policies, visits

routers: list[APIRouter] = [
    cadres.router,
    pairings.router,
    visits.router,
    plans.router,
    policies.router,
    alerts.router,
]
