"""CreateArticle's lean write path (lock, check-and-insert, commit) on real PostgreSQL.

These commit for real (the path under test owns its transaction), so each test uses user
ids of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from article_service import operations
from article_service.db.driver import DriverCreateUnit
from article_service.db.readers import DriverReader
from article_service.db.repositories import SqlAccountRepository, SqlArticleRepository
from article_service.db.uow import SqlUnitOfWork
from article_service.errors import NotAuthenticatedError
from article_service.models import NewArticle

USER = 1_900_000_000  # ids no other suite uses
NEW = NewArticle("Lean create", "Some content here", True)


def _uow(engine: AsyncEngine) -> SqlUnitOfWork:
    return SqlUnitOfWork(async_sessionmaker(engine, expire_on_commit=False))


async def _count(engine: AsyncEngine, author_id: int) -> int:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT count(*) FROM articles.articles WHERE author_id = :a"), {"a": author_id}
        )
    return int(found or 0)


async def test_create_commits_one_row_and_names_the_author(engine):
    async with _uow(engine) as uow:
        await uow.accounts.save_author(USER, "lean_writer")
        await uow.commit()
    article = await operations.create_article(DriverCreateUnit(engine), USER, NEW)
    assert (article.author_id, article.author_username, article.title) == (
        USER,
        "lean_writer",
        NEW.title,
    )
    assert await _count(engine, USER) == 1
    assert article.id > 0
    assert article.published is NEW.published
    assert article.created_at.tzinfo is not None
    assert article.created_at == article.updated_at  # the server's times
    assert await DriverReader(engine).get(article.id) == article


async def test_a_deleted_author_creates_nothing(engine):
    async with _uow(engine) as uow:
        await uow.accounts.record_deleted(USER + 1, 1, datetime.now(UTC))
        await uow.commit()
    with pytest.raises(NotAuthenticatedError):
        await operations.create_article(DriverCreateUnit(engine), USER + 1, NEW)
    assert await _count(engine, USER + 1) == 0


async def test_a_create_racing_the_authors_deletion_waits_and_then_creates_nothing(engine):
    author = USER + 2
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as deleting:
        accounts = SqlAccountRepository(deleting)
        await accounts.lock_for_deletion(author)
        create = asyncio.create_task(
            operations.create_article(DriverCreateUnit(engine), author, NEW)
        )
        await asyncio.sleep(0.5)
        assert not create.done(), "the create did not wait for the deletion's lock"
        await SqlArticleRepository(deleting).delete_by_author(author)
        await accounts.record_deleted(author, 2, datetime.now(UTC))
        await deleting.commit()
    with pytest.raises(NotAuthenticatedError):
        await create
    assert await _count(engine, author) == 0


async def test_leaving_without_commit_rolls_back_and_frees_the_connection(engine):
    unit = DriverCreateUnit(engine)
    async with unit:
        created = await unit.articles.add_unless_author_deleted(USER + 3, NEW, None)
        assert created is not None
    assert await _count(engine, USER + 3) == 0
    async with engine.connect() as connection:  # the pool's connections hold no transaction
        raw = await connection.get_raw_connection()
        assert not raw.driver_connection.is_in_transaction()


async def test_a_repeated_request_id_returns_the_first_article(engine):
    new = NewArticle("Once", "Some content here", True, str(uuid.uuid4()))
    first, again = await asyncio.gather(
        operations.create_article(DriverCreateUnit(engine), USER + 4, new),
        operations.create_article(DriverCreateUnit(engine), USER + 4, new),
    )
    assert first == again
    assert await _count(engine, USER + 4) == 1
