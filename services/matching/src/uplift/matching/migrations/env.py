"""Alembic environment of the matching service: schema `matching`, version table inside it."""

from uplift.common.migrations import run_env
from uplift.matching import models  # noqa: F401  (registers the models on the metadata)
from uplift.matching.db import SCHEMA, metadata

run_env(schema=SCHEMA, target_metadata=metadata)
