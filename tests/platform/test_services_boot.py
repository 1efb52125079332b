"""Each of the four services boots on its migrated schema with health, readiness, metrics and docs."""

from __future__ import annotations

import importlib

import pytest

from uplift.common.migrations import SERVICES
from uplift.common.testkit import run_service, service_settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", SERVICES)
async def test_service_boots_with_health_ready_metrics_and_docs(
    service: str, migrated_database_url: str, nats_url: str
) -> None:
    main = importlib.import_module(f"uplift.{service}.main")
    app = main.create_app(service_settings(service, migrated_database_url, nats_url))
    async with run_service(app=app) as svc:
        c = svc.client
        assert (await c.get(f"/{service}/healthz")).json() == {"status": "ok"}
        assert await svc.runtime.nats.wait_connected(10)
        ready = await c.get(f"/{service}/readyz")
        assert ready.status_code == 200 and ready.json()["database"] == "ok"
        openapi = (await c.get(f"/{service}/openapi.json")).json()
        assert openapi["info"]["title"] == f"Uplift {service}"
        assert f"/{service}/v1/admin/outbox:replay" in openapi["paths"]
        assert (await c.get(f"/{service}/docs")).status_code == 200
        assert "uplift_http_requests_total" in (await c.get(f"/{service}/metrics")).text
        if service == "metrics":  # a ConsumerSpec may name a variant of the consumer loop
            assert {type(consumer).__name__ for consumer in svc.runtime.consumers} == {"ProjectionConsumer"}
