"""Run by the fresh virtual environment's python: the installed client against fake
servers on port 0 that fail or stall on purpose, to see its retries, deadlines and errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import blog_client
import grpc
from blog.articles.v1 import articles_pb2, articles_pb2_grpc
from blog.auth.v1 import auth_pb2, auth_pb2_grpc

UNAVAILABLE_TIMES = 2  # fewer than the read retry policy's 4 attempts
FLAKY_ID, SLOW_ID = 7, 8
STALL_SECONDS = 30.0  # longer than any deadline; the server's stop ends it
FEED_OPEN_SECONDS = 11.0  # past the 10 s every other call gets


class FakeArticles(articles_pb2_grpc.ArticleServiceServicer):
    """GetArticle of FLAKY_ID answers UNAVAILABLE twice before it succeeds, of SLOW_ID
    never answers; CreateArticle answers UNAVAILABLE, or never when titled "slow";
    UpdateArticle answers INVALID_ARGUMENT with details that cannot be read.

    Methods keep their gRPC names, hence the N802 exceptions here and below.
    """

    def __init__(self) -> None:
        self.calls = {"GetArticle": 0, "CreateArticle": 0}

    async def GetArticle(self, request: Any, context: Any) -> articles_pb2.Article:  # noqa: N802
        if request.id == SLOW_ID:
            await asyncio.sleep(STALL_SECONDS)
        self.calls["GetArticle"] += 1
        if self.calls["GetArticle"] <= UNAVAILABLE_TIMES:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        return articles_pb2.Article(id=request.id, title="Third time lucky")

    async def CreateArticle(self, request: Any, context: Any) -> articles_pb2.Article:  # noqa: N802
        if request.title == "slow":
            await asyncio.sleep(STALL_SECONDS)
        self.calls["CreateArticle"] += 1
        await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        raise AssertionError("abort raises")

    async def UpdateArticle(self, request: Any, context: Any) -> articles_pb2.Article:  # noqa: N802
        # Details that are not a google.rpc.Status: the code and message must still come through.
        garbage = (("grpc-status-details-bin", b"\xff not a status"),)
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad", trailing_metadata=garbage)
        raise AssertionError("abort raises")


class FakeFeed(auth_pb2_grpc.AuthServiceServicer):
    """The user feed sends one event, then fails (after_seq 0) or stays open (otherwise)."""

    async def WatchUserEvents(  # noqa: N802
        self, request: Any, context: Any
    ) -> AsyncIterator[auth_pb2.UserEvent]:
        yield auth_pb2.UserEvent(seq=1, head_seq=1)
        if request.after_seq:
            await asyncio.sleep(STALL_SECONDS)
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "not for you")


async def failing_feed(auth: Any) -> dict[str, Any]:
    seen: list[int] = []
    try:
        async for event in auth.WatchUserEvents(auth_pb2.WatchUserEventsRequest()):
            seen.append(event.seq)
    except blog_client.PermissionDeniedError as error:
        return {"seen": seen, "error": type(error).__name__, "message": error.message}
    return {"seen": seen, "error": None}


async def open_feed_seconds(auth: Any) -> float:
    """How long the feed stayed open, up to FEED_OPEN_SECONDS."""
    started = time.monotonic()
    feed = auth.WatchUserEvents(auth_pb2.WatchUserEventsRequest(after_seq=1))
    await feed.read()
    with contextlib.suppress(TimeoutError, blog_client.BlogError):
        await asyncio.wait_for(feed.read(), FEED_OPEN_SECONDS)
    feed.cancel()
    return time.monotonic() - started


async def seconds_to_fail(call: Awaitable[object]) -> list[Any]:
    started = time.monotonic()
    try:
        await call
    except blog_client.BlogError as error:
        return [type(error).__name__, time.monotonic() - started]
    return [None, time.monotonic() - started]


async def deadlines(channel: grpc.aio.Channel) -> dict[str, Any]:
    """A stalled read and write with the service config's deadlines and with explicit ones
    of the same length, and an open feed, side by side."""
    articles = articles_pb2_grpc.ArticleServiceStub(channel)
    read = articles_pb2.GetArticleRequest(id=SLOW_ID)
    write = articles_pb2.CreateArticleRequest(title="slow")
    timed = await asyncio.gather(
        seconds_to_fail(articles.GetArticle(read)),
        seconds_to_fail(articles.GetArticle(read, timeout=5)),
        seconds_to_fail(articles.CreateArticle(write)),
        seconds_to_fail(articles.CreateArticle(write, timeout=10)),
        open_feed_seconds(auth_pb2_grpc.AuthServiceStub(channel)),
    )
    return dict(zip(["read", "read_5s", "write", "write_10s", "feed"], timed, strict=True))


async def garbled_details(articles: Any) -> list[Any]:
    try:
        await articles.UpdateArticle(articles_pb2.UpdateArticleRequest(id=1))
    except blog_client.InvalidArgumentError as error:
        return [error.message, list(error.violations)]
    return []


async def exercise(fake: FakeArticles, channel: grpc.aio.Channel) -> dict[str, Any]:
    articles = articles_pb2_grpc.ArticleServiceStub(channel)
    read = await articles.GetArticle(articles_pb2.GetArticleRequest(id=FLAKY_ID))
    write = articles_pb2.CreateArticleRequest(title="Once", content="Never sent twice.")
    return {
        "read": [read.id, read.title],
        "create": await seconds_to_fail(articles.CreateArticle(write)),
        "calls": dict(fake.calls),  # before the stalled calls
        "garbled": await garbled_details(articles),
        "feed": await failing_feed(auth_pb2_grpc.AuthServiceStub(channel)),
        "deadlines": await deadlines(channel),
    }


async def main() -> dict[str, Any]:
    # Each fake serves a few methods; the base class answers the rest UNIMPLEMENTED, which
    # the stubs' abstract methods do not know.
    fake = FakeArticles()  # type: ignore[abstract]
    server = grpc.aio.server()
    articles_pb2_grpc.add_ArticleServiceServicer_to_server(fake, server)
    auth_pb2_grpc.add_AuthServiceServicer_to_server(FakeFeed(), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with blog_client.connect(f"127.0.0.1:{port}") as channel:
            return await exercise(fake, channel)
    finally:
        await server.stop(None)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
