"""The call interceptor over a real grpc.aio server: errors are translated, never leaked."""

from __future__ import annotations

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


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "MissingError": grpc.unary_unary_rpc_method_handler(fail_on_purpose),
        "Crash": grpc.unary_unary_rpc_method_handler(crash),
        "DatabaseStarting": grpc.unary_unary_rpc_method_handler(database_starting),
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
    }
    server = grpc.aio.server(interceptors=[CallInterceptor(to_status)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.T", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
        yield chan
    await server.stop(None)


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
