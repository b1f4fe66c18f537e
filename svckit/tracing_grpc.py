"""Spans of gRPC calls: a server span per unary call, continuing the caller's W3C trace
context, and client spans (with `traceparent` sent on) for calls a service makes.

What a caller sends is untrusted. Only `traceparent` and `tracestate` are read (no baggage);
a header that is too long, not W3C-shaped (wrong version, non-hex, all-zero ids) or holds
characters W3C does not allow is ignored: the call starts a new trace and the header is
never logged. Health checks, reflection and streams (the user feed) get no span.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from contextvars import Token
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from svckit.interceptors import call_metadata
from svckit.tracing import Tracing

UNTRACED_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# A version-00 traceparent is 55 characters; later versions may append fields.
MAX_TRACEPARENT = 256
# W3C asks to propagate at least 512 characters of tracestate; longer ones are dropped.
MAX_TRACESTATE = 512
_KEY = r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_MEMBER = f"{_KEY}={_VALUE}"
_TRACESTATE = re.compile(f"{_MEMBER}(?:[ \t]*,[ \t]*{_MEMBER}){{0,31}}")
# Server spans of these codes are errors (OpenTelemetry's gRPC conventions); the others
# are answers the service gives on purpose.
SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_PROPAGATOR = TraceContextTextMapPropagator()
# The context of a call that sent no usable traceparent (contexts are never changed in
# place: setting a value makes a new one).
NO_PARENT = Context()
NO_SPAN = trace.INVALID_SPAN
_random = random.random
_bits = random.getrandbits


def remote_context(metadata: Iterable[tuple[str, Any]] | None) -> Context:
    """The caller's trace context from gRPC metadata, or an empty one (a new trace)."""
    traceparent: Any = None
    tracestate: Any = None
    for key, value in metadata or ():
        if key == "traceparent":
            traceparent = value
        elif key == "tracestate":
            tracestate = value
    if not isinstance(traceparent, str) or len(traceparent) > MAX_TRACEPARENT:
        return NO_PARENT
    carrier = {"traceparent": traceparent}
    if (
        isinstance(tracestate, str)
        and len(tracestate) <= MAX_TRACESTATE
        and _TRACESTATE.fullmatch(tracestate.strip(" \t"))
    ):
        carrier["tracestate"] = tracestate.strip(" \t")
    return _PROPAGATOR.extract(carrier, context=Context())


class ServerSpans:
    """SERVER spans for a server's unary calls (svckit.calls.CallSpans); health checks and
    reflection get none.

    With a parent-based sampler (the default), a span that will not be sampled is made here
    as the SDK would make it, without the SDK's decision machinery: a call under an unsampled
    parent (what Envoy sends for the traces it does not sample), or a root that drew a lot
    above the configured ratio. That is about 30 Python calls fewer for each call that is not
    sampled, most of them at 1%. Sampled spans, and every span under any other sampler, come
    from the SDK.
    """

    def __init__(self, tracing: Tracing) -> None:
        self._tracer = tracing.tracer("svckit.grpc")
        self._ratio = tracing.root_ratio
        roots = tracing.sampled_roots
        self._roots = roots.get_tracer("svckit.grpc") if roots is not None else self._tracer

    def for_method(self, method: str) -> _MethodSpans | None:
        if method.startswith(UNTRACED_PREFIXES):
            return None
        return _MethodSpans(self, method)

    def start(self, name: str, parent: Context, attributes: dict[str, str]) -> trace.Span:
        """The span of a call named `name` under the caller's context `parent`."""
        if self._ratio is None:
            return self._tracer.start_span(name, parent, SpanKind.SERVER, attributes)
        remote = NO_SPAN if parent is NO_PARENT else trace.get_current_span(parent)
        caller = remote.get_span_context()
        if caller.is_valid:
            if caller.trace_flags.sampled:
                return self._tracer.start_span(name, parent, SpanKind.SERVER, attributes)
            return trace.NonRecordingSpan(
                trace.SpanContext(
                    caller.trace_id,
                    _bits(64) or _random_id(64),
                    is_remote=False,
                    trace_flags=caller.trace_flags,
                    trace_state=caller.trace_state,
                )
            )
        if _random() < self._ratio:
            return self._roots.start_span(name, parent, SpanKind.SERVER, attributes)
        return trace.NonRecordingSpan(
            trace.SpanContext(
                _bits(128) or _random_id(128), _bits(64) or _random_id(64), is_remote=False
            )
        )


def _random_id(bits: int) -> int:
    """A random nonzero id of `bits` bits (an all-zero id is invalid in W3C)."""
    while True:
        value = _bits(bits)
        if value:
            return value


class _MethodSpans:
    """The SERVER span of each unary call of one method, current from before its handler
    runs until after its log line is written (svckit.calls opens and closes it)."""

    __slots__ = ("_attributes", "_name", "_spans")

    def __init__(self, spans: ServerSpans, method: str) -> None:
        self._spans = spans
        self._name = method.lstrip("/")
        service, _, short = self._name.rpartition("/")
        self._attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": short}

    def opened(self, context: Any) -> tuple[trace.Span, Token[Context]]:
        parent = remote_context(call_metadata(context))
        span = self._spans.start(self._name, parent, self._attributes)
        return span, attach(trace.set_span_in_context(span, parent))

    def log_fields(self, opened: tuple[trace.Span, Token[Context]]) -> dict[str, str]:
        """The ids the log filter (svckit.tracing.TraceIds) would add, from the span at hand."""
        ids = opened[0].get_span_context()
        return {"trace_id": format(ids.trace_id, "032x"), "span_id": format(ids.span_id, "016x")}

    def closed(
        self,
        opened: tuple[trace.Span, Token[Context]],
        code: grpc.StatusCode,
        error: Exception | None,
    ) -> None:
        span, token = opened
        if span.is_recording():  # ending a span that is not does nothing
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code in SERVER_ERRORS:
                if error is not None:
                    span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, code.name))
            span.end()
        detach(token)


def server_spans(tracing: Tracing | None) -> ServerSpans | None:
    """What a server's call interceptor traces its calls with: nothing when tracing is off."""
    return None if tracing is None else ServerSpans(tracing)


def channel_interceptors(tracing: Tracing | None) -> list[grpc.aio.ClientInterceptor] | None:
    """Client spans for a channel's unary calls (they send `traceparent` on); streams pass
    untouched. None when tracing is off."""
    if tracing is None:
        return None
    # The instrumentation package ships no type hints.
    made = aio_client_interceptors(tracer_provider=tracing.provider)  # type: ignore[no-untyped-call]
    return [item for item in made if isinstance(item, grpc.aio.UnaryUnaryClientInterceptor)]
