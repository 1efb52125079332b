"""Schemathesis against every service's OpenAPI document: no 5xx, and every response is one the document
declares, in a declared content type, conforming to its schema.

Each service runs for real (uvicorn on a free 127.0.0.1 port in a background thread, lifespan on, so its database
pool, NATS connection and relay are up). The fuzzer writes district-wide settings (parameters, policy years,
assessment weights) and random households, so it gets a database and a NATS server of its own: nothing it creates
reaches the other tests of the session. The cases come from the OpenAPI document each app builds, with a bounded
number of examples per operation and a deterministic seed, and are sent with a district_admin token that may read
PII (the role that may call nearly everything).

Checked on every response: no 5xx (`not_a_server_error`); its status is one the operation documents
(`status_code_conformance`), so every problem an operation can answer with (400/401/403/404/409/412/422/428/503,
see `uplift.common.openapi`) must be declared on it; its content type is one documented for that status
(`content_type_conformance`: errors are `application/problem+json`); and its body matches the documented schema
(`response_schema_conformance`: errors the `Problem` schema).
"""

from __future__ import annotations

import importlib
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from uplift.common.embedded import EmbeddedNats, free_tcp_port
from uplift.common.migrations import upgrade_all
from uplift.common.testing import fresh_database
from uplift.common.testkit import auth, service_settings

pytestmark = pytest.mark.integration

SERVICES = ("registry", "matching", "medical", "metrics")
ADMIN = auth("district_admin", "420102", ("pii:read",))
EXAMPLES_PER_OPERATION = 12

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "max-examples": EXAMPLES_PER_OPERATION,
            "no-shrink": True,
            "deterministic": True,  # hypothesis' derandomize: the same cases on every run
            "with-security-parameters": False,  # the token is ours, not generated
        },
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)


def openapi_document(service: str) -> dict[str, Any]:
    """The service's OpenAPI document; building it touches neither the database nor NATS."""
    main = importlib.import_module(f"uplift.{service}.main")
    app = main.create_app(service_settings(service, "postgresql://collect@127.0.0.1:9/collect", "nats://127.0.0.1:9"))
    document: dict[str, Any] = app.openapi()
    return document


def load_schema(service: str) -> Any:
    schema = schemathesis.openapi.from_dict(openapi_document(service), config=CONFIG)
    # Replaying every stream into fresh projections is a heavy district-wide job, not an input-handling surface.
    return schema.exclude(path="/metrics/v1/admin/rebuild")


SCHEMAS = {service: load_schema(service) for service in SERVICES}


class BackgroundServer:
    """A uvicorn server for one app on a free loopback port, running its lifespan in its own thread and loop."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.05)

    def request_stop(self) -> None:
        self.server.should_exit = True

    def wait_stopped(self) -> None:
        self.thread.join(timeout=30)
        self.socket.close()


@pytest.fixture(scope="module")
def fuzz_database_url(database_server_url: str) -> Iterator[str]:
    """A database of the fuzzer's own, every service migrated to head."""
    with fresh_database(database_server_url) as url:
        upgrade_all(url)
        yield url


@pytest.fixture(scope="module")
def fuzz_nats_url() -> Iterator[str]:
    """A NATS server of the fuzzer's own, so its events never reach other tests' consumers."""
    with tempfile.TemporaryDirectory(prefix="uplift-fuzz-nats-") as folder:
        server = EmbeddedNats(Path(folder) / "nats", free_tcp_port(), stop_with_parent=True)
        server.start()
        try:
            yield server.url
        finally:
            server.destroy()


@pytest.fixture(scope="module")
def base_urls(fuzz_database_url: str, fuzz_nats_url: str) -> Iterator[dict[str, str]]:
    servers: dict[str, BackgroundServer] = {}
    try:
        for service in SERVICES:
            main = importlib.import_module(f"uplift.{service}.main")
            server = BackgroundServer(main.create_app(service_settings(service, fuzz_database_url, fuzz_nats_url)))
            server.start()
            servers[service] = server
        yield {service: server.base_url for service, server in servers.items()}
    finally:
        # All at once: each shutdown waits for its runtime (relay, consumers, NATS) to stop.
        for server in servers.values():
            server.request_stop()
        for server in servers.values():
            server.wait_stopped()


@schemathesis.pytest.parametrize(**SCHEMAS)
def test_no_server_error_and_every_response_conforms(case: Any, base_urls: dict[str, str]) -> None:
    service = case.path.split("/")[1]
    case.call_and_validate(
        base_url=base_urls[service],
        headers=ADMIN,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
        timeout=30,
    )
