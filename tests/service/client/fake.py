"""Run by the fresh virtual environment's python: the installed client against fake
servers on port 0 that fail on purpose, to see its retries and its stream errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import blog_client
import grpc
from blog.articles.v1 import articles_pb2, articles_pb2_grpc
from blog.auth.v1 import auth_pb2, auth_pb2_grpc

UNAVAILABLE_TIMES = 2  # fewer than the read retry policy's 4 attempts


class FlakyArticles(articles_pb2_grpc.ArticleServiceServicer):
    """GetArticle answers UNAVAILABLE twice before it succeeds; CreateArticle always does.

    Methods keep their gRPC names, hence the N802 exceptions here and below.
    """

    def __init__(self) -> None:
        self.calls = {"GetArticle": 0, "CreateArticle": 0}

    async def GetArticle(self, request: Any, context: Any) -> articles_pb2.Article:  # noqa: N802
        self.calls["GetArticle"] += 1
        if self.calls["GetArticle"] <= UNAVAILABLE_TIMES:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        return articles_pb2.Article(id=request.id, title="Third time lucky")

    async def CreateArticle(self, request: Any, context: Any) -> articles_pb2.Article:  # noqa: N802
        self.calls["CreateArticle"] += 1
        await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        raise AssertionError("abort raises")


class BrokenFeed(auth_pb2_grpc.AuthServiceServicer):
    """The user feed sends one event, then fails."""

    async def WatchUserEvents(  # noqa: N802
        self, request: Any, context: Any
    ) -> AsyncIterator[auth_pb2.UserEvent]:
        yield auth_pb2.UserEvent(seq=1, head_seq=1)
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "not for you")


async def feed_until_failure(channel: grpc.aio.Channel) -> dict[str, Any]:
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    seen: list[int] = []
    try:
        async for event in auth.WatchUserEvents(auth_pb2.WatchUserEventsRequest()):
            seen.append(event.seq)
    except blog_client.PermissionDeniedError as error:
        return {"seen": seen, "error": type(error).__name__, "message": error.message}
    return {"seen": seen, "error": None}


async def exercise(articles: FlakyArticles, channel: grpc.aio.Channel) -> dict[str, Any]:
    stub = articles_pb2_grpc.ArticleServiceStub(channel)
    read = await stub.GetArticle(articles_pb2.GetArticleRequest(id=7))
    write = articles_pb2.CreateArticleRequest(title="Once", content="Never sent twice.")
    try:
        await stub.CreateArticle(write)
        created = "succeeded"
    except blog_client.UnavailableError as error:
        created = type(error).__name__
    return {
        "read": [read.id, read.title],
        "calls": articles.calls,
        "create": created,
        "feed": await feed_until_failure(channel),
    }


async def main() -> dict[str, Any]:
    # Each fake serves a few methods; the base class answers the rest UNIMPLEMENTED, which
    # the stubs' abstract methods do not know.
    articles = FlakyArticles()  # type: ignore[abstract]
    server = grpc.aio.server()
    articles_pb2_grpc.add_ArticleServiceServicer_to_server(articles, server)
    auth_pb2_grpc.add_AuthServiceServicer_to_server(BrokenFeed(), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with blog_client.connect(f"127.0.0.1:{port}") as channel:
            return await exercise(articles, channel)
    finally:
        await server.stop(None)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
