"""The call interceptor over a real grpc.aio server: errors are translated, never leaked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from svckit.calls import CallInterceptor
from svckit.status import RichStatus


class MissingError(Exception):
    """A domain error raised on purpose."""


def to_status(exc: Exception) -> RichStatus | None:
    if isinstance(exc, MissingError):
        return RichStatus(grpc.StatusCode.NOT_FOUND, "Thing not found", (("id", "no such id"),))
    return None


async def fail_on_purpose(request: bytes, context: Any) -> bytes:
    raise MissingError


async def crash(request: bytes, context: Any) -> bytes:
    raise RuntimeError("SELECT secret FROM users -- boom")


async def database_starting(request: bytes, context: Any) -> bytes:
    # What SQLAlchemy raises when PostgreSQL refuses connections while it starts or stops.
    cause = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
    raise RuntimeError("(sqlalchemy...Error) the database system is starting up") from cause


async def echo(request: bytes, context: Any) -> bytes:
    return request


async def two_then_missing(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"1"
    yield b"2"
    raise MissingError


async def one_then_crash(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"1"
    raise RuntimeError("SELECT secret FROM users -- boom")


async def stream_database_starting(request: bytes, context: Any) -> AsyncIterator[bytes]:
    await database_starting(request, context)
    yield b"never"


async def three_echoes(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for _ in range(3):
        yield request


async def written(request: bytes, context: Any) -> None:
    # The other kind of server stream (health Watch's): replies written, not yielded.
    await context.write(request)
    await context.write(request)


async def forever(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"first"
    await asyncio.Event().wait()
    yield b"never"


HANDLERS: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
    "MissingError": grpc.unary_unary_rpc_method_handler(fail_on_purpose),
    "Crash": grpc.unary_unary_rpc_method_handler(crash),
    "DatabaseStarting": grpc.unary_unary_rpc_method_handler(database_starting),
    "Echo": grpc.unary_unary_rpc_method_handler(echo),
    "Skipped": grpc.unary_unary_rpc_method_handler(echo),
    "TwoThenMissing": grpc.unary_stream_rpc_method_handler(two_then_missing),
    "OneThenCrash": grpc.unary_stream_rpc_method_handler(one_then_crash),
    "StreamDatabaseStarting": grpc.unary_stream_rpc_method_handler(stream_database_starting),
    "ThreeEchoes": grpc.unary_stream_rpc_method_handler(three_echoes),
    "Written": grpc.unary_stream_rpc_method_handler(written),
    "Forever": grpc.unary_stream_rpc_method_handler(forever),
}


@contextlib.asynccontextmanager
async def served(interceptor: CallInterceptor) -> AsyncIterator[grpc.aio.Channel]:
    """A real server with `interceptor` and the handlers above, and a channel to it."""
    server = grpc.aio.server(interceptors=[interceptor])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.T", HANDLERS)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
            yield chan
    finally:
        await server.stop(None)


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    async with served(CallInterceptor(to_status)) as chan:
        yield chan


async def test_domain_error_becomes_its_status_with_field_violations(channel):
    call = channel.unary_unary("/test.T/MissingError")(b"x")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "Thing not found"
    status = await rpc_status.aio.from_call(call)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "id"


async def test_unexpected_error_is_internal_without_details(channel, caplog):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary("/test.T/Crash")(b"x")
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert caught.value.details() == "Internal error"
    assert "SELECT" not in (caught.value.debug_error_string() or "")
    assert any(r.message == "unexpected error" for r in caplog.records)


async def test_an_untranslated_unreachable_database_is_unavailable_not_internal(channel):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary("/test.T/DatabaseStarting")(b"x")
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == "The database is unavailable, try again later"


async def test_every_call_is_logged_with_method_and_code(channel, caplog):
    caplog.set_level("INFO", logger="svckit.calls")
    assert await channel.unary_unary("/test.T/Echo")(b"hello") == b"hello"
    # Other in-process servers of the test session log their calls too: pick ours.
    calls = [r for r in caplog.records if r.message == "call" and r.method == "/test.T/Echo"]
    assert len(calls) == 1
    assert calls[0].code == "OK"
    assert calls[0].duration_ms >= 0


def _calls(caplog: pytest.LogCaptureFixture, method: str) -> list[Any]:
    return [r for r in caplog.records if r.message == "call" and getattr(r, "method", "") == method]


async def test_a_domain_error_in_a_stream_becomes_its_status_after_the_replies(channel):
    call = channel.unary_stream("/test.T/TwoThenMissing")(b"x")
    assert [await call.read(), await call.read()] == [b"1", b"2"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "Thing not found"
    status = await rpc_status.aio.from_call(call)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)


async def test_an_unexpected_error_in_a_stream_is_internal_and_logged(channel, caplog):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in channel.unary_stream("/test.T/OneThenCrash")(b"x"):
            pass
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert caught.value.details() == "Internal error"
    assert "SELECT" not in (caught.value.debug_error_string() or "")
    assert any(r.message == "unexpected error" for r in caplog.records)


async def test_an_unreachable_database_in_a_stream_is_unavailable(channel):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in channel.unary_stream("/test.T/StreamDatabaseStarting")(b"x"):
            pass
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_a_stream_is_logged_once_with_its_code(channel, caplog):
    caplog.set_level("INFO", logger="svckit.calls")
    replies = [r async for r in channel.unary_stream("/test.T/ThreeEchoes")(b"hi")]
    assert replies == [b"hi"] * 3
    with pytest.raises(grpc.aio.AioRpcError):
        async for _ in channel.unary_stream("/test.T/TwoThenMissing")(b"x"):
            pass
    assert [r.code for r in _calls(caplog, "/test.T/ThreeEchoes")] == ["OK"]
    assert [r.code for r in _calls(caplog, "/test.T/TwoThenMissing")] == ["NOT_FOUND"]


async def test_a_stream_written_with_context_write_still_works(channel, caplog):
    caplog.set_level("INFO", logger="svckit.calls")
    replies = [r async for r in channel.unary_stream("/test.T/Written")(b"w")]
    assert replies == [b"w", b"w"]
    assert [r.code for r in _calls(caplog, "/test.T/Written")] == ["OK"]


async def test_a_stream_the_client_cancels_is_logged_as_cancelled(channel, caplog):
    caplog.set_level("INFO", logger="svckit.calls")
    call = channel.unary_stream("/test.T/Forever")(b"x")
    assert await call.read() == b"first"
    call.cancel()
    for _ in range(100):  # the server hears of the cancellation a moment later
        if _calls(caplog, "/test.T/Forever"):
            break
        await asyncio.sleep(0.02)
    assert [r.code for r in _calls(caplog, "/test.T/Forever")] == ["CANCELLED"]


class Recorded:
    """CallSpans that notes what the edge tells it, and whether the call's line was logged
    by the time the span closed."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.events: list[tuple[str, ...]] = []

    def for_method(self, method: str) -> Recorded.Method | None:
        return None if method.endswith("/Skipped") else Recorded.Method(self, method)

    class Method:
        def __init__(self, owner: Recorded, method: str) -> None:
            self.owner, self.method = owner, method

        def opened(self, context: Any) -> int:
            self.owner.events.append(("opened", self.method))
            return len(self.owner.caplog.records)

        def log_fields(self, opened: int) -> dict[str, str]:
            return {"span_of": self.method}

        def closed(self, opened: int, code: grpc.StatusCode, error: Exception | None) -> None:
            logged = len(self.owner.caplog.records) > opened
            kind = type(error).__name__ if error is not None else "-"
            self.owner.events.append(("closed", self.method, code.name, kind, str(logged)))


