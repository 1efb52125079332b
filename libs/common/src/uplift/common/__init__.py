"""Uplift shared platform library."""
