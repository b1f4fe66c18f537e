"""Health follows the database; reflection lists the service."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import grpc
from blog.articles.v1 import articles_pb2, articles_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from article_service import server as article_server
from devstack import bootstrap, migrate, ports, postgres

from .conftest import article_settings
from .helpers import rpc_error

SERVICE = "blog.articles.v1.ArticleService"


async def _status(channel: grpc.aio.Channel, service: str = SERVICE) -> int:
    stub: Any = health_pb2_grpc.HealthStub(channel)  # the sync stubs' types; aio at run time
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
    return int(reply.status)


async def _wait_for(channel: grpc.aio.Channel, wanted: int, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while (status := await _status(channel)) != wanted:
        assert time.monotonic() < deadline, f"health stayed {status}, wanted {wanted}"
        await asyncio.sleep(0.2)


async def test_health_is_serving_with_the_database_up(channel):
    await _wait_for(channel, health_pb2.HealthCheckResponse.SERVING)
    assert await _status(channel, "") == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_article_service(channel):
    stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for reply in stub.ServerReflectionInfo(iter([request])):
        names = {s.name for s in reply.list_services_response.service}
        break
    assert SERVICE in names
    assert "grpc.health.v1.Health" in names


async def test_health_is_not_serving_while_the_database_is_down(tmp_path: Path):
    cluster = postgres.LocalPostgres(tmp_path / "pg", ports.free_port())
    await asyncio.to_thread(cluster.start)
    try:
        password = "health-test-password"
        passwords = {item.role: password for item in bootstrap.ROLES}
        await asyncio.to_thread(bootstrap.bootstrap, cluster.superuser_url(), passwords)
        url = bootstrap.service_url("blog_articles", password, cluster.port)
        await asyncio.to_thread(migrate.upgrade, "articles", url)
        settings = article_settings(url, "127.0.0.1:1")
        async with (
            article_server.running(settings) as started,
            grpc.aio.insecure_channel(f"127.0.0.1:{started.port}") as channel,
        ):
            await _wait_for(channel, health_pb2.HealthCheckResponse.SERVING)
            await asyncio.to_thread(cluster.stop, "immediate")
            await _wait_for(channel, health_pb2.HealthCheckResponse.NOT_SERVING)
            stub = articles_pb2_grpc.ArticleServiceStub(channel)
            error = await rpc_error(stub.ListArticles(articles_pb2.ListArticlesRequest()))
            assert error.code() is grpc.StatusCode.UNAVAILABLE  # not INTERNAL
            await asyncio.to_thread(cluster.start)
            await _wait_for(channel, health_pb2.HealthCheckResponse.SERVING)
    finally:
        await asyncio.to_thread(cluster.stop, "immediate")
