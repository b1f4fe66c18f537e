"""OpenTelemetry traces: set up per worker from the standard OTEL_* variables, off unless set.

With no OTLP endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT),
or with OTEL_SDK_DISABLED=true, `from_environment` returns None and nothing is built: no
tracer provider, no span processor or its thread, no interceptor, no SQL event listener.
The hot path then runs exactly as without tracing.

When on, each forked worker builds its own provider (a BatchSpanProcessor's thread must
not cross a fork), sampled by OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG as the SDK reads
them (default parentbased_always_on: the gateway's sampling decision rules). Spans leave
through a bounded queue on that thread, so a collector that is down or hangs costs a
request nothing: a full queue drops spans (one warning per minute, not one per span).
Every log record written while a span is current carries its `trace_id` and `span_id`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)

log = logging.getLogger("svckit.tracing")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# The SDK's loggers that speak once per dropped span or failed export: rate-limited.
NOISY_LOGGERS = (
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
)
_STATIC_SAMPLERS: dict[str, Sampler] = {
    "always_on": ALWAYS_ON,
    "always_off": ALWAYS_OFF,
    "parentbased_always_on": DEFAULT_ON,
    "parentbased_always_off": DEFAULT_OFF,
}


@dataclass(frozen=True)
class Sampling:
    """The configured sampler, and for the parent-based ones the share of root spans
    (those with no parent) it samples: what a server span can decide without the SDK."""

    sampler: Sampler
    root_ratio: float | None = None  # None: not parent-based, every decision is the SDK's


def sampling_from(environ: Mapping[str, str]) -> Sampling:
    """OTEL_TRACES_SAMPLER (+ _ARG, a ratio 0..1), with the SDK's names and default."""
    name = environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    roots = {"parentbased_always_on": 1.0, "parentbased_always_off": 0.0}
    if name in _STATIC_SAMPLERS:
        return Sampling(_STATIC_SAMPLERS[name], roots.get(name))
    if name in ("traceidratio", "parentbased_traceidratio"):
        try:
            ratio = min(max(float(environ.get("OTEL_TRACES_SAMPLER_ARG", "1")), 0.0), 1.0)
        except ValueError:
            ratio = 1.0
        if name == "traceidratio":
            return Sampling(TraceIdRatioBased(ratio))
        return Sampling(ParentBasedTraceIdRatio(ratio), ratio)
    log.warning("unknown OTEL_TRACES_SAMPLER; using parentbased_always_on")
    return Sampling(DEFAULT_ON, 1.0)


def endpoint_from(environ: Mapping[str, str]) -> str | None:
    """The OTLP/gRPC endpoint traces go to, or None when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return None
    for variable in ENDPOINT_VARIABLES:
        value = environ.get(variable, "").strip()
        if value:
            return value
    return None


class Tracing:
    """One worker's tracer provider and its exporting span processor.

    With a parent-based sampler, `sampled_roots` is a second provider on the same processor
    that samples every root: a server span that has already drawn its root's lot
    (svckit.tracing_grpc) starts a sampled root there.
    """

    def __init__(
        self,
        provider: TracerProvider,
        service: str,
        root_ratio: float | None = None,
        sampled_roots: TracerProvider | None = None,
    ) -> None:
        self.provider = provider
        self.service = service
        self.root_ratio = root_ratio
        self.sampled_roots = sampled_roots

    @classmethod
    def create(
        cls,
        service: str,
        endpoint: str,
        *,
        sampling: Sampling | None = None,
        service_name: str | None = None,
        export_timeout_seconds: float | None = None,
    ) -> Tracing:
        """Export to `endpoint` (http://host:port is plaintext, https:// is TLS).

        `service` names the resource unless `service_name` (OTEL_SERVICE_NAME) does.
        """
        # The pid joins a span to its worker's log lines (each carries "pid").
        resource = Resource.create(
            {SERVICE_NAME: service_name or service, "process.pid": os.getpid()}
        )
        sampling = sampling or Sampling(DEFAULT_ON, 1.0)
        provider = TracerProvider(sampler=sampling.sampler, resource=resource)
        exporter = OTLPSpanExporter(endpoint=endpoint, timeout=export_timeout_seconds)
        # Queue, batch size and delay as OTEL_BSP_* say (SDK defaults: 2048, 512, 5 s).
        processor = BatchSpanProcessor(exporter)
        provider.add_span_processor(processor)
        sampled_roots = None
        if sampling.root_ratio is not None:
            # The processor is the first provider's: it alone shuts it down (close, exit).
            sampled_roots = TracerProvider(
                sampler=ALWAYS_ON, resource=resource, shutdown_on_exit=False
            )
            sampled_roots.add_span_processor(processor)
        install_log_join()
        return cls(provider, service, sampling.root_ratio, sampled_roots)

    def tracer(self, name: str) -> trace.Tracer:
        return self.provider.get_tracer(name)

    def close(self, timeout: float = 2.0) -> None:
        """Export what is queued and stop, waiting at most `timeout` seconds: a collector
        that hangs must not hold a worker's shutdown past its drain."""
        stopper = threading.Thread(target=self.provider.shutdown, name="otel-shutdown", daemon=True)
        stopper.start()
        stopper.join(timeout)


def from_environment(service: str, environ: Mapping[str, str] = os.environ) -> Tracing | None:
    """Tracing as the OTEL_* variables configure it, or None (off, the default).

    Call it in the worker, after the fork: the span processor starts a thread.
    """
    endpoint = endpoint_from(environ)
    if endpoint is None:
        return None
    text = environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or environ.get(
        "OTEL_EXPORTER_OTLP_TIMEOUT"
    )
    timeout = None
    try:
        timeout = float(text) if text else None
    except ValueError:  # a bad value must not stop the worker: the SDK's default applies
        log.warning("OTEL_EXPORTER_OTLP_TIMEOUT is not a number; using the default")
    return Tracing.create(
        service,
        endpoint,
        sampling=sampling_from(environ),
        service_name=environ.get("OTEL_SERVICE_NAME") or None,
        export_timeout_seconds=timeout,
    )


def tracer_of(tracing: Tracing | None, name: str) -> trace.Tracer:
    """A tracer of `tracing`, or one that does nothing when tracing is off."""
    return trace.NoOpTracer() if tracing is None else tracing.tracer(name)


class TraceIds(logging.Filter):
    """Adds the current span's trace_id and span_id (lowercase hex, as W3C writes them).

    A traced call's line already carries them (svckit.calls takes them from the span at
    hand) and is left alone.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if "span_id" in record.__dict__:
            return True
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


class OncePer(logging.Filter):
    """Lets one record of each message through per `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self._seconds = seconds
        self._last: dict[object, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        last = self._last.get(record.msg)
        if last is not None and now - last < self._seconds:
            return False
        self._last[record.msg] = now
        return True


_installed = threading.Lock()
_log_join: TraceIds | None = None


def install_log_join() -> None:
    """Trace ids on every record the root logger's handlers write; the SDK's per-span
    warnings rate-limited. Once per process."""
    global _log_join
    with _installed:
        if _log_join is not None:
            return
        _log_join = TraceIds()
        for handler in logging.getLogger().handlers:
            handler.addFilter(_log_join)
        for name in NOISY_LOGGERS:
            logging.getLogger(name).addFilter(OncePer(60.0))
