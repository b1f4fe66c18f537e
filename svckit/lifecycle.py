"""Start a grpc.aio server and stop it in two stages on SIGTERM or SIGINT.

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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    log.info("started")
    await stop.wait()
    log.info("stopping", extra={"grace_s": grace})
    await health.enter_graceful_shutdown()
    await server.stop(grace)
    log.info("stopped")
