"""A CLIENT span per SQL statement, child of the span current when it runs.

SQLAlchemy's cursor events give the statement as sent: placeholders ($1, $2 ...), never
the values, which are not read here. Statements with no recording span around them
(health probes, the deleted-users refresh, or calls the sampler dropped) get no span, so
they cost one context lookup.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine

from svckit.tracing import Tracing

MAX_STATEMENT = 2048
_SPAN = "_svckit_span"  # where the statement's span waits on its execution context


def operation(statement: str) -> str:
    """The span name: the statement's first keyword (SELECT, INSERT, WITH ...)."""
    head = statement.lstrip().split(None, 1)
    word = head[0].upper() if head else ""
    return word if word.isalpha() else "SQL"


def trace_statements(engine: AsyncEngine, tracing: Tracing | None) -> None:
    """Listen to `engine`'s statements when tracing is on; do nothing when it is off."""
    if tracing is None:
        return
    tracer = tracing.tracer("svckit.sql")
    sync_engine = engine.sync_engine

    def before(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context is None or not trace.get_current_span().is_recording():
            return
        attributes = {
            "db.system.name": "postgresql",
            "db.system": "postgresql",
            "db.query.text": statement[:MAX_STATEMENT],
        }
        span = tracer.start_span(operation(statement), kind=SpanKind.CLIENT, attributes=attributes)
        setattr(context, _SPAN, span)

    def after(
        _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        span = getattr(context, _SPAN, None)
        if span is not None:
            setattr(context, _SPAN, None)
            span.end()

    def failed(exception_context: ExceptionContext) -> None:
        span = getattr(exception_context.execution_context, _SPAN, None)
        if span is not None:
            setattr(exception_context.execution_context, _SPAN, None)
            error = exception_context.original_exception
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            sqlstate = getattr(error, "sqlstate", None)
            if isinstance(sqlstate, str):
                span.set_attribute("db.response.status_code", sqlstate)
            span.end()

    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "handle_error", failed)
