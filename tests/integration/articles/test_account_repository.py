"""The account repository (authors, deleted users, feed cursor) on real PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from article_service.db.repositories import SqlAccountRepository, SqlArticleRepository
from article_service.models import NewArticle

from .helpers import add_article

USER = 1_800_000_000  # an id no other suite uses
T0 = datetime(2025, 1, 1, tzinfo=UTC)


async def test_authors_are_upserted_and_named_on_articles(session):
    accounts, articles = SqlAccountRepository(session), SqlArticleRepository(session)
    created = await add_article(session, NewArticle("t", "Some content", True), USER)
    assert created.author_username == ""
    await accounts.save_author(USER, "first")
    await accounts.save_author(USER, "second")
    assert await articles.get(created.id) == replace(created, author_username="second")
    await accounts.remove_author(USER)
    await accounts.remove_author(USER)
    assert await articles.get(created.id) == created


async def test_deleted_users_are_recorded_once_and_listed_by_seq(session):
    accounts = SqlAccountRepository(session)
    await accounts.lock_for_deletion(USER)
    await accounts.record_deleted(USER + 1, 20, T0)
    await accounts.record_deleted(USER, 10, T0)
    await accounts.record_deleted(USER, 99, T0)  # a replay changes nothing
    assert await accounts.is_deleted(USER)
    assert not await accounts.is_deleted(USER + 2)
    found = [row for row in await accounts.deleted_after(0) if row[0] >= USER]
    assert found == [(USER, 10), (USER + 1, 20)]
    assert [row for row in await accounts.deleted_after(10) if row[0] >= USER] == [(USER + 1, 20)]


async def test_the_cursor_starts_at_zero_and_never_moves_back(session):
    accounts = SqlAccountRepository(session)
    assert await accounts.cursor("test.cursor") == 0
    await accounts.move_cursor("test.cursor", 7)
    await accounts.move_cursor("test.cursor", 3)
    assert await accounts.cursor("test.cursor") == 7


async def test_delete_by_author_removes_drafts_too(session):
    articles = SqlArticleRepository(session)
    for published in (True, False):
        await add_article(session, NewArticle("t", "Some content", published), USER + 5)
    kept = await add_article(session, NewArticle("t", "Some content", True), USER + 6)
    assert await articles.delete_by_author(USER + 5) == 2
    assert await articles.get(kept.id) == kept
