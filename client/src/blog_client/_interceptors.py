"""Client interceptors that turn a failed call's grpc.aio.AioRpcError into a BlogError."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc

from .errors import from_rpc_error

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class UnaryErrors(grpc.aio.UnaryUnaryClientInterceptor):
    """A unary call raises our error tree; it answers the response, so a caller awaits the
    call as before (initial and trailing metadata of a success are not kept)."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, _Request],
            Awaitable[grpc.aio.UnaryUnaryCall[_Request, _Response]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request: _Request,
    ) -> _Response:
        try:
            call = await continuation(client_call_details, request)
            return await call
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from error


class StreamErrors(grpc.aio.UnaryStreamClientInterceptor):
    """A server stream raises our error tree where its reading fails; cancel() still
    reaches the real call (grpc.aio keeps it beside the iterator returned here)."""

    async def intercept_unary_stream(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, _Request],
            Awaitable[grpc.aio.UnaryStreamCall[_Request, _Response]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request: _Request,
    ) -> AsyncIterator[_Response]:
        call = await continuation(client_call_details, request)
        return _mapped(call)


async def _mapped(call: AsyncIterable[_Response]) -> AsyncIterator[_Response]:
    try:
        async for response in call:
            yield response
    except grpc.aio.AioRpcError as error:
        raise from_rpc_error(error) from error
