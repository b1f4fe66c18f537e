"""Database metrics both services have: the pool (in use, waiting, size) and the database
errors behind failed calls, by kind. Built on first use, in the worker (see svckit.metrics)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import Counter, Gauge
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, QueuePool

from svckit.metrics import Sampler, counter_from_zero
from svckit.status import RichStatus

# What a database error behind a call was, by SQLSTATE (or the Python error for no SQLSTATE).
DB_ERROR_KINDS = (
    "pool_timeout",  # no pooled connection came free in time
    "timeout",  # a statement (or connect) ran past its limit
    "unreachable",  # refused, broken, PostgreSQL shutting down or starting up
    "unique_violation",  # 23505: usually a taken name, answered on purpose
    "integrity",  # other class 23
    "conflict",  # class 40: serialization failure, deadlock
    "other",
)
ToStatus = Callable[[Exception], RichStatus | None]


@dataclass(frozen=True)
class DatabaseMetrics:
    in_use: Gauge
    waiting: Gauge
    size: Gauge
    errors: Counter


@functools.cache
def database_metrics() -> DatabaseMetrics:
    errors = counter_from_zero(
        "blog_db_errors",
        "Database errors behind failed or refused calls, by kind.",
        "kind",
        DB_ERROR_KINDS,
    )
    return DatabaseMetrics(
        Gauge(
            "blog_db_pool_in_use", "Pooled connections checked out.", multiprocess_mode="livesum"
        ),
        Gauge(
            "blog_db_pool_waiting",
            "Callers waiting for a pooled connection (or for one to be opened).",
            multiprocess_mode="livesum",
        ),
        Gauge("blog_db_pool_size", "Connections the pools keep.", multiprocess_mode="livesum"),
        errors,
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def db_error_kind(exc: BaseException) -> str | None:
    """One of DB_ERROR_KINDS if a database error is behind `exc`, else None."""
    for item in _chain(exc):
        if isinstance(item, sa_exc.TimeoutError):
            return "pool_timeout"
        sqlstate = getattr(item, "sqlstate", None)
        if isinstance(sqlstate, str) and len(sqlstate) == 5:
            if sqlstate == "57014":
                return "timeout"
            if sqlstate == "23505":
                return "unique_violation"
            if sqlstate.startswith("23"):
                return "integrity"
            if sqlstate.startswith("40"):
                return "conflict"
            if sqlstate.startswith(("08", "53", "57P")):
                return "unreachable"
            return "other"
    for item in _chain(exc):
        if isinstance(item, TimeoutError):
            return "timeout"
        if isinstance(item, OSError) or getattr(item, "connection_invalidated", False) is True:
            return "unreachable"
    return None


def counting_errors(to_status: ToStatus, counters: Mapping[type[Exception], Counter]) -> ToStatus:
    """`to_status` that also counts the database errors behind a call's failure, and the
    domain errors in `counters` (a shed or a throttle is raised like any other refusal)."""
    errors = database_metrics().errors

    def translate(exc: Exception) -> RichStatus | None:
        kind = db_error_kind(exc)
        if kind is not None:
            errors.labels(kind).inc()
        for kind_of_error, counter in counters.items():
            if isinstance(exc, kind_of_error):
                counter.inc()
        return to_status(exc)

    return translate


class MeteredPool(AsyncAdaptedQueuePool):
    """The async engines' default pool, counting the callers inside a checkout: they wait
    for a connection to come back (or for a new one to open). `_do_get` is the hook every
    SQLAlchemy pool implements; the counter is per process, read by the sampler."""

    waiting = 0
    # Log as the pool it extends, under "sqlalchemy" (WARNING unless asked), not as our module.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    def _do_get(self) -> ConnectionPoolEntry:
        self.waiting += 1
        try:
            return super()._do_get()
        finally:
            self.waiting -= 1


def watch_pool(engine: AsyncEngine, sampler: Sampler) -> None:
    """Sample `engine`'s pool (a QueuePool; MeteredPool also reports its waiting callers)."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return
    metrics = database_metrics()
    # Children of gauges without labels are the gauges: each worker writes its own value.
    in_use, waiting, size = metrics.in_use, metrics.waiting, metrics.size

    def probe() -> None:
        in_use.set(pool.checkedout())
        waiting.set(pool.waiting if isinstance(pool, MeteredPool) else 0)
        size.set(pool.size())

    sampler.add(probe)
