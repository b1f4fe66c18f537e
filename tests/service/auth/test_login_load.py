"""Logins under load, through a real server: equal timing for unknown users and wrong
passwords, health that keeps answering while bcrypt is saturated, and prompt shedding."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from auth_service.server import running
from tests.conftest import Database

from .conftest import PASSWORD, make_settings

ROUNDS = 12  # logins of each kind in the timing comparison; bcrypt makes each ~0.2 s


@asynccontextmanager
async def _server(database: Database, keys_dir: Path, **overrides: Any) -> AsyncIterator[Any]:
    """A server of these tests' own (its throttle and bcrypt pool differ from the session's)."""
    settings = make_settings(database.urls["auth"], keys_dir).model_copy(update=overrides)
    async with (
        running(settings) as started,
        grpc.aio.insecure_channel(f"127.0.0.1:{started.port}") as channel,
    ):
        yield channel


async def _login_seconds(stub: Any, name: str, password: str) -> float:
    started = time.perf_counter()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Login(auth_pb2.LoginRequest(username=name, password=password))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details() == "Incorrect username or password"
    return time.perf_counter() - started


async def test_unknown_user_and_wrong_password_take_the_same_median_time(
    database: Database, keys_dir: Path, alice: auth_pb2.User
) -> None:
    async with _server(database, keys_dir, login_max_failures=10_000) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        unknown: list[float] = []
        wrong: list[float] = []
        for i in range(ROUNDS):  # interleaved, so drift in machine load hits both alike
            unknown.append(await _login_seconds(stub, f"nobody-{i}", PASSWORD))
            wrong.append(await _login_seconds(stub, "alice", f"wrong password {i}"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    print(
        f"login medians: unknown user {statistics.median(unknown) * 1000:.0f} ms, "
        f"wrong password {statistics.median(wrong) * 1000:.0f} ms, ratio {ratio:.2f}"
    )
    assert 0.8 <= ratio <= 1.25


async def test_health_answers_within_a_second_while_logins_saturate_bcrypt(
    database: Database, keys_dir: Path, alice: auth_pb2.User
) -> None:
    async with _server(database, keys_dir, login_max_failures=10_000) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        health: Any = health_pb2_grpc.HealthStub(channel)  # typed as sync; aio at run time
        stop = asyncio.Event()

        async def flood() -> int:
            done = 0
            while not stop.is_set():
                request = auth_pb2.LoginRequest(username="alice", password=PASSWORD)
                await stub.Login(request, timeout=30)
                done += 1
            return done

        floods = [asyncio.create_task(flood()) for _ in range(16)]
        await asyncio.sleep(0.5)  # let the queue build up
        latencies: list[float] = []
        for _ in range(15):
            started = time.perf_counter()
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            latencies.append(time.perf_counter() - started)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            await asyncio.sleep(0.1)
        stop.set()
        logins = sum(await asyncio.gather(*floods))
    print(f"health under a login flood: max {max(latencies) * 1000:.0f} ms, {logins} logins")
    assert logins >= 16  # the flood really was running
    assert max(latencies) < 1.0


async def test_logins_beyond_the_bcrypt_queue_are_shed_at_once(
    database: Database, keys_dir: Path, alice: auth_pb2.User
) -> None:
    async with _server(database, keys_dir, bcrypt_threads=1, bcrypt_max_waiting=2) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)

        async def login() -> tuple[grpc.StatusCode, float]:
            started = time.perf_counter()
            try:
                await stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
            return code, time.perf_counter() - started

        results = await asyncio.gather(*(login() for _ in range(10)))
    ok = [seconds for code, seconds in results if code is grpc.StatusCode.OK]
    shed = [seconds for code, seconds in results if code is grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert len(ok) == 3  # one hashing, two waiting
    assert len(shed) == 7
    assert max(shed) < min(ok)  # shed before any queued check finished
