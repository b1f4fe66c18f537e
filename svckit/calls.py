"""The server interceptor every call passes: error translation and one log line per call.

Unary calls and server streams (the account feed) pass the same edge: an error raised
while a stream is under way is translated like a unary call's, so no servicer translates
errors by hand.

A unary call's span (svckit.tracing_grpc) is opened and closed here too, through the
`CallSpans` hooks, instead of in a wrapper of its own: each wrapper is one more coroutine
and frame on every call.

Errors the service raises on purpose are translated by the service's own `to_status`
function (its errors module). A database that cannot be reached (PostgreSQL restarting,
a refused or broken connection) answers UNAVAILABLE even when a service did not translate
it, so clients retry instead of seeing INTERNAL. Anything else is logged with its traceback
and answered as INTERNAL with a generic message, so no stack trace or SQL ever reaches a
client.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

import grpc
from grpc_status import rpc_status

from svckit.database import UNAVAILABLE_MESSAGE, is_unreachable
from svckit.interceptors import Handler, MethodHandler, WrappingInterceptor, unary
from svckit.status import RichStatus

log = logging.getLogger("svckit.calls")
DATABASE_UNAVAILABLE = RichStatus(grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_MESSAGE)

INTERNAL = RichStatus(grpc.StatusCode.INTERNAL, "Internal error")

ToStatus = Callable[[Exception], RichStatus | None]
Stream = Callable[[Any, Any], AsyncGenerator[Any, None]]


class MethodSpan(Protocol):
    """Around each unary call of one method: `opened` before its handler runs, `closed`
    after its log line is written (so the line is written inside the span)."""

    def opened(self, context: Any) -> Any:
        """Whatever `closed` needs back."""

    def log_fields(self, opened: Any) -> dict[str, str]:
        """What the call's log line carries of the span (its trace and span ids)."""

    def closed(self, opened: Any, code: grpc.StatusCode, error: Exception | None) -> None:
        """`code` is what the call answers; `error` what the handler raised, if anything."""


class CallSpans(Protocol):
    def for_method(self, method: str) -> MethodSpan | None:
        """The hooks of `method`'s unary calls, or None to leave them untraced."""


class CallInterceptor(WrappingInterceptor):
    """Wraps unary calls and server streams alike; client and bidirectional streams (only
    reflection's, which raises no domain error) pass untouched. `spans`, when given, traces
    the unary calls."""

    def __init__(self, to_status: ToStatus, spans: CallSpans | None = None) -> None:
        super().__init__()
        self._to_status = to_status
        self._spans = spans

    def wrap(self, method: str, handler: MethodHandler) -> MethodHandler:
        if handler.unary_unary is not None:
            span = self._spans.for_method(method) if self._spans is not None else None
            return unary(handler, self._wrap(method, handler.unary_unary, span))
        stream = handler.unary_stream
        # grpc.aio tells a generator stream from one written with context.write (health
        # Watch) by the function's kind, so each keeps its kind once wrapped.
        if inspect.isasyncgenfunction(stream):
            wrapped: Callable[[Any, Any], Any] = self._wrap_stream(method, stream)
        elif inspect.iscoroutinefunction(stream):
            wrapped = self._wrap(method, stream)
        else:
            return handler  # client or bidirectional streams (reflection), sync handlers
        return grpc.unary_stream_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _status(self, method: str, exc: Exception) -> RichStatus:
        """What an exception raised by a handler answers; call it inside `except`."""
        status = self._to_status(exc)
        if status is not None:
            return status
        if is_unreachable(exc):
            log.warning(
                "database unreachable", extra={"method": method, "error": type(exc).__name__}
            )
            return DATABASE_UNAVAILABLE
        log.exception("unexpected error", extra={"method": method})
        return INTERNAL

    def _wrap(self, method: str, inner: Handler, span: MethodSpan | None = None) -> Handler:
        status_of = self._status

        async def call(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            opened = span.opened(context) if span is not None else None
            code = grpc.StatusCode.OK
            error: Exception | None = None
            try:
                return await inner(request, context)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED  # the client went away or the server stops
                raise
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN  # aborted on purpose
                raise
            except Exception as exc:  # noqa: BLE001 - _status logs what it cannot translate
                error = exc
                status = status_of(method, exc)
                code = status.code
                await context.abort_with_status(rpc_status.to_status(status.to_proto()))
            finally:
                if span is None:
                    _log_call(method, code, context, started)
                else:
                    code = _log_call(method, code, context, started, span, opened)
                    span.closed(opened, code, error)

        return call

    def _wrap_stream(self, method: str, inner: Stream) -> Stream:
        status_of = self._status

        async def stream(request: Any, context: Any) -> AsyncGenerator[Any, None]:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            replies = inner(request, context)
            try:
                async for reply in replies:
                    yield reply
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as exc:  # noqa: BLE001 - as above, even after some replies
                status = status_of(method, exc)
                code = status.code
                await context.abort_with_status(rpc_status.to_status(status.to_proto()))
            finally:
                await replies.aclose()  # now, not at garbage collection: its cleanup runs
                _log_call(method, code, context, started)

        return stream


def _log_call(
    method: str,
    code: grpc.StatusCode,
    context: Any,
    started: float,
    span: MethodSpan | None = None,
    opened: Any = None,
) -> grpc.StatusCode:
    """Log the call's line, with `span`'s fields when given; the code the call answers (the
    handler may have set one)."""
    if code is grpc.StatusCode.OK and isinstance(context.code(), grpc.StatusCode):
        code = context.code()  # set with context.set_code by the handler
    if log.isEnabledFor(logging.INFO):
        # makeRecord + handle is what log.info does, minus the caller lookup (a stack
        # walk per call) that the JSON line never shows.
        extra = {
            "method": method,
            "code": code.name,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        if span is not None:
            extra.update(span.log_fields(opened))
        log.handle(log.makeRecord(log.name, logging.INFO, "", 0, "call", (), None, extra=extra))
    return code
