"""Tracing in forked workers: the real `python -m article_service` with two workers, each
building its own exporter after the fork, both exporting to a real OTLP receiver."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
from blog.articles.v1 import articles_pb2, articles_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.ports import free_port_block
from tests.e2e.otlp import receiving

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2


async def _serving(port: int, within: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    request = health_pb2.HealthCheckRequest(service="blog.articles.v1.ArticleService")
    while True:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs are untyped
                reply = await stub.Check(request, timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
        assert loop.time() < deadline, f"worker on {port} not SERVING"
        await asyncio.sleep(0.3)


async def test_each_forked_worker_exports_its_own_spans(services, database, tmp_path) -> None:
    auth_port, _ = services
    base = free_port_block(1 + WORKERS)
    async with receiving() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLES_", "OTEL_"))}
        env.update(
            ARTICLES_DATABASE_URL=database.urls["articles"],
            ARTICLES_PORT=str(base),
            ARTICLES_WORKER_BASE_PORT=str(base + 1),
            ARTICLES_WORKERS=str(WORKERS),
            ARTICLES_AUTH_ADDRESS=f"127.0.0.1:{auth_port}",
            ARTICLES_FEED_CONSUMER="false",
            ARTICLES_METRICS_PORT="0",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{receiver.endpoint}",
            OTEL_BSP_SCHEDULE_DELAY="200",
        )
        log = tmp_path / "articles.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: ASYNC220 - a long-lived server, reaped below
                [sys.executable, "-m", "article_service"], cwd=ROOT, env=env, stderr=out
            )
        try:
            traces = {}
            for worker in range(WORKERS):
                port = base + 1 + worker
                await _serving(port)
                trace_id = f"{worker + 1:032x}"
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                    await articles_pb2_grpc.ArticleServiceStub(channel).ListArticles(
                        articles_pb2.ListArticlesRequest(limit=1),
                        metadata=(("traceparent", f"00-{trace_id}-{'5' * 16}-01"),),
                        timeout=5,
                    )
                traces[worker] = trace_id
            for trace_id in traces.values():
                await receiver.wait_for(trace_id, {"articles"}, within=10)
        finally:
            process.terminate()
            await asyncio.to_thread(process.wait, 30)
    pids = set()
    for trace_id in traces.values():
        [server] = [s for s in receiver.of_trace(trace_id) if s.name.endswith("/ListArticles")]
        pids.add(server.process_pid)
        assert server.parent_id == "5" * 16
    assert len(pids) == WORKERS  # one exporter per worker, each in its own process
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    calls = [line for line in lines if str(line.get("method", "")).endswith("/ListArticles")]
    assert {line["trace_id"] for line in calls} == set(traces.values())
    assert {line["pid"] for line in calls} == pids  # logs and spans join on the pid too
