"""Renaming an account: author_username on its articles follows through the account feed,
with the same cursor and idempotence as deletion (replay, restart; kill -9 is in
test_crash.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
from blog.articles.v1 import articles_pb2 as pb
from blog.articles.v1 import articles_pb2_grpc
from blog.auth.v1 import auth_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from article_service import operations
from article_service import server as article_server
from article_service.db.uow import SqlUnitOfWork
from article_service.models import UserEvent, UserEventKind
from article_service.user_feed import CONSUMER

from .conftest import caught_up, eventually, execute, feed_head, register, scalar

CONTENT = "Some content, long enough."
BASE = 1_700_000_000  # synthetic users, apart from other tests' ids
USERS = 100
ROUNDS = 3  # renames per synthetic user


def _rename(name: str) -> auth_pb2.UpdateCurrentUserRequest:
    return auth_pb2.UpdateCurrentUserRequest(username=name)


async def test_a_rename_reaches_the_authors_articles_within_seconds(settings, auth_stub, auth_db):
    erin = await register(auth_stub, "accounts_erin")
    async with (
        article_server.running(settings) as service,
        grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel,
    ):
        stub = articles_pb2_grpc.ArticleServiceStub(channel)
        await caught_up(service.consumer, auth_db)  # the service has learnt erin's name
        request = pb.CreateArticleRequest(title="Mine", content=CONTENT, published=True)
        article = await stub.CreateArticle(request, metadata=erin.metadata)
        assert article.author_username == "accounts_erin"
        user = await auth_stub.UpdateCurrentUser(_rename("accounts_erin2"), metadata=erin.metadata)
        assert user.username == "accounts_erin2"

        async def renamed() -> bool:
            got = await stub.GetArticle(pb.GetArticleRequest(id=article.id))
            return bool(got.author_username == "accounts_erin2")

        latency = await eventually(renamed, within=5.0)
        print(f"rename to author_username: {latency * 1000:.0f} ms")
        await caught_up(service.consumer, auth_db)


SERIES = "FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS id"
SPAN = {"lo": BASE, "hi": BASE + USERS - 1}


async def _synthetic_renames(auth_db: Any, articles_db: Any) -> None:
    """USERS created users with one article each, then ROUNDS renames of each, in rounds."""
    events = "INSERT INTO user_events (kind, user_id, username) SELECT "
    await execute(auth_db, events + "'created', id, 'ren0_' || id " + SERIES, **SPAN)
    await execute(
        articles_db,
        "INSERT INTO articles (title, content, published, author_id) "
        "SELECT 'T', 'Renamed content', true, id " + SERIES,
        **SPAN,
    )
    for round_ in range(1, ROUNDS + 1):
        renamed = events + "'renamed', id, CAST(:prefix AS text) || id " + SERIES
        await execute(auth_db, renamed, prefix=f"ren{round_}_", **SPAN)


async def _names(articles_db: Any) -> dict[int, str]:
    """author_username of each synthetic user's article, as the article service joins it."""
    query = text(
        "SELECT a.author_id, au.username FROM articles a "
        "LEFT JOIN authors au ON au.user_id = a.author_id "
        "WHERE a.author_id BETWEEN :lo AND :hi"
    )
    async with articles_db.connect() as connection:
        rows = await connection.execute(query, SPAN)
        return {row.author_id: row.username for row in rows}


async def test_renames_end_with_the_last_name_and_a_replay_changes_nothing(
    settings, auth_db, articles_db
):
    before = await feed_head(auth_db)
    await _synthetic_renames(auth_db, articles_db)
    final = {BASE + i: f"ren{ROUNDS}_{BASE + i}" for i in range(USERS)}
    async with article_server.running(settings) as service:
        await caught_up(service.consumer, auth_db, within=30.0)
    assert await _names(articles_db) == final
    # Back to before the renames: applied again, in order, they end where they ended.
    await execute(
        articles_db, "UPDATE event_cursor SET seq = :s WHERE name = :n", s=before, n=CONSUMER
    )
    async with article_server.running(settings) as service:
        await caught_up(service.consumer, auth_db, within=30.0)
        assert service.consumer.applied == (ROUNDS + 1) * USERS
    assert await _names(articles_db) == final


async def test_applying_renames_twice_changes_nothing(articles_db):
    sessions = async_sessionmaker(articles_db, expire_on_commit=False)
    user_id, name, now = BASE + USERS + 1, "test.rename_twice", datetime.now(UTC)
    events = [
        UserEvent(1, UserEventKind.CREATED, user_id, "first", now),
        UserEvent(2, UserEventKind.RENAMED, user_id, "second", now),
        UserEvent(3, UserEventKind.RENAMED, user_id, "third", now),
    ]
    for event in events:
        assert await operations.apply_user_event(SqlUnitOfWork(sessions), name, event)
        assert not await operations.apply_user_event(SqlUnitOfWork(sessions), name, event)
    await execute(articles_db, "UPDATE event_cursor SET seq = 1 WHERE name = :n", n=name)
    for event in events[1:]:
        assert await operations.apply_user_event(SqlUnitOfWork(sessions), name, event)
    query = "SELECT username FROM authors WHERE user_id = :i"
    assert await scalar(articles_db, query, i=user_id) == "third"


async def test_a_rename_after_the_deletion_does_not_bring_the_author_back(articles_db):
    sessions = async_sessionmaker(articles_db, expire_on_commit=False)
    user_id, name, now = BASE + USERS + 2, "test.rename_deleted", datetime.now(UTC)
    events = [
        UserEvent(1, UserEventKind.CREATED, user_id, "first", now),
        UserEvent(2, UserEventKind.DELETED, user_id, "first", now),
        UserEvent(3, UserEventKind.RENAMED, user_id, "late", now),  # replayed out of a race
    ]
    for event in events:
        assert await operations.apply_user_event(SqlUnitOfWork(sessions), name, event)
    query = "SELECT count(*) FROM authors WHERE user_id = :i"
    assert await scalar(articles_db, query, i=user_id) == 0
