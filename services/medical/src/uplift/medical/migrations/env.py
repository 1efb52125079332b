"""Alembic environment of the medical service: schema `medical`, version table inside it."""

from uplift.common.migrations import run_env
from uplift.medical import models  # noqa: F401  (registers the models on the metadata)
from uplift.medical.db import SCHEMA, metadata

run_env(schema=SCHEMA, target_metadata=metadata)
