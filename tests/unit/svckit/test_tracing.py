"""Reading a caller's trace context (untrusted), the sampler settings and the log join."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace
from opentelemetry.context import attach, detach
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from svckit import tracing, tracing_sql
from svckit.tracing_grpc import ServerSpans, remote_context
from svckit.tracing_sql import operation

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"


def parent(metadata: tuple[tuple[str, str], ...]) -> trace.SpanContext:
    return trace.get_current_span(remote_context(metadata)).get_span_context()


def test_a_valid_traceparent_and_tracestate_are_continued() -> None:
    context = parent((("traceparent", VALID), ("tracestate", "congo=t61rcWkgMzE,ro@vendor=1")))
    assert format(context.trace_id, "032x") == TRACE_ID
    assert format(context.span_id, "016x") == SPAN_ID
    assert context.is_remote
    assert context.trace_flags.sampled
    assert dict(context.trace_state) == {"congo": "t61rcWkgMzE", "ro@vendor": "1"}


@pytest.mark.parametrize(
    "header",
    [
        VALID + "-" + "x" * 300,
        VALID.replace("4bf9", "4bg9"),
        "ff" + VALID[2:],
        VALID.replace(TRACE_ID, "0" * 32),
        VALID.replace(SPAN_ID, "0" * 16),
        VALID.upper(),
        VALID[:-1],
        "",
        "\x00" * 55,
    ],
)
def test_a_malformed_traceparent_starts_a_new_trace(
    header: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert not parent((("traceparent", header),)).is_valid
    assert header[3:40] not in caplog.text or not header[3:40]


@pytest.mark.parametrize(
    "state",
    ["k=" + "v" * 600, ",".join(f"k{i}=v" for i in range(40)), "UPPER=1", "k=v\x01", "=v", "k="],
)
def test_a_malformed_tracestate_is_dropped_silently(
    state: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        context = parent((("traceparent", VALID), ("tracestate", state)))
    assert context.is_valid  # the traceparent still counts
    assert len(context.trace_state) == 0
    assert caplog.records == []


def test_binary_or_missing_values_are_no_context() -> None:
    assert not parent((("traceparent", b"bytes"),)).is_valid  # type: ignore[arg-type]
    assert not parent(()).is_valid


@pytest.mark.parametrize(
    ("environment", "description"),
    [
        ({}, "ParentBased{root:AlwaysOnSampler"),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, "AlwaysOffSampler"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, "{0.25}"),
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}, "{1"),
        ({"OTEL_TRACES_SAMPLER": "nonsense"}, "ParentBased{root:AlwaysOnSampler"),
    ],
)
def test_the_sampler_comes_from_the_sdk_variables(
    environment: dict[str, str], description: str
) -> None:
    assert description in tracing.sampling_from(environment).sampler.get_description()


def test_log_records_carry_the_current_span_ids() -> None:
    span = TracerProvider().get_tracer("test").start_span("call")
    record = logging.makeLogRecord({})
    with trace.use_span(span, end_on_exit=True):
        tracing.TraceIds().filter(record)
    context = span.get_span_context()
    assert getattr(record, "trace_id", None) == format(context.trace_id, "032x")
    assert getattr(record, "span_id", None) == format(context.span_id, "016x")
    outside = logging.makeLogRecord({})
    tracing.TraceIds().filter(outside)
    assert not hasattr(outside, "trace_id")


def test_repeated_sdk_warnings_are_let_through_once_a_minute() -> None:
    once = tracing.OncePer(60)
    records = [logging.makeLogRecord({"msg": "Queue full, dropping %s."}) for _ in range(100)]
    assert sum(once.filter(r) for r in records) == 1


def test_statement_spans_are_named_by_their_first_keyword() -> None:
    assert operation("  select 1") == "SELECT"
    assert operation("WITH x AS (INSERT ...)") == "WITH"
    assert operation("$1") == "SQL"
    assert operation("") == "SQL"


def server_spans(environ: dict[str, str]) -> tuple[ServerSpans, InMemorySpanExporter]:
    """ServerSpans over a Tracing built as `from_environment` builds it, exporting to memory."""
    sampling = tracing.sampling_from(environ)
    exported = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampling.sampler)
    provider.add_span_processor(SimpleSpanProcessor(exported))
    roots = None
    if sampling.root_ratio is not None:
        roots = TracerProvider(sampler=ALWAYS_ON)
        roots.add_span_processor(SimpleSpanProcessor(exported))
    return ServerSpans(tracing.Tracing(provider, "test", sampling.root_ratio, roots)), exported


def started(spans: ServerSpans, metadata: tuple[tuple[str, str], ...] = ()) -> trace.Span:
    span = spans.start("test.T/Call", remote_context(metadata), {"rpc.system": "grpc"})
    span.end()
    return span


RATIO = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}


def test_a_call_envoy_did_not_sample_continues_its_trace_unsampled_and_unexported() -> None:
    spans, exported = server_spans(RATIO)
    span = started(spans, (("traceparent", VALID[:-2] + "00"),))
    context = span.get_span_context()
    assert format(context.trace_id, "032x") == TRACE_ID  # the log line joins Envoy's trace
    assert context.span_id not in (0, int(SPAN_ID, 16))
    assert not context.trace_flags.sampled
    assert isinstance(span, trace.NonRecordingSpan)
    assert exported.get_finished_spans() == ()


def test_a_call_envoy_sampled_is_a_recorded_child_of_its_span() -> None:
    spans, exported = server_spans(RATIO)
    span = started(spans, (("traceparent", VALID),))
    assert span.get_span_context().trace_flags.sampled
    [finished] = exported.get_finished_spans()
    assert finished.parent is not None
    assert format(finished.parent.span_id, "016x") == SPAN_ID
    assert format(finished.context.trace_id, "032x") == TRACE_ID


@pytest.mark.parametrize(
    ("traceparent", "sampled"), [(VALID, True), (VALID[:-2] + "00", False), (None, False)]
)
def test_statements_are_traced_exactly_under_a_sampled_call(
    traceparent: str | None, sampled: bool
) -> None:
    spans, _ = server_spans({**RATIO, "OTEL_TRACES_SAMPLER_ARG": "0"})
    assert not tracing_sql._sampled()  # no call under way
    metadata = (("traceparent", traceparent),) if traceparent else ()
    span = spans.start("test.T/Call", remote_context(metadata), {})
    token = attach(trace.set_span_in_context(span))
    try:
        assert tracing_sql._sampled() is sampled
    finally:
        detach(token)
        span.end()
    assert not tracing_sql._sampled()


@pytest.mark.parametrize(
    ("environ", "low", "high"),
    [
        (RATIO, 400, 600),  # half of 1,000 roots, give or take 6 sigma
        ({**RATIO, "OTEL_TRACES_SAMPLER_ARG": "0"}, 0, 0),
        ({**RATIO, "OTEL_TRACES_SAMPLER_ARG": "1"}, 1000, 1000),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, 0, 0),
        ({}, 1000, 1000),  # parentbased_always_on, the SDK's default
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}, 400, 600),
    ],
)
def test_roots_are_sampled_at_the_configured_ratio_each_with_a_trace_of_its_own(
    environ: dict[str, str], low: int, high: int
) -> None:
    spans, exported = server_spans(environ)
    made = [started(spans).get_span_context() for _ in range(1000)]
    assert low <= len(exported.get_finished_spans()) <= high
    assert len({context.trace_id for context in made}) == 1000
    assert all(context.is_valid and not context.is_remote for context in made)
    assert sum(context.trace_flags.sampled for context in made) == len(
        exported.get_finished_spans()
    )
