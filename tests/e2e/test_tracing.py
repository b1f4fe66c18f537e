"""Traces through the real stack: Envoy, both services and PostgreSQL export to a real OTLP
receiver, and a request's spans form one tree under the client's traceparent.

The services run in this process with tracing built as each worker builds it; Envoy runs
with GATEWAY_TRACING_ENDPOINT pointing at the same receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from blog.articles.v1 import articles_pb2, articles_pb2_grpc

from article_service import server as article_server
from article_service.config import Settings as ArticleSettings
from auth_service import server as auth_server
from svckit.logs import JsonFormatter
from svckit.tracing import Tracing
from tests.conftest import in_process_auth_settings
from tests.e2e.conftest import Gateway, login, register, start_gateway
from tests.e2e.otlp import ReceivedSpan, Receiver, receiving

SERVER, CLIENT = 2, 3  # OTLP span kinds


@dataclass(frozen=True)
class Stack:
    gateway: Gateway
    receiver: Receiver
    articles_port: int
    tracings: tuple[Tracing, Tracing]

    async def flush(self) -> None:
        for tracing in self.tracings:  # in a thread: the receiver answers on this loop
            await asyncio.to_thread(tracing.provider.force_flush)


@contextlib.asynccontextmanager
async def traced_stack(
    database: object, keys_dir: Path, workdir: Path, receiver: Receiver, **overrides: Any
) -> AsyncIterator[Stack]:
    endpoint = f"http://{receiver.endpoint}"
    auth_tracing = Tracing.create("auth", endpoint, export_timeout_seconds=2)
    article_tracing = Tracing.create("articles", endpoint, export_timeout_seconds=2)
    urls = database.urls  # type: ignore[attr-defined]
    async with contextlib.AsyncExitStack() as stack:
        auth = await stack.enter_async_context(
            auth_server.running(in_process_auth_settings(urls["auth"], keys_dir), 0, auth_tracing)
        )
        settings = ArticleSettings(
            database_url=urls["articles"],
            port=0,
            worker_base_port=0,
            workers=1,
            auth_address=f"127.0.0.1:{auth.port}",
            shutdown_grace_seconds=0.5,
            feed_consumer=False,  # the session's article service consumes the feed
        )
        articles = await stack.enter_async_context(
            article_server.running(settings, 0, article_tracing)
        )
        gateway = await stack.enter_async_context(
            start_gateway(
                (auth.port, articles.port), workdir, tracing_endpoint=receiver.endpoint, **overrides
            )
        )
        try:
            yield Stack(gateway, receiver, articles.port, (auth_tracing, article_tracing))
        finally:
            await stack.aclose()
            auth_tracing.close()
            article_tracing.close()


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as started:
        yield started


@pytest.fixture(scope="module")
async def traced(services, database, keys_dir, receiver, tmp_path_factory) -> AsyncIterator[Stack]:
    # `services` first: it migrates the database and runs the feed consumer.
    workdir = Path(tmp_path_factory.mktemp("traced-gateway"))
    async with traced_stack(database, keys_dir, workdir, receiver) as stack:
        yield stack


class Lines(logging.Handler):
    """Every record, formatted as the services write them."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def captured() -> Iterator[Lines]:
    lines = Lines()
    loggers = [logging.getLogger(), logging.getLogger("svckit.calls")]
    calls = loggers[1]
    calls.propagate = False  # each call line once, through the handler below
    calls.setLevel(logging.INFO)
    for logger in loggers:
        logger.addHandler(lines)
    try:
        yield lines
    finally:
        calls.propagate = True
        calls.setLevel(logging.NOTSET)
        for logger in loggers:
            logger.removeHandler(lines)


def traceparent() -> tuple[str, str, str]:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{parent_id}-01", trace_id, parent_id


def one(spans: list[ReceivedSpan], **match: object) -> ReceivedSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(s.service, s.name) for s in spans])
    return found[0]


