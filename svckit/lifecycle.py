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
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import grpc
from grpc_health.v1.health import aio as health_aio

from svckit.metrics import flush_calls
from svckit.tracing import Tracing, from_environment

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


class Served(Protocol):
    """What a service's `running()` yields: its started server and health servicer."""

    @property
    def server(self) -> grpc.aio.Server: ...

    @property
    def health(self) -> health_aio.HealthServicer: ...


Start = Callable[[Tracing | None], AbstractAsyncContextManager[Served]]


async def serve_worker(service: str, start: Start, *, grace: float) -> None:
    """One worker of `service`: its tracing (set up here, after the fork, so the exporter
    thread is its own), `start(tracing)` entered, served until a signal, then stopped."""
    traces = from_environment(service)
    try:
        async with start(traces) as served:
            await serve_until_signalled(served.server, served.health, grace=grace)
    finally:
        flush_calls()  # the last calls, answered after the sampler stopped
        if traces is not None:
            traces.close()
