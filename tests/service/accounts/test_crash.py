"""kill -9 of a real article-service process in the middle of the feed, then a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from article_service.user_feed import CONSUMER
from devstack.ports import free_port

from .conftest import eventually, execute, feed_head, scalar

ROOT = Path(__file__).resolve().parents[3]
BASE = 1_600_000_000  # synthetic users, apart from other tests' ids
USERS = 600


async def _feed(auth_db, articles_db) -> None:
    """USERS created users with one draft each; every one of them deleted afterwards."""
    for kind in ("created", "deleted"):
        await execute(
            auth_db,
            "INSERT INTO user_events (kind, user_id, username) "
            "SELECT CAST(:kind AS text), id, 'crash_' || id "
            "FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS id",
            kind=kind,
            lo=BASE,
            hi=BASE + USERS - 1,
        )
        if kind == "created":
            await execute(
                articles_db,
                "INSERT INTO articles (title, content, author_id) "
                "SELECT 'T', 'Draft content', id "
                "FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS id",
                lo=BASE,
                hi=BASE + USERS - 1,
            )


def _start(database_url: str, auth_address: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        ARTICLES_DATABASE_URL=database_url,
        ARTICLES_PORT=str(free_port()),
        ARTICLES_WORKER_BASE_PORT="0",
        ARTICLES_WORKERS="1",
        ARTICLES_AUTH_ADDRESS=auth_address,
        ARTICLES_FEED_LOCK_RETRY_SECONDS="0.2",
        ARTICLES_LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "article_service"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _cursor(articles_db) -> int:
    value = await scalar(articles_db, "SELECT seq FROM event_cursor WHERE name = :n", n=CONSUMER)
    return int(value or 0)


async def _kill_mid_stream(url: str, auth_address: str, articles_db, start: int, head: int) -> None:
    """Start an article service, SIGKILL it once its consumer has applied 50 events past
    `start`, and check it had not reached `head` (else the feed was too short to test)."""
    process = _start(url, auth_address)
    try:

        async def flowing() -> bool:
            return await _cursor(articles_db) > start + 50

        await eventually(flowing, within=20.0, step=0.005)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    killed_at = await _cursor(articles_db)
    assert killed_at < head, "the consumer finished before it was killed; feed too short"


async def _resume_to_the_end(url: str, auth_address: str, articles_db, head: int) -> None:
    """A new article service applies the rest of the feed within a minute and stops cleanly."""
    process = _start(url, auth_address)
    try:

        async def done() -> bool:
            return await _cursor(articles_db) >= head

        await eventually(done, within=60.0, step=0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


async def test_a_consumer_killed_mid_stream_loses_and_duplicates_nothing(
    database, auth_address, auth_db, articles_db
):
    start = await _cursor(articles_db)
    await _feed(auth_db, articles_db)
    head = await feed_head(auth_db)
    await _kill_mid_stream(database.urls["articles"], auth_address, articles_db, start, head)
    await _resume_to_the_end(database.urls["articles"], auth_address, articles_db, head)

    where = f"BETWEEN {BASE} AND {BASE + USERS - 1}"
    assert await scalar(articles_db, f"SELECT count(*) FROM articles WHERE author_id {where}") == 0  # noqa: S608 - fixed numbers
    assert await scalar(articles_db, f"SELECT count(*) FROM authors WHERE user_id {where}") == 0  # noqa: S608
    assert (
        await scalar(articles_db, f"SELECT count(*) FROM deleted_users WHERE user_id {where}")  # noqa: S608
        == USERS
    )


RENAMED_BASE = 1_650_000_000  # synthetic users of the rename crash, apart from the others
RENAMED_USERS = 200
ROUNDS = 3


async def _renames(auth_db, articles_db) -> None:
    """RENAMED_USERS created users with one article each, then ROUNDS renames of each."""
    span = {"lo": RENAMED_BASE, "hi": RENAMED_BASE + RENAMED_USERS - 1}
    series = " FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS id"
    events = "INSERT INTO user_events (kind, user_id, username) SELECT "
    await execute(auth_db, events + "'created', id, 'crash_r0_' || id" + series, **span)
    await execute(
        articles_db,
        "INSERT INTO articles (title, content, published, author_id) "
        "SELECT 'T', 'Renamed content', true, id" + series,
        **span,
    )
    for round_ in range(1, ROUNDS + 1):
        renamed = events + "'renamed', id, CAST(:prefix AS text) || id" + series
        await execute(auth_db, renamed, prefix=f"crash_r{round_}_", **span)


async def test_renames_under_kill_9_end_with_every_final_name(
    database, auth_address, auth_db, articles_db
):
    start = await _cursor(articles_db)
    await _renames(auth_db, articles_db)
    head = await feed_head(auth_db)
    await _kill_mid_stream(database.urls["articles"], auth_address, articles_db, start, head)
    await _resume_to_the_end(database.urls["articles"], auth_address, articles_db, head)

    wrong = (
        "SELECT count(*) FROM articles a LEFT JOIN authors au ON au.user_id = a.author_id "
        "WHERE a.author_id BETWEEN :lo AND :hi "
        "AND au.username IS DISTINCT FROM 'crash_r' || :rounds || '_' || a.author_id"
    )
    span = {"lo": RENAMED_BASE, "hi": RENAMED_BASE + RENAMED_USERS - 1}
    assert await scalar(articles_db, wrong, rounds=str(ROUNDS), **span) == 0