@pytest.fixture
async def spanned(
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[tuple[grpc.aio.Channel, Recorded]]:
    caplog.set_level("INFO", logger="svckit.calls")
    spans = Recorded(caplog)
    async with served(CallInterceptor(to_status, spans)) as chan:
        yield chan, spans


async def test_a_unary_call_is_spanned_around_its_log_line_with_the_code_it_answers(spanned):
    channel, spans = spanned
    assert await channel.unary_unary("/test.T/Echo")(b"x") == b"x"
    for method in ("MissingError", "Crash"):
        with pytest.raises(grpc.aio.AioRpcError):
            await channel.unary_unary(f"/test.T/{method}")(b"x")
    assert spans.events == [
        ("opened", "/test.T/Echo"),
        ("closed", "/test.T/Echo", "OK", "-", "True"),
        ("opened", "/test.T/MissingError"),
        ("closed", "/test.T/MissingError", "NOT_FOUND", "MissingError", "True"),
        ("opened", "/test.T/Crash"),
        ("closed", "/test.T/Crash", "INTERNAL", "RuntimeError", "True"),
    ]
    for method in ("/test.T/Echo", "/test.T/MissingError", "/test.T/Crash"):
        [line] = _calls(spans.caplog, method)
        assert line.span_of == method  # the span's log fields are on the call's line


async def test_methods_the_spans_skip_and_streams_get_no_span(spanned):
    channel, spans = spanned
    assert await channel.unary_unary("/test.T/Skipped")(b"x") == b"x"
    replies = [reply async for reply in channel.unary_stream("/test.T/ThreeEchoes")(b"y")]
    assert replies == [b"y"] * 3
    assert spans.events == []
    assert not hasattr(_calls(spans.caplog, "/test.T/Skipped")[0], "span_of")
