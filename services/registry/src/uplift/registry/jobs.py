"""Time-driven rules of the registry, run once a business day by the platform scheduler."""

from __future__ import annotations

from uplift.common.scheduler import ScheduledJob
from uplift.registry.service.alerts import pension_gap_job, visit_overdue_job
from uplift.registry.service.lifecycle import end_due_transitions, end_monitoring, grant_exit_rewards

lifecycle_jobs: list[ScheduledJob] = [  # transition ends, exit rewards, monitoring ends
    ScheduledJob("transition_ends", end_due_transitions),
    ScheduledJob("exit_rewards", grant_exit_rewards),
    ScheduledJob("monitoring_ends", end_monitoring),
]
monitoring_jobs: list[ScheduledJob] = [  # overdue visits, pension gaps
    ScheduledJob("visit_overdue", visit_overdue_job),
    ScheduledJob("pension_gap", pension_gap_job),
]

jobs = [*lifecycle_jobs, *monitoring_jobs]
