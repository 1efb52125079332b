"""SQLAlchemy models of the `registry` schema (one module per area)."""

from __future__ import annotations

from uplift.registry.db import Base, metadata, platform
from uplift.registry.models import households as households
from uplift.registry.models import support as support

__all__ = ["Base", "metadata", "platform"]
