"""Uplift matching service."""
