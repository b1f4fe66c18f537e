"""The session repository and the driver reader of articles on real PostgreSQL, inside one
rolled-back transaction."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from article_service.db.repositories import SqlArticleRepository
from article_service.models import ArticleChanges, NewArticle, Page

from .helpers import add_article

# Author ids no other test uses, so committed rows from other suites do not interfere.
_ids = itertools.count(900_000_000)


@pytest.fixture
def repo(session: AsyncSession) -> SqlArticleRepository:
    return SqlArticleRepository(session)


def _new(title: str = "A title", published: bool = True) -> NewArticle:
    return NewArticle(title=title, content="Some content here", published=published)


async def test_get_finds_the_stored_article_in_the_session_and_on_the_driver(repo, session, reader):
    article = await add_article(session, _new(published=False), next(_ids))
    assert await repo.get(article.id) == article
    assert await reader.get(article.id) == article
    assert await reader.get_many([article.id, 2_000_000_000]) == {article.id: article}


async def test_get_returns_none_for_a_missing_id(repo, reader):
    assert await repo.get(2_000_000_000) is None
    assert await reader.get(2_000_000_000) is None


async def test_list_shows_published_and_own_drafts_newest_first(session, reader):
    me, other = next(_ids), next(_ids)
    mine_draft = await add_article(session, _new("my draft", published=False), me)
    others_draft = await add_article(session, _new("other draft", published=False), other)
    others_public = await add_article(session, _new("other public"), other)
    # Same transaction means same now(): order falls back to id, newest first.
    page = await reader.list_visible(me, Page(skip=0, limit=100))
    ids = [a.id for a in page]
    assert others_draft.id not in ids
    assert ids.index(others_public.id) < ids.index(mine_draft.id)
    anonymous = [a.id for a in await reader.list_visible(None, Page(0, 100))]
    assert mine_draft.id not in anonymous
    assert others_public.id in anonymous
    # A keyset page starts right after the article it names.
    first = page[0]
    after = await reader.list_visible(me, Page(0, 100, after=(first.created_at, first.id)))
    assert [a.id for a in after] == ids[1:]


async def test_list_orders_by_creation_time_before_id(session, reader):
    author = next(_ids)
    older = await add_article(session, _new("older"), author)
    newer = await add_article(session, _new("newer"), author)
    await session.execute(
        text("UPDATE articles SET created_at = now() + interval '1 day' WHERE id = :id"),
        {"id": older.id},
    )
    first, second = await reader.list_visible(author, Page(0, 2))
    assert (first.id, second.id) == (older.id, newer.id)


async def test_list_pages_with_skip_and_limit(session, reader):
    await session.execute(text("UPDATE articles SET published = false"))
    author = next(_ids)
    made = [await add_article(session, _new(f"title {i}"), author) for i in range(5)]
    newest_first = [a.id for a in reversed(made)]
    page = await reader.list_visible(None, Page(skip=1, limit=2))
    assert [a.id for a in page] == newest_first[1:3]
    assert await reader.list_visible(None, Page(skip=5, limit=2)) == []


async def test_update_own_changes_only_the_given_fields_and_the_time(repo, session):
    author = next(_ids)
    article = await add_article(session, _new(), author)
    await session.execute(
        text(
            "UPDATE articles SET created_at = now() - interval '1 hour',"
            " updated_at = now() - interval '1 hour' WHERE id = :id"
        ),
        {"id": article.id},
    )
    updated = await repo.update_own(article.id, author, ArticleChanges(published=False))
    assert updated is not None
    assert updated.published is False
    assert (updated.title, updated.content) == (article.title, article.content)
    assert updated.updated_at > updated.created_at


async def test_update_own_refuses_another_author_without_writing(repo, session):
    author = next(_ids)
    article = await add_article(session, _new(), author)
    assert await repo.update_own(article.id, author + 1, ArticleChanges(title="Hacked")) is None
    stored = await repo.get(article.id)
    assert stored is not None
    assert stored.title == article.title


async def test_delete_own_deletes_only_for_the_author(repo, session):
    author = next(_ids)
    article = await add_article(session, _new(), author)
    assert await repo.delete_own(article.id, author + 1) is False
    assert await repo.delete_own(article.id, author) is True
    assert await repo.get(article.id) is None
    assert await repo.delete_own(article.id, author) is False


async def test_database_refuses_a_blank_title_even_past_the_service(session):
    with pytest.raises(IntegrityError):
        await add_article(session, NewArticle(title="   ", content="Some content here"), next(_ids))
