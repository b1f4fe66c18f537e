"""grpc.health.v1 tied to a real check: NOT_SERVING while the database is unreachable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

log = logging.getLogger("svckit.health")

Probe = Callable[[], Awaitable[None]]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def watch(
    health: health_aio.HealthServicer,
    services: Sequence[str],
    probe: Probe,
    *,
    interval: float = 1.0,
    probe_timeout: float = 1.0,
) -> None:
    """Run `probe` every `interval` seconds and publish the result for `services` and ''."""
    serving: bool | None = None
    while True:
        try:
            await asyncio.wait_for(probe(), probe_timeout)
            ok = True
        except Exception as exc:  # noqa: BLE001 - any failure of the probe means not serving
            ok = False
            if serving is not False:
                log.warning("health probe failed", extra={"error": type(exc).__name__})
        if ok != serving:
            serving = ok
            status = SERVING if ok else NOT_SERVING
            for name in ("", *services):
                await health.set(name, status)
            log.info("health", extra={"serving": ok})
        await asyncio.sleep(interval)
