"""SQLAlchemy models of the medical schema."""

from __future__ import annotations

from uplift.medical.db import Base, metadata, platform

__all__ = ["Base", "metadata", "platform"]
