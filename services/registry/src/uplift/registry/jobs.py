"""Time-driven rules of the registry, run once a business day by the platform scheduler."""

from __future__ import annotations

from uplift.common.scheduler import ScheduledJob

lifecycle_jobs: list[ScheduledJob] = []  # transition ends, exit rewards, monitoring ends
monitoring_jobs: list[ScheduledJob] = []  # overdue visits, pension gaps

jobs = [*lifecycle_jobs, *monitoring_jobs]
