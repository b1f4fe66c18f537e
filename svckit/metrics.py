"""Prometheus metrics every service has: the gRPC server metrics, and a sampler for gauges
read from the code's state (svckit.db_metrics adds the database's).

The gRPC names are the ones the ecosystem's dashboards know (go-grpc-prometheus):
`grpc_server_started_total`, `grpc_server_handled_total` and `grpc_server_handling_seconds`,
labelled by service, method, type and code. Labels only ever hold registered method names,
status code names and fixed kinds: never an id, a user name or anything a client sent.

Instruments are built on first use, in the worker, so that a supervisor can switch
prometheus-client to its multi-process mode before any value exists (svckit.exporter).
With several workers a scrape reads files the workers write, so no value can be computed
at scrape time: gauges are set by a `Sampler` every second instead. The same round writes
the calls' counts, which each call only adds to in memory (see `_Method`).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from svckit.interceptors import MethodHandler, WrappingInterceptor, unary

log = logging.getLogger("svckit.metrics")

# Seconds; our calls take 1-40 ms under load, a deadline is at most 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SAMPLE_SECONDS = 1.0


@dataclass(frozen=True)
class GrpcMetrics:
    started: Counter
    handled: Counter
    seconds: Histogram


@functools.cache
def grpc_metrics() -> GrpcMetrics:
    labels = ("grpc_service", "grpc_method", "grpc_type")
    return GrpcMetrics(
        Counter("grpc_server_started", "RPCs started on the server.", labels),
        Counter(
            "grpc_server_handled", "RPCs completed on the server, by code.", (*labels, "grpc_code")
        ),
        Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its end (a stream's whole life).",
            labels,
            buckets=LATENCY_BUCKETS,
        ),
    )


def counter_from_zero(name: str, documentation: str, label: str, values: Iterable[str]) -> Counter:
    """A counter by one label with each of `values` exported from 0, so that rate() sees
    the first increase (a series that appears at 1 has no rate)."""
    counter = Counter(name, documentation, [label])
    for value in values:
        counter.labels(value)
    return counter


def _kind(handler: MethodHandler) -> str:
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


class _Method:
    """One method's calls since the last flush, and the metric children they go to.

    Each write to a multi-process metric takes a lock and packs a value into the worker's
    mmap file, about eight Python calls; four per call (started, handled, the histogram's
    sum and bucket) were most of what metrics cost a call. So a call only adds to these
    plain numbers, and `flush` writes them once a second (the `Sampler`'s round), the same
    totals in four writes per method and code. A worker killed with SIGKILL loses at most
    its last second of counts; totals never go backwards.
    """

    __slots__ = (
        "_buckets",
        "_by_code",
        "_codes",
        "_handled",
        "_labels",
        "_seconds",
        "_started",
        "_sum",
        "started",
    )

    def __init__(self, metrics: GrpcMetrics, full_name: str, kind: str) -> None:
        service, _, method = full_name.lstrip("/").rpartition("/")
        self._labels = (service, method, kind)
        self._handled = metrics.handled
        self._by_code: dict[grpc.StatusCode, Any] = {}  # handled's children, resolved once
        self._started = metrics.started.labels(*self._labels)
        self._seconds = metrics.seconds.labels(*self._labels)
        self.started = 0
        self._codes: dict[grpc.StatusCode, int] = {}
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self._sum = 0.0
        _unflushed.append(self)

    def done(self, code: grpc.StatusCode, elapsed: float) -> None:
        codes = self._codes
        codes[code] = codes.get(code, 0) + 1
        # The first bucket whose bound is >= elapsed, as Histogram.observe picks it.
        self._buckets[bisect.bisect_left(LATENCY_BUCKETS, elapsed)] += 1
        self._sum += elapsed

    def flush(self) -> None:
        if self.started:
            self._started.inc(self.started)
            self.started = 0
        if self._codes:
            codes, self._codes = self._codes, {}
            for code, count in codes.items():
                counter = self._by_code.get(code)
                if counter is None:
                    counter = self._by_code[code] = self._handled.labels(*self._labels, code.name)
                counter.inc(count)
            # prometheus-client has no bulk observe: its histogram child keeps one value
            # per bucket (cumulated when collected) and one for the sum.
            # tests/unit/svckit/test_metrics.py checks this against observe() itself.
            for index, count in enumerate(self._buckets):
                if count:
                    self._seconds._buckets[index].inc(count)
                    self._buckets[index] = 0
            self._seconds._sum.inc(self._sum)
            self._sum = 0.0


# Every method's calls in this process not yet written to the metrics.
_unflushed: list[_Method] = []


def flush_calls() -> None:
    """Write the calls counted since the last flush; the `Sampler` does it every round, and
    a worker once more when its server has stopped."""
    for method in _unflushed:
        method.flush()


def _code(context: Any, failure: BaseException | None) -> grpc.StatusCode:
    """The status the call ends with: what the handler set or aborted with, else its failure."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if failure is None:
        return grpc.StatusCode.OK
    if isinstance(failure, asyncio.CancelledError | GeneratorExit):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN  # what grpc answers for an exception it did not expect


class MetricsInterceptor(WrappingInterceptor):
    """Counts and times every call, unary and streaming; place it first, outside the rest."""

    def __init__(self) -> None:
        super().__init__()
        self._metrics = grpc_metrics()

    def wrap(self, method: str, handler: MethodHandler) -> MethodHandler:
        return self._wrap(_Method(self._metrics, method, _kind(handler)), handler)

    def _wrap(self, record: _Method, handler: MethodHandler) -> MethodHandler:
        codecs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return unary(handler, _unary(record, handler.unary_unary))
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _unary(record, handler.stream_unary), **codecs
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _stream(record, handler.unary_stream), **codecs
            )
        assert handler.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(
            _stream(record, handler.stream_stream), **codecs
        )


