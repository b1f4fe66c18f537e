"""Chained wrapping interceptors over a real grpc.aio server: one interceptor that behaves
as the list it replaces (same order, streams untouched, unknown methods UNIMPLEMENTED)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from svckit.interceptors import (
    Handler,
    MethodHandler,
    WrappingInterceptor,
    _call_metadata,
    call_metadata,
    chained,
    unary,
)


class Tag(WrappingInterceptor):
    """Notes its name before and after each unary call it wraps, and each wrap it builds."""

    def __init__(self, name: str, events: list[str]) -> None:
        super().__init__()
        self.name = name
        self.events = events
        self.wraps = 0

    def wrap(self, method: str, handler: MethodHandler) -> MethodHandler:
        self.wraps += 1
        if handler.unary_unary is None:
            return handler
        return unary(handler, self._around(handler.unary_unary))

    def _around(self, inner: Handler) -> Handler:
        async def call(request: Any, context: Any) -> Any:
            self.events.append(f"{self.name} in")
            try:
                return await inner(request, context)
            finally:
                self.events.append(f"{self.name} out")

        return call


@pytest.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, list[str], list[Tag]]]:
    events: list[str] = []
    tags = [Tag("outer", events), Tag("inner", events)]

    async def echo(request: bytes, context: Any) -> bytes:
        events.append("handler")
        return request

    async def twice(request: bytes, context: Any) -> AsyncIterator[bytes]:
        yield request
        yield request

    handlers: dict[str, MethodHandler] = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Twice": grpc.unary_stream_rpc_method_handler(twice),
    }
    interceptors = chained(*tags)
    assert len(interceptors) == 1  # grpc.aio runs one interceptor coroutine per call
    server = grpc.aio.server(interceptors=interceptors)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.T", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel, events, tags
    await server.stop(None)


async def test_the_first_link_is_the_outermost_and_each_wrap_is_built_once(served) -> None:
    channel, events, tags = served
    echo = channel.unary_unary("/test.T/Echo")
    for _ in range(3):
        assert await echo(b"x") == b"x"
    assert events[:5] == ["outer in", "inner in", "handler", "inner out", "outer out"]
    assert len(events) == 15
    assert [tag.wraps for tag in tags] == [1, 1]


async def test_streams_and_unknown_methods_pass_the_chain_as_without_it(served) -> None:
    channel, events, _ = served
    replies = [reply async for reply in channel.unary_stream("/test.T/Twice")(b"y")]
    assert replies == [b"y", b"y"]
    assert events == []  # the links leave streams untouched
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary("/test.T/Missing")(b"z")
    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_no_links_means_no_interceptor() -> None:
    assert chained() == []


@pytest.mark.parametrize("links", [1, 0])
async def test_each_call_reads_its_own_metadata_with_or_without_the_chain(links: int) -> None:
    """Two calls under way at once, each reading the metadata its client sent; without our
    interceptor, call_metadata falls back to the context's."""
    both_in = asyncio.Barrier(2)

    given: list[bool] = []

    async def whose(request: bytes, context: Any) -> bytes:
        await both_in.wait()  # the other call has set its metadata by now
        given.append(_call_metadata.get() is not None)  # the interceptor's tuple, not rebuilt
        caller: str = dict(call_metadata(context))["x-caller"]
        return caller.encode()

    handlers: dict[str, MethodHandler] = {"Whose": grpc.unary_unary_rpc_method_handler(whose)}
    server = grpc.aio.server(interceptors=chained(*[Tag("only", [])][:links]))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.T", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/test.T/Whose"
            )
            answers = await asyncio.gather(
                call(b"", metadata=(("x-caller", "ann"),)),
                call(b"", metadata=(("x-caller", "bob"),)),
            )
    finally:
        await server.stop(None)
    assert list(answers) == [b"ann", b"bob"]
    assert given == [bool(links)] * 2
