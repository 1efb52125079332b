"""The metrics service: routers, consumers and scheduled jobs in one place.

Indicators, assessment (考核) and reports, built from every service's events.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import FastAPI

from uplift.common.app import ServiceDefinition, create_service_app
from uplift.common.settings import ServiceSettings
from uplift.metrics.api import assessments, indicators, rebuild, reports
from uplift.metrics.config import get_settings
from uplift.metrics.db import platform
from uplift.metrics.projection_consumer import ProjectionConsumer
from uplift.metrics.projections import consumer_specs

definition = ServiceDefinition(
    name="metrics",
    title="Uplift metrics",
    description=" ".join(__doc__.split("\n\n", 1)[1].split()) if __doc__ else "",
    routers=[indicators.router, assessments.router, reports.router, rebuild.router],
    # One durable consumer per source stream (REGISTRY, MATCHING, MEDICAL), projecting every event type.
    consumers=[replace(spec, consumer_class=ProjectionConsumer) for spec in consumer_specs()],
    platform=platform,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(definition, settings or get_settings())
