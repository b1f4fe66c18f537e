"""The server interceptor every call passes: error translation and one log line per call.

Errors the service raises on purpose are translated by the service's own `to_status`
function (its errors module). A database that cannot be reached (PostgreSQL restarting,
a refused or broken connection) answers UNAVAILABLE even when a service did not translate
it, so clients retry instead of seeing INTERNAL. Anything else is logged with its traceback
and answered as INTERNAL with a generic message, so no stack trace or SQL ever reaches a
client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from grpc_status import rpc_status

from svckit.database import UNAVAILABLE_MESSAGE, is_unreachable
from svckit.interceptors import Handler, MethodHandler, WrappingInterceptor, unary
from svckit.status import RichStatus

log = logging.getLogger("svckit.calls")
DATABASE_UNAVAILABLE = RichStatus(grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_MESSAGE)

ToStatus = Callable[[Exception], RichStatus | None]


class CallInterceptor(WrappingInterceptor):
    def __init__(self, to_status: ToStatus) -> None:
        super().__init__()
        self._to_status = to_status

    def wrap(self, method: str, handler: MethodHandler) -> MethodHandler:
        if handler.unary_unary is None:
            return handler  # streaming handlers (health Watch, reflection) pass untouched
        return unary(handler, self._wrap(method, handler.unary_unary))

    def _wrap(self, method: str, inner: Handler) -> Handler:
        to_status = self._to_status

        async def call(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await inner(request, context)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN  # aborted on purpose
                raise
            except Exception as exc:  # translated below, never leaked
                status = to_status(exc)
                if status is None and is_unreachable(exc):
                    log.warning(
                        "database unreachable",
                        extra={"method": method, "error": type(exc).__name__},
                    )
                    status = DATABASE_UNAVAILABLE
                if status is None:
                    log.exception("unexpected error", extra={"method": method})
                    status = RichStatus(grpc.StatusCode.INTERNAL, "Internal error")
                code = status.code
                await context.abort_with_status(rpc_status.to_status(status.to_proto()))
            finally:
                if code is grpc.StatusCode.OK and isinstance(context.code(), grpc.StatusCode):
                    code = context.code()  # set with context.set_code by the handler
                if log.isEnabledFor(logging.INFO):
                    # makeRecord + handle is what log.info does, minus the caller lookup
                    # (a stack walk per call) that the JSON line never shows.
                    extra = {
                        "method": method,
                        "code": code.name,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    }
                    log.handle(
                        log.makeRecord(log.name, logging.INFO, "", 0, "call", (), None, extra=extra)
                    )

        return call
