"""Deleting an account: its articles disappear and its tokens are refused, service up or down."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest
from blog.articles.v1 import articles_pb2 as pb
from blog.articles.v1 import articles_pb2_grpc
from blog.auth.v1 import auth_pb2

from article_service import server as article_server

from .conftest import caught_up, eventually, register, scalar

CONTENT = "Some content, long enough."


async def _create(stub: Any, account: Any, published: bool) -> Any:
    request = pb.CreateArticleRequest(title="Mine", content=CONTENT, published=published)
    return await stub.CreateArticle(request, metadata=account.metadata)


async def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code()


async def _articles_of(articles_db: Any, user_id: int) -> int:
    return int(
        await scalar(articles_db, "SELECT count(*) FROM articles WHERE author_id = :id", id=user_id)
    )


async def test_deletion_removes_articles_and_refuses_tokens_within_seconds(
    settings, auth_stub, auth_db, articles_db, caplog
):
    caplog.set_level(logging.INFO, logger="article_service.user_feed")
    carol = await register(auth_stub, "accounts_carol")
    async with (
        article_server.running(settings) as service,
        grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel,
    ):
        stub = articles_pb2_grpc.ArticleServiceStub(channel)
        await caught_up(service.consumer, auth_db)
        published = await _create(stub, carol, published=True)
        draft = await _create(stub, carol, published=False)
        assert published.author_username == "accounts_carol"

        call = auth_stub.DeleteCurrentUser(
            auth_pb2.DeleteCurrentUserRequest(), metadata=carol.metadata
        )
        await call

        async def gone() -> bool:
            get = stub.GetArticle(pb.GetArticleRequest(id=published.id))
            try:
                await get
            except grpc.aio.AioRpcError as exc:
                return exc.code() is grpc.StatusCode.NOT_FOUND
            return False

        latency = await eventually(gone, within=5.0)
        assert await _articles_of(articles_db, carol.id) == 0
        print(f"deletion to NOT_FOUND: {latency * 1000:.0f} ms")
        for request in (pb.GetArticleRequest(id=published.id), pb.GetArticleRequest(id=draft.id)):
            assert await _code(stub.GetArticle(request)) is grpc.StatusCode.NOT_FOUND
        unauthenticated = grpc.StatusCode.UNAUTHENTICATED
        create = pb.CreateArticleRequest(title="Again", content=CONTENT)
        assert await _code(stub.CreateArticle(create, metadata=carol.metadata)) is unauthenticated
        listing = stub.ListArticles(pb.ListArticlesRequest(), metadata=carol.metadata)
        assert await _code(listing) is unauthenticated
        me = auth_stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=carol.metadata)
        assert await _code(me) is unauthenticated
        again = auth_stub.DeleteCurrentUser(
            auth_pb2.DeleteCurrentUserRequest(), metadata=carol.metadata
        )
        assert await _code(again) is unauthenticated

        lag = service.consumer.lag()
        assert lag.active
        assert lag.events_behind == 0
        assert lag.seconds_behind == 0.0
        await eventually(lambda: _logged_lag(caplog), within=2.0)


async def _logged_lag(caplog: Any) -> bool:
    return any(
        record.getMessage() == "feed lag" and hasattr(record, "events_behind")
        for record in caplog.records
    )


async def test_deletion_while_the_article_service_is_down_applies_when_it_starts(
    settings, auth_stub, auth_db, articles_db
):
    dave = await register(auth_stub, "accounts_dave")
    async with (
        article_server.running(settings) as service,
        grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel,
    ):
        stub = articles_pb2_grpc.ArticleServiceStub(channel)
        await _create(stub, dave, published=True)
        await _create(stub, dave, published=False)
    assert await _articles_of(articles_db, dave.id) == 2

    await auth_stub.DeleteCurrentUser(auth_pb2.DeleteCurrentUserRequest(), metadata=dave.metadata)
    assert await _articles_of(articles_db, dave.id) == 2  # nobody has applied it yet

    async with article_server.running(settings) as service:
        await caught_up(service.consumer, auth_db)
        assert await _articles_of(articles_db, dave.id) == 0
        assert dave.id in service.deleted_users
