"""Reading a caller's trace context (untrusted), the sampler settings and the log join."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from svckit import tracing
from svckit.tracing_grpc import remote_context
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
    assert description in tracing.sampler_from(environment).get_description()


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
