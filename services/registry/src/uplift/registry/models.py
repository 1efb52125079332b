"""SQLAlchemy models of the registry schema."""

from __future__ import annotations

from uplift.registry.db import Base, metadata, platform

__all__ = ["Base", "metadata", "platform"]
