"""SQLAlchemy models of the metrics schema."""

from __future__ import annotations

from uplift.metrics.db import Base, metadata, platform

__all__ = ["Base", "metadata", "platform"]
