"""Composition root: engine, auth keys, servicer, health, reflection, interceptor, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
from blog.articles.v1 import articles_pb2, articles_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from article_service import errors, operations
from article_service import metrics as article_metrics
from article_service.auth_client import PublicKeyCache, TokenVerifier, grpc_key_source
from article_service.config import Settings
from article_service.db.driver import DriverCreateUnit
from article_service.db.lock import try_advisory_lock
from article_service.db.readers import BatchedReads
from article_service.db.uow import SqlUnitOfWork
from article_service.deleted_users import DeletedUsers
from article_service.servicer import ArticleServicer
from article_service.token_epochs import TokenEpochs
from article_service.user_feed import LOCK_KEY, FeedTiming, UserFeedConsumer
from svckit import health, lifecycle
from svckit.calls import CallInterceptor
from svckit.database import asyncpg_connect_args
from svckit.db_metrics import MeteredPool, counting_errors, watch_pool
from svckit.interceptors import chained
from svckit.metrics import Sampler, metrics_interceptors
from svckit.tracing import Tracing, tracer_of
from svckit.tracing_grpc import channel_interceptors, server_spans
from svckit.tracing_sql import trace_statements

log = logging.getLogger("article_service.server")

SERVICE_NAME: str = articles_pb2.DESCRIPTOR.services_by_name["ArticleService"].full_name


@dataclass(frozen=True)
class Running:
    port: int
    server: grpc.aio.Server
    health: health_aio.HealthServicer
    consumer: UserFeedConsumer
    deleted_users: DeletedUsers
    token_epochs: TokenEpochs


def create_engine(settings: Settings, traces: Tracing | None = None) -> AsyncEngine:
    """The service's pool; its statements traced when `traces` is given."""
    engine = create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.db_pool_size,
        # A fixed pool: overflow connections are closed as soon as they come back, so under
        # load every few calls paid for a new connection (fork, SCRAM) on both sides.
        max_overflow=0,
        poolclass=MeteredPool,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args=asyncpg_connect_args(settings.db_statement_timeout_seconds),
    )
    trace_statements(engine, traces)
    return engine


AUTH_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    # The user feed is one long stream: pings find a frozen or vanished auth service within
    # ~15 s (the feed then reconnects), where TCP alone could wait for minutes.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.max_pings_without_data", 0),
]


@contextlib.asynccontextmanager
async def running(
    settings: Settings, worker_index: int = 0, traces: Tracing | None = None
) -> AsyncIterator[Running]:
    """Build and start the server; on exit stop it and release the channel and engine."""
    engine = create_engine(settings, traces)
    # gRPC's reconnect backoff grows to 2 minutes by default; capped, a restarted auth
    # service is seen again within seconds (new signing keys, the user feed).
    channel = grpc.aio.insecure_channel(
        settings.auth_address,
        options=AUTH_CHANNEL_OPTIONS,
        interceptors=channel_interceptors(traces),
    )
    keys = PublicKeyCache(
        article_metrics.counting_keys(grpc_key_source(channel, settings.auth_timeout_seconds)),
        min_refresh_seconds=settings.keys_refresh_seconds,
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions)

    deleted = DeletedUsers(
        lambda seq: operations.deleted_users_after(uow(), seq),
        interval=settings.deleted_users_refresh_seconds,
    )
    # Same cadence as deletions: both are refusals of tokens learnt from the feed.
    epochs = TokenEpochs(
        lambda seq: operations.token_epochs_after(uow(), seq),
        interval=settings.deleted_users_refresh_seconds,
    )
    tokens = TokenVerifier(
        keys,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        refused=deleted,
        epoch_floor=epochs.floor,
    )
    tracer = tracer_of(traces, "article_service")
    consumer = _consumer(settings, channel, uow, (deleted, epochs), tracer)
    server = grpc.aio.server(
        interceptors=chained(
            *metrics_interceptors(settings.metrics_port != 0),
            CallInterceptor(counting_errors(errors.to_status, {}), server_spans(traces)),
        ),
        options=[("grpc.so_reuseport", 1 if settings.workers > 1 else 0)],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    servicer = ArticleServicer(
        tokens,
        # Reads batched with the same reads of concurrent calls, on the asyncpg driver.
        reader=BatchedReads(engine, on_batch=article_metrics.batch_observer()),
        creating=lambda: DriverCreateUnit(engine),
        uow=uow,
    )
    articles_pb2_grpc.add_ArticleServiceServicer_to_server(servicer, server)
    health_servicer = health_aio.HealthServicer()
    for name in ("", SERVICE_NAME):  # until the first probe says otherwise
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    if settings.worker_base_port:
        server.add_insecure_port(f"{settings.host}:{settings.worker_base_port + worker_index}")
    tasks: list[asyncio.Task[None]] = []
    try:
        await _load(deleted, epochs)
        await server.start()
        tasks.append(
            asyncio.create_task(health.watch(health_servicer, [SERVICE_NAME], _probe(engine)))
        )
        tasks.append(asyncio.create_task(deleted.run()))
        tasks.append(asyncio.create_task(epochs.run()))
        if settings.feed_consumer:
            tasks.append(asyncio.create_task(consumer.run()))
        tasks.append(asyncio.create_task(_sampler(engine, consumer).run()))
        yield Running(port, server, health_servicer, consumer, deleted, epochs)
    finally:
        await _stop(tasks)
        await server.stop(settings.shutdown_grace_seconds)
        await channel.close()
        await engine.dispose()


def _consumer(
    settings: Settings,
    channel: grpc.aio.Channel,
    uow: Callable[[], SqlUnitOfWork],
    refusals: tuple[DeletedUsers, TokenEpochs],
    tracer: trace.Tracer | None = None,
) -> UserFeedConsumer:
    url = settings.database_url.get_secret_value()
    timing = FeedTiming(
        lock_retry_seconds=settings.feed_lock_retry_seconds,
        backoff_max_seconds=settings.feed_backoff_max_seconds,
        lag_log_seconds=settings.feed_lag_log_seconds,
    )
    return UserFeedConsumer(
        channel,
        uow,
        lambda: try_advisory_lock(url, LOCK_KEY),
        on_deleted=refusals[0].add,
        on_tokens_revoked=refusals[1].raise_to,
        timing=timing,
        tracer=tracer,
    )


async def _load(deleted: DeletedUsers, epochs: TokenEpochs) -> None:
    """Deleted users and token epochs before the first call; if the database is away, the
    refreshers retry."""
    try:
        await deleted.refresh()
        await epochs.refresh()
    except Exception as exc:  # noqa: BLE001 - start anyway: health reports the database
        log.warning("deleted users not loaded", extra={"error": type(exc).__name__})


async def _stop(tasks: list[asyncio.Task[None]], within: float = 5.0) -> None:
    """Cancel the background tasks and wait for them, but never forever."""
    for task in tasks:
        task.cancel()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=within)
        if pending:
            log.warning("background tasks did not stop", extra={"tasks": len(pending)})


def _sampler(engine: AsyncEngine, consumer: UserFeedConsumer) -> Sampler:
    sampler = Sampler()
    watch_pool(engine, sampler)
    article_metrics.watch_feed(consumer, sampler)
    return sampler


def _probe(engine: AsyncEngine) -> health.Probe:
    async def probe() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return probe


async def serve(settings: Settings, worker_index: int) -> None:
    """Run one worker until SIGTERM/SIGINT, then stop in two stages."""
    await lifecycle.serve_worker(
        "articles",
        lambda traces: running(settings, worker_index, traces),
        grace=settings.shutdown_grace_seconds,
    )
