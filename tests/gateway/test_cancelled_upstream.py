"""A call the service cancels reaches a REST client as 503, never as 499.

A draining grpc.aio server cancels the calls it accepted but never ran (gRPC CANCELLED;
tests/service/articles/test_drain.py). The transcoder answers CANCELLED as 499, "client
closed request", which the client did not do and which the OpenAPI document does not list.
Here a real Envoy sends to a real gRPC server that cancels every article call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from devstack.ports import free_port_block
from gateway import launch
from gateway.config import GatewaySettings

pytestmark = pytest.mark.integration  # a real Envoy, on its own

ARTICLES = "blog.articles.v1.ArticleService"


class Cancelling:
    """Cancels every article call, as a draining server cancels the calls it never ran."""

    def __init__(self) -> None:
        self.calls = 0

    async def cancel(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        self.calls += 1
        await context.abort(grpc.StatusCode.CANCELLED, "draining")

    def handler(self) -> grpc.GenericRpcHandler:
        cancel: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(
            self.cancel
        )
        methods = {"GetArticle": cancel, "CreateArticle": cancel}
        return grpc.method_handlers_generic_handler(ARTICLES, methods)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[str, Cancelling]]:
    servicer = Cancelling()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([servicer.handler()])
    health = health_aio.HealthServicer()
    await health.set(ARTICLES, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    upstream = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    base = free_port_block(2)
    settings = GatewaySettings(
        port=base,
        admin_port=base + 1,
        auth_endpoints=["127.0.0.1:1"],  # never called here
        articles_endpoints=[f"127.0.0.1:{upstream}"],
        health_check_interval_seconds=0.2,
    )
    # Envoy starts in a thread: this loop must go on serving its health checks meanwhile.
    envoy = await asyncio.to_thread(launch.start, settings, tmp_path / "gateway")
    try:
        yield f"http://127.0.0.1:{base}", servicer
    finally:
        envoy.terminate()
        await asyncio.to_thread(envoy.wait, 10)
        await server.stop(None)


async def _once_routed(client: httpx.AsyncClient, servicer: Cancelling) -> None:
    """Wait until Envoy's health check has let the upstream in (a call reaches it)."""
    for _ in range(100):
        await client.get("/articles/1")
        if servicer.calls:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("Envoy never sent a call to the upstream")


async def test_a_cancelled_read_or_write_answers_503_unavailable(gateway) -> None:
    url, servicer = gateway
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await _once_routed(client, servicer)
        read = await client.get("/articles/1")
        write = await client.post(
            "/articles",
            json={"title": "t", "content": "cancelled by the server"},
            headers={"authorization": "Bearer x"},
        )
    for reply in (read, write):
        assert reply.status_code == 503, reply.text
        assert reply.headers["content-type"] == "application/json"
        body = reply.json()
        assert body["code"] == 14  # UNAVAILABLE: retry later
        assert body["details"] == []
        assert "retry" in body["message"] or "try again" in body["message"]
        assert int(reply.headers["content-length"]) == len(reply.content)