async def test_a_request_is_one_trace_from_envoy_to_auth_and_the_database(traced: Stack) -> None:
    username = f"traced_{secrets.token_hex(4)}"
    title = f"secret title {secrets.token_hex(4)}"
    async with httpx.AsyncClient(base_url=traced.gateway.url, timeout=10) as http:
        assert (await register(http, username)).status_code == 201
        token = await login(http, username)
        header, trace_id, parent_id = traceparent()
        with captured() as lines:
            reply = await http.post(
                "/articles",
                json={"title": title, "content": "traced content"},
                headers={"authorization": f"Bearer {token}", "traceparent": header},
            )
    assert reply.status_code == 201, reply.text
    await traced.flush()
    spans = await traced.receiver.wait_for(trace_id, {"gateway", "articles", "auth"})

    envoy = one(spans, service="gateway")
    assert envoy.parent_id == parent_id
    assert envoy.name == "POST /articles"
    create = one(spans, name="blog.articles.v1.ArticleService/CreateArticle")
    assert (create.service, create.kind, create.parent_id) == ("articles", SERVER, envoy.span_id)
    # A fresh article service knows no keys yet: verifying the token asks auth for them.
    client = one(spans, name="/blog.auth.v1.AuthService/ListPublicKeys")
    assert (client.service, client.kind, client.parent_id) == ("articles", CLIENT, create.span_id)
    keys = one(spans, name="blog.auth.v1.AuthService/ListPublicKeys", kind=SERVER)
    assert (keys.service, keys.parent_id) == ("auth", client.span_id)
    statements = [s for s in spans if s.attributes.get("db.system.name") == "postgresql"]
    texts = [str(s.attributes["db.query.text"]) for s in statements]
    assert any("INSERT INTO" in text for text in texts), texts
    assert {s.parent_id for s in statements} == {create.span_id}
    assert not [text for text in texts if title in text]  # never values

    joined = [line for line in lines.lines if '"method":"/blog.articles.v1' in line]
    assert joined
    assert all(f'"trace_id":"{trace_id}"' in line for line in joined), joined
    assert f'"span_id":"{create.span_id}"' in joined[0]


HOSTILE_TRACEPARENTS = [
    "00-" + "a" * 32 + "-" + "b" * 16 + "-01" + "-x" * 400,  # overlong
    "00-" + "g" * 32 + "-" + "b" * 16 + "-01",  # not hex
    "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",  # a version that must never be
    "00-" + "0" * 32 + "-" + "b" * 16 + "-01",  # all-zero trace id
    "00-" + "A" * 32 + "-" + "B" * 16 + "-01",  # upper case
    "00-aaaa\t" + "a" * 28 + "-" + "b" * 16 + "-01",  # a tab inside
    "00-" + "a" * 32 + "-" + "b" * 16 + "-01\x7f",  # DEL
    "<script>alert(1)</script>",
]
HOSTILE_TRACESTATES = [
    "k=" + "v" * 3000,  # huge
    ",".join(f"k{i}=v" for i in range(200)),  # too many members
    "UPPER=case,<b>=1",
    'k="quoted";{"json":1}',
    "k=\t\tv\x7f",
]


