"""Uplift registry service."""
