"""Health that follows the database, and a graceful exit of the real process on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from auth_service.config import Settings
from auth_service.server import running
from devstack import bootstrap, migrate, ports, postgres

from .conftest import make_settings

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _wait_for_status(health: Any, wanted: int) -> None:
    for _ in range(150):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
        if reply.status == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"health never became {wanted}")


async def test_health_is_not_serving_while_the_database_is_down(
    tmp_path: Path, keys_dir: Path
) -> None:
    cluster = postgres.LocalPostgres(tmp_path / "pg", ports.free_port())
    await asyncio.to_thread(cluster.start)
    try:
        password = secrets.token_urlsafe(16)
        passwords = {item.role: password for item in bootstrap.ROLES}
        await asyncio.to_thread(bootstrap.bootstrap, cluster.superuser_url(), passwords)
        url = bootstrap.service_url("blog_auth", password, cluster.port)
        await asyncio.to_thread(migrate.upgrade, "auth", url)
        async with (
            running(make_settings(url, keys_dir)) as server,
            grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
        ):
            health = health_pb2_grpc.HealthStub(channel)
            await _wait_for_status(health, SERVING)
            await asyncio.to_thread(cluster.stop, "fast")
            await _wait_for_status(health, NOT_SERVING)
            # A call meanwhile is told to retry, not that the server broke.
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Login(auth_pb2.LoginRequest(username="nobody", password="whatever1"))
            assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
            await asyncio.to_thread(cluster.start)
            await _wait_for_status(health, SERVING)
    finally:
        await asyncio.to_thread(cluster.stop, "immediate")


async def test_sigterm_stops_the_process_gracefully(
    settings: Settings, keys_dir: Path, tmp_path: Path
) -> None:
    port = ports.free_port()
    env = {
        **os.environ,
        "AUTH_DATABASE_URL": settings.database_url.get_secret_value(),
        "AUTH_PORT": str(port),
        "AUTH_WORKER_BASE_PORT": "0",
        "AUTH_WORKERS": "1",
        "AUTH_KEYS_DIR": str(keys_dir),
    }
    log = tmp_path / "auth.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "auth_service", env=env, stderr=stderr
        )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            reply = await stub.ListPublicKeys(
                auth_pb2.ListPublicKeysRequest(), wait_for_ready=True, timeout=20
            )
            assert len(reply.keys) == 1
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
        assert code == 0, log.read_text()
        messages = [json.loads(line)["msg"] for line in log.read_text().splitlines()]
        assert messages[-1] == "stopped"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_calls_beyond_the_concurrency_bound_are_shed_at_once(
    settings: Settings,
) -> None:
    bounded = settings.model_copy(update={"max_concurrent_rpcs": 1})
    async with (
        running(bounded) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        request = auth_pb2.LoginRequest(username="nobody_here", password="not-the-password")
        results = await asyncio.gather(
            *(stub.Login(request) for _ in range(6)), return_exceptions=True
        )
    codes = [r.code() for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(codes) == 6  # no login succeeds; each answer is a status
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes  # shed, not queued
    assert grpc.StatusCode.UNAUTHENTICATED in codes  # the admitted call was answered
