"""The service's connection to NATS, which may come and go without taking the service down."""

from __future__ import annotations

import asyncio
import contextlib

import nats
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

log = structlog.get_logger("uplift.nats")

STREAMS = ("REGISTRY", "MATCHING", "MEDICAL", "METRICS")


def server_list(url: str) -> list[str]:
    """`nats://a:4222,nats://b:4222` (the NATS convention for a cluster) as the list nats-py wants."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError("the NATS URL is empty")
    return servers


class NatsLink:
    """Connects in the background and keeps reconnecting; `js` is usable while `connected` is true."""

    def __init__(self, url: str, *, name: str, connect_timeout: float = 2.0) -> None:
        self.url = url
        self.name = name
        self._connect_timeout = connect_timeout
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise ConnectionError("NATS is not connected")
        return self._js

    @property
    def client(self) -> Client:
        if self._nc is None:
            raise ConnectionError("NATS is not connected")
        return self._nc

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_loop(), name=f"nats-connect:{self.name}")

    async def wait_connected(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _connect_loop(self) -> None:
        delay = 0.2
        while not self._closing:
            try:
                nc = await nats.connect(
                    servers=server_list(self.url),
                    name=self.name,
                    connect_timeout=self._connect_timeout,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
            except Exception as exc:  # the first connection failed: keep trying, the service stays up
                log.warning("nats_connect_failed", url=self.url, error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._nc = nc
            self._js = nc.jetstream()
            self._ready.set()
            log.info("nats_connected", url=self.url)
            return

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats_error", error=str(exc))

    async def _on_disconnected(self) -> None:
        log.warning("nats_disconnected")

    async def _on_reconnected(self) -> None:
        log.info("nats_reconnected")

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.flush(), 1)
            with contextlib.suppress(Exception):
                await self._nc.close()
        self._nc = None
        self._js = None


async def ensure_stream(js: JetStreamContext, name: str, *, duplicate_window: float = 120.0, replicas: int = 1) -> None:
    """Create stream `name` on `<name lowercase>.>` or bring its config up to date (idempotent).

    Streams keep every event (no max age): with the outboxes they are the history replay and rebuild use.
    """
    config = StreamConfig(
        name=name,
        subjects=[f"{name.lower()}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        duplicate_window=duplicate_window,
        num_replicas=replicas,
        max_age=0,
    )
    try:
        await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            log.info("stream_created", stream=name)
            return
        except BadRequestError:  # created by someone else meanwhile
            pass
    await js.update_stream(config)