def metrics_interceptors(enabled: bool) -> list[WrappingInterceptor]:
    """The interceptors a server chains for metrics: none when they are off (port 0)."""
    return [MetricsInterceptor()] if enabled else []


class _Timed:
    """Counts a call as started on entry, and as handled with its code and time on exit."""

    __slots__ = ("_began", "_context", "_record")

    def __init__(self, record: _Method, context: Any) -> None:
        self._record = record
        self._context = context
        self._began = 0.0

    def __enter__(self) -> None:
        self._record.started += 1
        self._began = time.perf_counter()

    def __exit__(self, kind: Any, failure: BaseException | None, traceback: Any) -> None:
        self._record.done(_code(self._context, failure), time.perf_counter() - self._began)


def _unary(record: _Method, inner: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    async def call(request: Any, context: Any) -> Any:
        with _Timed(record, context):
            return await inner(request, context)

    return call


def _stream(record: _Method, inner: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A handler may be an async generator or a coroutine that writes with context.write():
    the wrapper is a generator either way (one that yields nothing for a coroutine)."""

    async def call(request: Any, context: Any) -> AsyncIterator[Any]:
        with _Timed(record, context):
            produced = inner(request, context)
            if inspect.isasyncgen(produced):
                async with contextlib.aclosing(produced):
                    async for message in produced:
                        yield message
            else:
                await produced

    return call


class Sampler:
    """Sets gauges from the code's own state (pool, queue, lag) every `interval` seconds."""

    def __init__(self, interval: float = SAMPLE_SECONDS) -> None:
        self._interval = interval
        self._probes: list[Callable[[], None]] = []

    def add(self, probe: Callable[[], None]) -> None:
        self._probes.append(probe)

    def sample(self) -> None:
        """Write the calls counted since the last round, then set each gauge."""
        for probe in (flush_calls, *self._probes):
            try:
                probe()
            except Exception:  # a broken probe must never stop the others
                log.exception("metrics probe failed")

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self._interval)
