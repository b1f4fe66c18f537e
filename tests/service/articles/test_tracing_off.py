"""Tracing is off unless an OTLP endpoint is configured, and off means nothing is built."""

from __future__ import annotations

import logging
import threading

import grpc
import pytest
from blog.articles.v1 import articles_pb2, articles_pb2_grpc
from opentelemetry import trace

from article_service import server as article_server
from svckit import tracing

from .conftest import article_settings

TRACEPARENT = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"


def exporter_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("OtelBatch")]


@pytest.fixture
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*tracing.ENDPOINT_VARIABLES, "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.usefixtures("no_otel_environment", "articles_server")  # migrated
async def test_with_no_endpoint_no_exporter_thread_or_span_processor_exists(database, auth) -> None:
    before = exporter_threads()
    traces = tracing.from_environment("articles")  # what each worker's serve() does
    assert traces is None
    settings = article_settings(database.urls["articles"], auth.address, feed_consumer=False)
    calls = logging.getLogger("svckit.calls")
    records = Records()
    calls.addHandler(records)
    calls.setLevel(logging.INFO)
    try:
        async with (
            article_server.running(settings, 0, traces) as running,
            grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel,
        ):
            stub = articles_pb2_grpc.ArticleServiceStub(channel)
            await stub.ListArticles(
                articles_pb2.ListArticlesRequest(limit=1),
                metadata=(("traceparent", TRACEPARENT),),
                timeout=5,
            )
            assert exporter_threads() == before
    finally:
        calls.removeHandler(records)
        calls.setLevel(logging.NOTSET)
    # No provider was ever installed globally, no span was current in the call.
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    (line,) = [r for r in records.records if getattr(r, "method", "").endswith("ListArticles")]
    assert not hasattr(line, "trace_id")


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": " "},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_SDK_DISABLED": "true"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_TRACES_EXPORTER": "none"},
    ],
)
def test_tracing_is_off_without_an_endpoint_or_when_disabled(environment: dict[str, str]) -> None:
    assert tracing.from_environment("articles", environment) is None


def test_an_endpoint_turns_it_on_with_the_sdk_sampler_settings() -> None:
    before = exporter_threads()
    traces = tracing.from_environment(
        "articles",
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.01",
            "OTEL_SERVICE_NAME": "blog-articles",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "soon",  # ignored with a warning, never fatal
        },
    )
    assert traces is not None
    try:
        assert len(exporter_threads()) == len(before) + 1
        assert traces.provider.resource.attributes["service.name"] == "blog-articles"
        assert "0.01" in traces.provider.sampler.get_description()
    finally:
        traces.close(timeout=1)
