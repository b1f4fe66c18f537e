"""Composition root of the auth service: engine, operations, servicers, health, reflection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from auth_service import errors, keys
from auth_service import metrics as auth_metrics
from auth_service.config import Settings
from auth_service.db.uow import SqlUnitOfWork
from auth_service.models import PublicKey, ThrottlePolicy
from auth_service.operations import AuthOperations, poll_every
from auth_service.passwords import PasswordHasher
from auth_service.servicer import AuthServicer
from auth_service.tokens import TokenCodec
from svckit import health, lifecycle
from svckit.calls import CallInterceptor
from svckit.database import asyncpg_connect_args
from svckit.db_metrics import MeteredPool, counting_errors, watch_pool
from svckit.interceptors import chained
from svckit.metrics import Sampler, metrics_interceptors
from svckit.tokens import ALGORITHM
from svckit.tracing import Tracing
from svckit.tracing_grpc import server_spans
from svckit.tracing_sql import trace_statements

SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name


@dataclass(frozen=True)
class Running:
    server: grpc.aio.Server
    health: health_aio.HealthServicer
    port: int  # the shared port actually bound (useful when configured as 0)


def create_engine(settings: Settings, traces: Tracing | None = None) -> AsyncEngine:
    """The service's pool; its statements traced when `traces` is given."""
    engine = create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.db_pool_size,
        pool_pre_ping=True,  # connections die when the database restarts
        poolclass=MeteredPool,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args=asyncpg_connect_args(settings.db_statement_timeout_seconds),
    )
    trace_statements(engine, traces)
    return engine


class _DrainingHealth(health_aio.HealthServicer):
    """Health that also ends open event feeds when the server starts its graceful shutdown,
    so a long-lived WatchUserEvents stream does not hold the shutdown for the whole grace."""

    def __init__(self, draining: asyncio.Event) -> None:
        super().__init__()
        self._draining = draining

    async def enter_graceful_shutdown(self) -> None:
        self._draining.set()
        await super().enter_graceful_shutdown()


async def build_operations(
    settings: Settings,
    engine: AsyncEngine,
    draining: asyncio.Event | None = None,
    sampler: Sampler | None = None,
) -> AuthOperations:
    keyring = keys.load_keyring(settings.keys_dir, settings.active_kid)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    tokens = TokenCodec(
        keyring,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl=timedelta(minutes=settings.token_ttl_minutes),
    )
    public = [PublicKey(kid, ALGORITHM, keyring.public_pem(kid)) for kid in keyring.public_keys]
    throttle = ThrottlePolicy(
        settings.login_max_failures, timedelta(seconds=settings.login_failure_window_seconds)
    )
    hasher = await PasswordHasher.create(
        settings.bcrypt_rounds, settings.bcrypt_threads, settings.bcrypt_max_waiting
    )
    if sampler is not None:
        auth_metrics.watch_hasher(hasher, sampler)
    return AuthOperations(
        lambda: SqlUnitOfWork(sessions),
        hasher,
        tokens,
        public,
        throttle,
        idle=poll_every(settings.events_poll_seconds, draining),
        refresh_lifetime=timedelta(days=settings.refresh_token_ttl_days),
    )


def _create_server(
    settings: Settings,
    operations: AuthOperations,
    draining: asyncio.Event,
    traces: Tracing | None = None,
) -> tuple[grpc.aio.Server, health_aio.HealthServicer]:
    reuse_port = 1 if settings.workers > 1 else 0
    server = grpc.aio.server(
        interceptors=chained(
            *metrics_interceptors(settings.metrics_port != 0),
            CallInterceptor(
                counting_errors(errors.to_status, auth_metrics.counted_errors()),
                server_spans(traces),
            ),
        ),
        options=[
            ("grpc.so_reuseport", reuse_port),
            # Accept the article service's keepalive pings on the long user-feed stream, and
            # never answer early ones with GOAWAY (seen under load: timers bunch up).
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
            ("grpc.http2.max_ping_strikes", 0),
        ],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(operations), server)
    health_servicer = _DrainingHealth(draining)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    reflection.enable_server_reflection((*names, reflection.SERVICE_NAME), server)
    return server, health_servicer


@contextlib.asynccontextmanager
async def running(
    settings: Settings, worker_index: int = 0, traces: Tracing | None = None
) -> AsyncIterator[Running]:
    """A started server for `settings`; stopped, with its engine disposed, on exit."""
    engine = create_engine(settings, traces)
    draining = asyncio.Event()
    sampler = Sampler()
    watch_pool(engine, sampler)
    try:
        operations = await build_operations(settings, engine, draining, sampler)
        server, health_servicer = _create_server(settings, operations, draining, traces)
        port = server.add_insecure_port(f"{settings.host}:{settings.port}")
        if settings.worker_base_port:
            server.add_insecure_port(f"{settings.host}:{settings.worker_base_port + worker_index}")

        async def probe() -> None:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        await server.start()
        watcher = asyncio.create_task(health.watch(health_servicer, [SERVICE_NAME], probe))
        sampling = asyncio.create_task(sampler.run())
        try:
            yield Running(server, health_servicer, port)
        finally:
            watcher.cancel()
            sampling.cancel()
            draining.set()
            await server.stop(settings.shutdown_grace_seconds)
    finally:
        await engine.dispose()


async def serve(settings: Settings, worker_index: int) -> None:
    """Run one worker until SIGTERM/SIGINT, then stop in two stages."""
    await lifecycle.serve_worker(
        "auth",
        lambda traces: running(settings, worker_index, traces),
        grace=settings.shutdown_grace_seconds,
    )
