"""SQLAlchemy models of the matching schema."""

from __future__ import annotations

from uplift.matching.db import Base, metadata, platform

__all__ = ["Base", "metadata", "platform"]