async def raw_get(gateway: Gateway, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    """A GET with header bytes exactly as given (httpx would refuse some of them)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.settings.port)
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    writer.write(f"GET {path} HTTP/1.1\r\nhost: test\r\n".encode() + head + b"\r\n")
    await writer.drain()
    status = await reader.readline()
    writer.close()
    return int(status.split()[1])


def assert_not_echoed(lines: list[str], hostile: list[str]) -> None:
    text = "\n".join(lines)
    assert not any((ord(ch) < 0x20 and ch != "\n") or ch == "\x7f" for ch in text)
    for value in hostile:
        for piece in (value[:40], value[-40:]):
            assert piece not in text, piece


async def test_hostile_trace_headers_through_the_gateway_are_ignored(traced: Stack) -> None:
    pairs = [(tp, ts) for tp in HOSTILE_TRACEPARENTS for ts in HOSTILE_TRACESTATES[:2]]
    pairs += [("00-" + "c" * 32 + "-" + "d" * 16 + "-01", ts) for ts in HOSTILE_TRACESTATES]
    with captured() as lines:
        for parent, state in pairs:
            headers = [(b"traceparent", parent.encode()), (b"tracestate", state.encode())]
            status = await raw_get(traced.gateway, "/articles?limit=1", headers)
            assert status in (200, 400, 431), (parent, state, status)
            if len(parent) + len(state) < 3000 and "\x7f" not in parent + state:
                assert status == 200, (parent, state, status)
    assert_not_echoed(lines.lines, HOSTILE_TRACEPARENTS + HOSTILE_TRACESTATES)
    # Envoy is lenient where W3C is strict: it reads a version-ff header as version 00 and
    # upper-case hex as lower-case, continuing that trace; what it sends on is always a
    # well-formed version-00 traceparent, and the services are strict (next test).
    for span in traced.receiver.spans:
        assert re.fullmatch("[0-9a-f]{32}", span.trace_id), span
        assert span.trace_id != "0" * 32


async def test_hostile_trace_metadata_over_grpc_is_ignored(traced: Stack) -> None:
    address = f"127.0.0.1:{traced.articles_port}"
    cases = [
        (tp, ts)
        for tp in HOSTILE_TRACEPARENTS
        for ts in HOSTILE_TRACESTATES
        if tp.isprintable() and ts.isprintable() and "\t" not in tp + ts  # grpc's own rule
    ]
    async with grpc.aio.insecure_channel(address) as channel:
        stub = articles_pb2_grpc.ArticleServiceStub(channel)
        with captured() as lines:
            for parent, state in cases:
                metadata = (("traceparent", parent), ("tracestate", state))
                await stub.ListArticles(
                    articles_pb2.ListArticlesRequest(limit=1), metadata=metadata, timeout=5
                )
    assert_not_echoed(lines.lines, [tp for tp, _ in cases] + [ts for _, ts in cases])
    calls = [line for line in lines.lines if "ListArticles" in line]
    assert len(calls) == len(cases)
    assert not any(f'"trace_id":"{"a" * 32}"' in line for line in calls)
    assert all('"trace_id":"' in line for line in calls)  # a new trace for each


async def test_a_hanging_collector_does_not_slow_requests(
    services, database, keys_dir, tmp_path_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "16")  # full soon: spans are dropped
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    workdir = Path(tmp_path_factory.mktemp("hanging-gateway"))
    async with (
        receiving(hang=True) as receiver,
        traced_stack(database, keys_dir, workdir, receiver) as stack,
        httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http,
    ):
        took = []
        with captured() as lines:
            for _ in range(200):
                header, _, _ = traceparent()
                started = time.perf_counter()
                reply = await http.get("/articles?limit=5", headers={"traceparent": header})
                took.append(time.perf_counter() - started)
                assert reply.status_code == 200
        assert receiver.exports >= 1  # the exporter is stuck in a call that never returns
        took.sort()
        assert took[len(took) // 2] < 0.05, took[len(took) // 2]  # median
        assert took[-1] < 1.0, took[-1]  # not one request waited for the collector
        drops = [line for line in lines.lines if "Queue full" in line]
        assert len(drops) <= 2, len(drops)  # rate-limited, not one per dropped span
        started = time.perf_counter()
    assert time.perf_counter() - started < 10  # closing did not wait for the collector


async def test_a_request_envoy_does_not_sample_is_traced_nowhere(
    services, database, keys_dir, tmp_path_factory
) -> None:
    """Envoy sends an unsampled traceparent on; the services follow its decision, so a
    trace is whole or absent, and the call's log line still carries the trace id."""
    workdir = Path(tmp_path_factory.mktemp("unsampled-gateway"))
    async with (
        receiving() as receiver,
        traced_stack(database, keys_dir, workdir, receiver, tracing_sampling_percent=0) as stack,
        httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http,
    ):
        with captured() as lines:
            reply = await http.get("/articles?limit=1")
        assert reply.status_code == 200
        await stack.flush()
        [line] = [line for line in lines.lines if "ListArticles" in line]
        trace_id = re.search('"trace_id":"([0-9a-f]{32})"', line)
        assert trace_id is not None, line
        await asyncio.sleep(6)  # Envoy's flush interval: it would have sent its span by now
        assert receiver.of_trace(trace_id.group(1)) == []
