"""Fixtures of the metrics service tests: the running service and a publisher onto the source streams.

Tests share one database and one NATS per session: each test makes its own street codes and cohort labels
(`Org.fresh()`), scopes its questions to them, and never assumes empty tables or streams.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from uplift.common.nats_link import ensure_stream
from uplift.common.testkit import RunningService, run_service, service_settings
from uplift.metrics.main import create_app
from uplift.metrics.sample_events import STREAM_OF_SOURCE, Publisher


@pytest.fixture(scope="session")
async def metrics(migrated_database_url: str, nats_url: str) -> AsyncIterator[RunningService]:
    """The metrics service with its three consumers running (one instance for the whole session)."""
    settings = service_settings("metrics", migrated_database_url, nats_url, db_pool_size=10)
    async with run_service(app=create_app(settings)) as service:
        yield service


@pytest.fixture(scope="session")
async def jetstream(nats_url: str) -> AsyncIterator[JetStreamContext]:
    client: Client = await nats.connect(nats_url)
    js = client.jetstream()
    for stream in STREAM_OF_SOURCE.values():
        await ensure_stream(js, stream)
    yield js
    await client.close()


@pytest.fixture
def publisher(jetstream: JetStreamContext) -> Publisher:
    return Publisher(jetstream)
