"""The `registry` schema: its metadata, the platform tables and the declarative base of its models."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from uplift.common.db import service_metadata

SCHEMA = "registry"
metadata, platform = service_metadata(SCHEMA)


class Base(DeclarativeBase):
    """Declarative base of the registry's models: they live in `metadata`'s schema.

    A class rather than `declarative_base_for(metadata)`, so that type checkers accept it as a base class.
    """

    metadata = metadata
