"""The feed consumer: resumes from its cursor after a stop, and a replay changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from article_service import operations
from article_service import server as article_server
from article_service.db.uow import SqlUnitOfWork
from article_service.models import UserEvent, UserEventKind
from article_service.user_feed import CONSUMER

from .conftest import caught_up, eventually, execute, feed_head, scalar

# Synthetic users, far from the ids the auth service hands out.
BASE = 1_500_000_000
USERS = 200


async def _synthetic_feed(auth_db: Any, articles_db: Any) -> list[int]:
    """USERS created users, each with two articles; every other one deleted afterwards."""
    ids = list(range(BASE, BASE + USERS))
    await execute(
        auth_db,
        "INSERT INTO user_events (kind, user_id, username) "
        "SELECT 'created', id, 'synthetic_' || id "
        "FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS id",
        lo=ids[0],
        hi=ids[-1],
    )
    await execute(
        articles_db,
        "INSERT INTO articles (title, content, published, author_id) "
        "SELECT 'T', 'Synthetic content', p, id "
        "FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS id, "
        "(VALUES (true), (false)) AS v(p)",
        lo=ids[0],
        hi=ids[-1],
    )
    await execute(
        auth_db,
        "INSERT INTO user_events (kind, user_id, username) "
        "SELECT 'deleted', id, 'synthetic_' || id "
        "FROM generate_series(CAST(:lo AS int), CAST(:hi AS int), 2) AS id",
        lo=ids[0],
        hi=ids[-1],
    )
    return ids[::2]


async def _events_after(auth_db: Any, seq: int) -> int:
    return int(await scalar(auth_db, "SELECT count(*) FROM user_events WHERE seq > :s", s=seq))


async def _state(articles_db: Any) -> tuple[int, ...]:
    where = f"BETWEEN {BASE} AND {BASE + USERS}"
    return (
        await scalar(articles_db, f"SELECT count(*) FROM articles WHERE author_id {where}"),  # noqa: S608 - fixed numbers
        await scalar(articles_db, f"SELECT count(*) FROM authors WHERE user_id {where}"),  # noqa: S608
        await scalar(articles_db, f"SELECT count(*) FROM deleted_users WHERE user_id {where}"),  # noqa: S608
    )


async def test_a_consumer_stopped_mid_stream_resumes_from_its_cursor(
    settings, auth_address, auth_db, articles_db
):
    deleted = await _synthetic_feed(auth_db, articles_db)
    head = await feed_head(auth_db)
    # Where the cursor stands before: earlier tests may have moved it.
    start = int(
        await scalar(
            articles_db,
            "SELECT coalesce(max(seq), 0) FROM event_cursor WHERE name = :n",
            n=CONSUMER,
        )
    )
    async with article_server.running(settings) as service:

        async def flowing() -> bool:
            return service.consumer.lag().cursor > start + 20

        await eventually(flowing, within=10.0, step=0.001)
        mid_lag = service.consumer.lag()
    stopped_at = await scalar(
        articles_db, "SELECT seq FROM event_cursor WHERE name = :n", n=CONSUMER
    )
    assert stopped_at < head, "stopped before the end of the feed"
    assert mid_lag.events_behind > 0

    async with article_server.running(settings) as service:
        await caught_up(service.consumer, auth_db)
        assert service.consumer.lag().events_behind == 0
        # Nothing applied twice, none lost (seqs may have gaps: count the events themselves).
        assert service.consumer.applied == await _events_after(auth_db, stopped_at)
    assert await _state(articles_db) == (USERS, USERS // 2, len(deleted))
    for user_id in deleted[:5]:
        count = await scalar(
            articles_db, "SELECT count(*) FROM articles WHERE author_id = :i", i=user_id
        )
        assert count == 0


async def test_replaying_the_feed_from_the_start_changes_nothing(
    settings, auth_address, auth_db, articles_db
):
    async with article_server.running(settings) as service:
        await caught_up(service.consumer, auth_db)
    before = await _state(articles_db)
    await execute(articles_db, "UPDATE event_cursor SET seq = 0 WHERE name = :n", n=CONSUMER)
    async with article_server.running(settings) as service:
        # The whole feed of this suite (~1,700 events, one transaction each): ~3 s on a quiet
        # machine, over 10 s with both cores busy. The test is about the state, not the pace.
        await caught_up(service.consumer, auth_db, within=60.0)
        assert service.consumer.applied == await _events_after(auth_db, 0)  # the whole feed
    assert await _state(articles_db) == before


async def test_applying_the_same_event_twice_changes_nothing(articles_db):
    sessions = async_sessionmaker(articles_db, expire_on_commit=False)
    user_id = BASE + USERS + 1
    await execute(
        articles_db,
        "INSERT INTO articles (title, content, author_id) VALUES ('T', 'Some content', :i)",
        i=user_id,
    )
    name = "test.apply_twice"
    now = datetime.now(UTC)
    created = UserEvent(1, UserEventKind.CREATED, user_id, "twice", now)
    deleted = UserEvent(2, UserEventKind.DELETED, user_id, "twice", now)
    for event in (created, deleted):
        assert await operations.apply_user_event(SqlUnitOfWork(sessions), name, event)
        assert not await operations.apply_user_event(SqlUnitOfWork(sessions), name, event)
    # The cursor moved back: both are applied again, ending in the same state.
    await execute(articles_db, "UPDATE event_cursor SET seq = 0 WHERE name = :n", n=name)
    for event in (created, deleted):
        assert await operations.apply_user_event(SqlUnitOfWork(sessions), name, event)
    count = "SELECT count(*) FROM {} WHERE {} = :i"
    assert await scalar(articles_db, count.format("articles", "author_id"), i=user_id) == 0
    assert await scalar(articles_db, count.format("authors", "user_id"), i=user_id) == 0
    assert await scalar(articles_db, count.format("deleted_users", "user_id"), i=user_id) == 1
