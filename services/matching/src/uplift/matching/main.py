"""The matching service: routers, consumers and scheduled jobs in one place.

Job matching (岗位库 × 对象库): employers, postings, seekers, explained recommendations, job-fair assignment,
applications and placements, trainings.
"""

from __future__ import annotations

from fastapi import FastAPI

from uplift.common.app import ServiceDefinition, create_service_app
from uplift.common.settings import ServiceSettings
from uplift.matching.api import routers
from uplift.matching.api.access import install_matching_state, start_warming_caches
from uplift.matching.config import get_settings
from uplift.matching.consumers import consumers
from uplift.matching.db import platform

definition = ServiceDefinition(
    name="matching",
    title="Uplift matching",
    description=" ".join(__doc__.split("\n\n", 1)[1].split()) if __doc__ else "",
    platform=platform,
    routers=routers,
    consumers=consumers,
    on_startup=[install_matching_state, start_warming_caches],
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(definition, settings or get_settings())
