"""Batched reads (GetArticle by id, shared listings) on real PostgreSQL.

The batches run on pooled connections of their own, so these tests commit their articles
(under user ids no other suite uses) and delete them afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from article_service import listing, operations
from article_service.db.driver import DriverCreateUnit
from article_service.db.readers import BatchedReads, DriverReader
from article_service.db.uow import SqlUnitOfWork
from article_service.errors import ArticleNotFoundError
from article_service.models import Article, ArticleChanges, NewArticle

AUTHOR = 1_910_000_000
READER = AUTHOR + 1


@pytest.fixture
async def reads(engine: AsyncEngine) -> BatchedReads:
    return BatchedReads(engine)


@pytest.fixture
async def articles(engine: AsyncEngine) -> AsyncIterator[list[Article]]:
    async with _uow(engine) as uow:
        await uow.accounts.save_author(AUTHOR, "batch_writer")
        await uow.commit()
    made = [
        await operations.create_article(
            DriverCreateUnit(engine),
            AUTHOR,
            NewArticle(f"Batched {i}", "Some content here", i != 2),
        )
        for i in range(4)
    ]
    yield made
    async with _uow(engine) as uow:
        await uow.articles.delete_by_author(AUTHOR)
        await uow.accounts.remove_author(AUTHOR)
        await uow.commit()


def _uow(engine: AsyncEngine) -> SqlUnitOfWork:
    return SqlUnitOfWork(async_sessionmaker(engine, expire_on_commit=False))


async def test_concurrent_gets_each_get_their_own_article(reads, articles):
    wanted = [articles[0].id, articles[3].id, articles[0].id, articles[1].id]
    found = await asyncio.gather(*(operations.get_article(reads, None, i) for i in wanted))
    assert [a.id for a in found] == wanted
    assert [a.title for a in found] == ["Batched 0", "Batched 3", "Batched 0", "Batched 1"]
    assert {a.author_username for a in found} == {"batch_writer"}
    assert found[0] == articles[0]


async def test_a_missing_id_or_someone_elses_draft_is_not_found_in_a_batch(reads, articles):
    draft = articles[2]
    outcomes = await asyncio.gather(
        operations.get_article(reads, None, articles[0].id),
        operations.get_article(reads, READER, draft.id),
        operations.get_article(reads, None, 2_147_483_000),
        operations.get_article(reads, AUTHOR, draft.id),
        return_exceptions=True,
    )
    assert outcomes[0] == articles[0]
    assert isinstance(outcomes[1], ArticleNotFoundError)
    assert isinstance(outcomes[2], ArticleNotFoundError)
    assert outcomes[3] == draft  # the author sees their draft


async def test_a_get_after_an_update_sees_the_update(engine, reads, articles):
    target = articles[1].id
    readers = [asyncio.create_task(operations.get_article(reads, None, target)) for _ in range(8)]
    changed = await operations.update_article(
        _uow(engine), AUTHOR, target, ArticleChanges(title="Renamed")
    )
    assert (await operations.get_article(reads, None, target)).title == "Renamed"
    assert {a.title for a in await asyncio.gather(*readers)} <= {"Batched 1", "Renamed"}
    assert changed.version == 2


async def test_identical_listings_share_a_statement_and_different_ones_do_not(reads, articles):
    listings = await asyncio.gather(
        *(listing.list_page(reads, None, 0, 3) for _ in range(6)),
        listing.list_page(reads, AUTHOR, 0, 3),
    )
    anonymous, author = listings[:6], listings[6]
    assert all(page == anonymous[0] for page in anonymous)
    assert [a.title for a in anonymous[0].articles] == ["Batched 3", "Batched 1", "Batched 0"]
    assert [a.title for a in author.articles] == ["Batched 3", "Batched 2", "Batched 1"]
    assert anonymous[0].articles is not anonymous[1].articles  # shared rows, never the list
    assert reads.pages.lanes() == 0


async def test_the_plain_reader_answers_what_the_batched_one_does(engine, reads, articles):
    plain = DriverReader(engine)
    for article in articles:
        assert await operations.get_article(plain, AUTHOR, article.id) == article
        assert await operations.get_article(reads, AUTHOR, article.id) == article
    for viewer in (None, AUTHOR):
        expected = await listing.list_page(reads, viewer, 0, 3)
        assert await listing.list_page(plain, viewer, 0, 3) == expected
    with pytest.raises(ArticleNotFoundError):
        await operations.get_article(plain, READER, articles[2].id)
