"""Cadres, party branches, contracts, pairings, visits, assistance-plan measures, policies, alerts."""

from __future__ import annotations
