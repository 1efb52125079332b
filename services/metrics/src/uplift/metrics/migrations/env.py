"""Alembic environment of the metrics service: schema `metrics`, version table inside it."""

from uplift.common.migrations import run_env
from uplift.metrics import models  # noqa: F401  (registers the models on the metadata)
from uplift.metrics.db import SCHEMA, metadata

run_env(schema=SCHEMA, target_metadata=metadata)
