"""A CLIENT span per SQL statement, child of the span current when it was sent.

Two hooks see every statement once: SQLAlchemy's cursor events see what goes through it
(prepared statements, which asyncpg does not log), and asyncpg's query logger on each
pooled connection sees what is sent on the driver itself (the article service's hot
paths, SQLAlchemy's BEGIN/COMMIT). The span carries the statement as sent, with its
placeholders ($1, $2 ...); values are never read. Statements with no sampled span around
them (health probes, the deleted-users refresh, calls the sampler dropped) get no span.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine

from svckit.tracing import Tracing

MAX_STATEMENT = 2048
_SPAN = "_svckit_span"  # where a cursor statement's span waits on its execution context


def operation(statement: str) -> str:
    """The span name: the statement's first keyword (SELECT, INSERT, WITH ...)."""
    head = statement.lstrip().split(None, 1)
    word = head[0].upper() if head else ""
    return word if word.isalpha() else "SQL"


def _sampled() -> bool:
    parent = trace.get_current_span().get_span_context()
    return parent.is_valid and parent.trace_flags.sampled


def _attributes(statement: str) -> dict[str, str]:
    return {
        "db.system.name": "postgresql",
        "db.system": "postgresql",
        "db.query.text": statement[:MAX_STATEMENT],
    }


def _failed(span: trace.Span, error: BaseException) -> None:
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        span.set_attribute("db.response.status_code", sqlstate)


def trace_statements(engine: AsyncEngine, tracing: Tracing | None) -> None:
    """Trace `engine`'s statements when tracing is on; do nothing when it is off."""
    if tracing is None:
        return
    tracer = tracing.tracer("svckit.sql")

    def logged(query: Any) -> None:
        # Called soon after the statement, in the context of the code that sent it.
        text = str(query.query)
        if text.strip(" ;") == "" or not _sampled():  # ";" is SQLAlchemy's ping
            return
        end = time.time_ns()
        span = tracer.start_span(
            operation(text),
            kind=SpanKind.CLIENT,
            attributes=_attributes(text),
            start_time=end - int(query.elapsed * 1e9),
        )
        if query.exception is not None:
            _failed(span, query.exception)
        span.end(end_time=end)

    def connected(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(logged)

    def before(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context is not None and _sampled():
            span = tracer.start_span(
                operation(statement), kind=SpanKind.CLIENT, attributes=_attributes(statement)
            )
            setattr(context, _SPAN, span)

    def after(
        _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        span = getattr(context, _SPAN, None)
        if span is not None:
            setattr(context, _SPAN, None)
            span.end()

    def failed(exception_context: ExceptionContext) -> None:
        context = exception_context.execution_context
        span = getattr(context, _SPAN, None)
        if span is not None:
            setattr(context, _SPAN, None)
            _failed(span, exception_context.original_exception)
            span.end()

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "connect", connected)
    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "handle_error", failed)
