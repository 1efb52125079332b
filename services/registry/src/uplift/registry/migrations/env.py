"""Alembic environment of the registry service: schema `registry`, version table inside it."""

from uplift.common.migrations import run_env
from uplift.registry import models  # noqa: F401  (registers the models on the metadata)
from uplift.registry.db import SCHEMA, metadata

run_env(schema=SCHEMA, target_metadata=metadata)
