"""The registry service: routers, consumers and scheduled jobs in one place.

The household registry (对象库): org units, helpers, households and persons, lifecycle, pairing, visits, plans,
the policy toolbox, monitoring and bulk import.
"""

from __future__ import annotations

from fastapi import FastAPI

from uplift.common.app import ServiceDefinition, create_service_app
from uplift.common.settings import ServiceSettings
from uplift.registry.api import core, support
from uplift.registry.config import get_settings
from uplift.registry.consumers import consumers
from uplift.registry.db import platform
from uplift.registry.jobs import jobs

definition = ServiceDefinition(
    name="registry",
    title="Uplift registry",
    description=" ".join(__doc__.split("\n\n", 1)[1].split()) if __doc__ else "",
    platform=platform,
    routers=[*core.routers, *support.routers],
    consumers=consumers,
    jobs=jobs,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(definition, settings or get_settings())
