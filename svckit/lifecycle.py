"""Serve a started grpc.aio server until SIGTERM or SIGINT, then stop it in two stages.

The caller has started the server: each service's `running()` does, so tests get the same
started server without waiting for signals.

First health turns NOT_SERVING (so balancers stop sending), then the server refuses new
calls and gives in-flight ones up to `grace` seconds to finish.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import grpc
from grpc_health.v1.health import aio as health_aio

log = logging.getLogger("svckit.lifecycle")


async def serve_until_signalled(
    server: grpc.aio.Server,
    health: health_aio.HealthServicer,
    *,
    grace: float,
) -> None:
    """Wait for a signal, then drain `health` and stop `server` (already started)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("started")
    await stop.wait()
    log.info("stopping", extra={"grace_s": grace})
    await health.enter_graceful_shutdown()
    await server.stop(grace)
    log.info("stopped")
