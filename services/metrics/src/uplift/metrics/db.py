"""The `metrics` schema: its metadata, the platform tables and the declarative base of its models."""

from __future__ import annotations

from uplift.common.db import declarative_base_for, service_metadata

SCHEMA = "metrics"
metadata, platform = service_metadata(SCHEMA)
Base = declarative_base_for(metadata)
