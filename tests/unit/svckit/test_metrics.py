"""The metrics interceptor over a real grpc.aio server: every call counted by method and code,
streams included, and the database errors behind a failure counted by kind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import grpc
import pytest
from prometheus_client import REGISTRY, Histogram
from sqlalchemy import exc as sa_exc

from svckit.calls import CallInterceptor
from svckit.db_metrics import counting_errors, db_error_kind
from svckit.metrics import (
    LATENCY_BUCKETS,
    MetricsInterceptor,
    Sampler,
    _Method,
    flush_calls,
    grpc_metrics,
)

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
    """A value as a scrape after the next sampler round would read it."""
    flush_calls()
    return REGISTRY.get_sample_value(name, {"grpc_service": SERVICE, **labels}) or 0.0


async def settled(read: Callable[[], float], expected: float) -> float:
    """`read()` once it equals `expected`, or its last value after a second. The client may
    see its answer a moment before the server's interceptor has counted the call."""
    flush_calls()
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


async def test_calls_reach_the_metrics_when_flushed_not_one_write_each(channel):
    """Calls are counted in memory and written once per sampler round."""
    labels = {"grpc_method": "Echo", "grpc_type": "unary"}
    handled = {"grpc_code": "OK", **labels}
    flush_calls()
    before = (
        REGISTRY.get_sample_value("grpc_server_handled_total", {"grpc_service": SERVICE, **handled})
        or 0.0
    )
    for _ in range(4):
        await channel.unary_unary(f"/{SERVICE}/Echo")(b"x")
    await asyncio.sleep(0.05)  # the server's interceptor has surely counted the calls
    unflushed = (
        REGISTRY.get_sample_value("grpc_server_handled_total", {"grpc_service": SERVICE, **handled})
        or 0.0
    )
    assert unflushed == before
    Sampler(interval=60).sample()  # a sampler round writes them
    assert sample("grpc_server_handled_total", **handled) == before + 4


def test_a_flushed_histogram_reads_as_if_each_call_had_been_observed():
    """The flush writes prometheus-client's histogram values itself (it has no bulk
    observe); what a scrape reads must be what observe() would have made of each call."""
    durations = [0.0004, 0.001, 0.0011, 0.003, 0.02, 0.02, 0.7, 3.0, 12.0, 0.0]
    reference = Histogram(
        "reference_seconds", "observe() per call", ["m"], buckets=LATENCY_BUCKETS, registry=None
    ).labels("x")
    method = _Method(grpc_metrics(), f"/{SERVICE}/Histogrammed", "unary")
    for seconds in durations:
        reference.observe(seconds)
        method.started += 1
        method.done(grpc.StatusCode.OK, seconds)
    flush_calls()
    expected = {
        (s.name.removeprefix("reference"), s.labels.get("le")): s.value
        for metric in reference.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }
    labels = {"grpc_service": SERVICE, "grpc_method": "Histogrammed", "grpc_type": "unary"}
    for (suffix, bound), value in expected.items():
        extra = {"le": bound} if bound is not None else {}
        read = REGISTRY.get_sample_value(f"grpc_server_handling{suffix}", {**labels, **extra})
        assert read == pytest.approx(value), (suffix, bound)
    assert sample("grpc_server_handling_seconds_count", **labels) == 10
    assert sample("grpc_server_started_total", **labels) == 10


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
