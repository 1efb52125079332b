"""Uplift metrics service."""
