"""The metrics interceptor over a real grpc.aio server: every call counted by method and code,
streams included, and the database errors behind a failure counted by kind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import grpc
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import exc as sa_exc

from svckit.calls import CallInterceptor
from svckit.db_metrics import counting_errors, db_error_kind
from svckit.metrics import MetricsInterceptor

SERVICE = "test.metrics.Things"


async def echo(request: bytes, context: Any) -> bytes:
    return request


async def refuse(request: bytes, context: Any) -> bytes:
    await context.abort(grpc.StatusCode.PERMISSION_DENIED, "no")
    raise AssertionError("unreachable")


async def crash(request: bytes, context: Any) -> bytes:
    raise RuntimeError("boom") from asyncpg.exceptions.QueryCanceledError("statement timeout")


async def count_to_three(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for number in (b"1", b"2", b"3"):
        yield number


async def write_two(request: bytes, context: Any) -> None:
    await context.write(b"a")
    await context.write(b"b")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"grpc_service": SERVICE, **labels}) or 0.0


async def settled(read: Callable[[], float], expected: float) -> float:
    """`read()` once it equals `expected`, or its last value after a second. The client may
    see its answer a moment before the server's interceptor has counted the call."""
    for _ in range(100):
        value = read()
        if value == expected:
            return value
        await asyncio.sleep(0.01)
    return read()


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Refuse": grpc.unary_unary_rpc_method_handler(refuse),
        "Crash": grpc.unary_unary_rpc_method_handler(crash),
        "Count": grpc.unary_stream_rpc_method_handler(count_to_three),
        "Write": grpc.unary_stream_rpc_method_handler(write_two),
    }
    interceptors = [MetricsInterceptor(), CallInterceptor(counting_errors(lambda exc: None, {}))]
    server = grpc.aio.server(interceptors=interceptors)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
        yield chan
    await server.stop(None)


async def test_unary_calls_are_counted_by_method_and_code(channel):
    unary = {"grpc_type": "unary"}
    before = {
        code: sample("grpc_server_handled_total", grpc_method=method, grpc_code=code, **unary)
        for method, code in (("Echo", "OK"), ("Refuse", "PERMISSION_DENIED"))
    }
    started = sample("grpc_server_started_total", grpc_method="Echo", **unary)
    for _ in range(3):
        assert await channel.unary_unary(f"/{SERVICE}/Echo")(b"x") == b"x"
    with pytest.raises(grpc.aio.AioRpcError):
        await channel.unary_unary(f"/{SERVICE}/Refuse")(b"x")
    ok = await settled(
        lambda: sample("grpc_server_handled_total", grpc_method="Echo", grpc_code="OK", **unary),
        before["OK"] + 3,
    )
    assert ok - before["OK"] == 3
    assert sample("grpc_server_started_total", grpc_method="Echo", **unary) - started == 3
    refused = {"grpc_method": "Refuse", "grpc_code": "PERMISSION_DENIED", **unary}
    denied = await settled(
        lambda: sample("grpc_server_handled_total", **refused), before["PERMISSION_DENIED"] + 1
    )
    assert denied - before["PERMISSION_DENIED"] == 1
    assert sample("grpc_server_handling_seconds_count", grpc_method="Echo", **unary) >= 3


async def test_a_statement_timeout_counts_unavailable_and_its_kind(channel):
    timeouts = REGISTRY.get_sample_value("blog_db_errors_total", {"kind": "timeout"}) or 0.0
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await channel.unary_unary(f"/{SERVICE}/Crash")(b"x")
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    code = {"grpc_code": "UNAVAILABLE", "grpc_type": "unary"}
    assert sample("grpc_server_handled_total", grpc_method="Crash", **code) >= 1
    counted = await settled(
        lambda: REGISTRY.get_sample_value("blog_db_errors_total", {"kind": "timeout"}) or 0.0,
        timeouts + 1,
    )
    assert counted == timeouts + 1


@pytest.mark.parametrize("method", ["Count", "Write"])
async def test_server_streams_are_counted_when_they_end(channel, method):
    labels = {"grpc_method": method, "grpc_type": "server_stream"}
    before = sample("grpc_server_handled_total", grpc_code="OK", **labels)
    replies = [reply async for reply in channel.unary_stream(f"/{SERVICE}/{method}")(b"")]
    assert len(replies) in (2, 3)
    handled = await settled(
        lambda: sample("grpc_server_handled_total", grpc_code="OK", **labels), before + 1
    )
    assert handled == before + 1
    assert sample("grpc_server_started_total", **labels) >= 1


def test_database_errors_are_classified_by_sqlstate_and_cause():
    unique = asyncpg.exceptions.UniqueViolationError("duplicate key")
    assert db_error_kind(_caused(unique)) == "unique_violation"
    assert db_error_kind(_caused(asyncpg.exceptions.CannotConnectNowError("x"))) == "unreachable"
    assert db_error_kind(_caused(sa_exc.TimeoutError("QueuePool limit"))) == "pool_timeout"
    assert db_error_kind(_caused(ConnectionResetError())) == "unreachable"
    assert db_error_kind(_caused(TimeoutError())) == "timeout"
    assert db_error_kind(ValueError("not the database")) is None


def _caused(cause: BaseException) -> Exception:
    try:
        raise RuntimeError("wrapped") from cause
    except RuntimeError as exc:
        return exc
