"""Org units, households, persons, status history, parameters, rewards, audit log, imports."""

from __future__ import annotations
