"""Uplift medical service."""
