"""The medical service: routers, consumers and scheduled jobs in one place.

Medical-cost capping (五道防线): policy years, insured persons, claim adjudication through five payers,
accumulators and funds.
"""

from __future__ import annotations

from fastapi import FastAPI

from uplift.common.app import ServiceDefinition, create_service_app
from uplift.common.settings import ServiceSettings
from uplift.medical.api import routers
from uplift.medical.config import get_settings
from uplift.medical.consumers import consumers
from uplift.medical.db import platform

definition = ServiceDefinition(
    name="medical",
    title="Uplift medical",
    description=" ".join(__doc__.split("\n\n", 1)[1].split()) if __doc__ else "",
    platform=platform,
    routers=routers,
    consumers=consumers,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(definition, settings or get_settings())
