"""A CLIENT span per SQL statement, child of the span current when it was sent.

Two hooks see every statement once: SQLAlchemy's dialect execute events see what goes
through it (its prepared statements), and the pool's asyncpg connections are of a class whose
`fetch`, `fetchrow`, `fetchval`, `execute` and `executemany` trace what is sent on the driver
itself (the article service's hot paths, SQLAlchemy's BEGIN/COMMIT). The span carries the
statement as sent, with its placeholders ($1, $2 ...); values are never read. Statements
with no sampled span around them (health probes, the deleted-users refresh, calls the
sampler dropped) get no span, and cost one check of the current span.

Not asyncpg's query logger: once a connection has one, every statement, sampled or not,
pays for its timing context manager, a record and a `call_soon` to deliver it (about 2% of a
GetArticle at 1% sampling, measured side by side).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg
from opentelemetry import trace
from opentelemetry.context import Context, get_current
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from svckit.tracing import Tracing

MAX_STATEMENT = 2048


def operation(statement: str) -> str:
    """The span name: the statement's first keyword (SELECT, INSERT, WITH ...)."""
    head = statement.lstrip().split(None, 1)
    word = head[0].upper() if head else ""
    return word if word.isalpha() else "SQL"


# The key the API keeps the current span under in a context, learnt from the API itself.
[_SPAN_KEY] = trace.set_span_in_context(trace.INVALID_SPAN, Context())


def _sampled() -> bool:
    """Whether the current span is recording, which it is exactly when it was sampled (no
    sampler of ours records unsampled). Read from the current context directly: that is
    what trace.get_current_span() does, less three frames and an ABC isinstance check, on
    every statement."""
    span = get_current().get(_SPAN_KEY)  # only the API sets this key, always to a Span
    return span is not None and bool(span.is_recording())  # type: ignore[attr-defined]


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


@contextlib.contextmanager
def _statement_span(tracer: trace.Tracer, statement: str) -> Iterator[None]:
    span = tracer.start_span(
        operation(statement), kind=SpanKind.CLIENT, attributes=_attributes(statement)
    )
    try:
        yield
    except BaseException as error:
        _failed(span, error)
        raise
    finally:
        span.end()


Statement = Callable[..., Awaitable[Any]]


def _traced(tracer: trace.Tracer, method: Statement) -> Statement:
    """`method` (an asyncpg Connection statement method) in a CLIENT span when the current
    span is sampled. Not a coroutine itself: unsampled, the caller awaits asyncpg's own
    coroutine, with no frame of ours around it."""

    async def spanned(statement: str, running: Awaitable[Any]) -> Any:
        with _statement_span(tracer, statement):
            return await running  # the statement starts here, inside the span

    def statement(self: asyncpg.Connection, query: str, *args: Any, **options: Any) -> Any:
        running = method(self, query, *args, **options)
        return running if not _sampled() else spanned(query, running)

    return statement


def traced_connection_class(tracer: trace.Tracer) -> type[asyncpg.Connection]:
    """An asyncpg connection class whose statement methods make a CLIENT span each, when
    the span current as they are called is sampled."""
    base = asyncpg.Connection
    methods = ("fetch", "fetchrow", "fetchval", "execute", "executemany")
    return type(
        "TracedConnection",
        (base,),
        {name: _traced(tracer, getattr(base, name)) for name in methods},
    )


def trace_statements(engine: AsyncEngine, tracing: Tracing | None) -> None:
    """Trace `engine`'s statements when tracing is on; do nothing when it is off."""
    if tracing is None:
        return
    tracer = tracing.tracer("svckit.sql")
    connection_class = traced_connection_class(tracer)

    def connecting(_dialect: Any, _record: Any, _args: Any, options: dict[str, Any]) -> None:
        options["connection_class"] = connection_class  # the driver's statements, traced

    def in_span(execute: str) -> Callable[..., bool]:
        """A dialect event that runs the statement itself, in a span, when it is sampled
        (returning True tells SQLAlchemy it ran); else lets SQLAlchemy run it."""

        def handler(cursor: Any, statement: str, *rest: Any) -> bool:
            if not _sampled():
                return False
            context = rest[-1]  # each event's last argument is the execution context
            with _statement_span(tracer, statement):
                getattr(context.dialect, execute)(cursor, statement, *rest)
            return True

        return handler

    # Dialect events, not the connection events (before_cursor_execute ...): those mark the
    # engine as having events, and every connection checkout then dispatches to them, the
    # driver's hot path included (about 0.6% of a GetArticle, profiled).
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "do_connect", connecting)
    for execute in ("do_execute", "do_executemany", "do_execute_no_params"):
        event.listen(sync_engine, execute, in_span(execute))
