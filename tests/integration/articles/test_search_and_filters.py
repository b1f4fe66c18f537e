"""The filtered listings' SQL on real PostgreSQL: full-text search (hostile text included),
one author's articles, and the username lookup."""

from __future__ import annotations

import random
import string

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from article_service.db import filtered
from article_service.db.filtered import selected_for
from article_service.db.readers import ConnectionReader
from article_service.db.repositories import SqlAccountRepository
from article_service.models import Article, NewArticle, Page, Selection

from .helpers import add_article

AUTHOR, OTHER = 1_920_000_000, 1_920_000_001
PAGE = Page(limit=50)


async def _add(
    session: AsyncSession, title: str, content: str, published: bool = True, author: int = AUTHOR
) -> Article:
    return await add_article(session, NewArticle(title, content, published), author)


async def _found(reader: ConnectionReader, q: str, viewer: int | None = None) -> list[int]:
    return [a.id for a in await reader.list_selected(viewer, Selection(q=q), PAGE)]


async def test_search_finds_words_of_title_and_content_in_any_case_newest_first(session, reader):
    titled = await _add(session, "Zanzibar Harbour", "A story about boats.")
    bodied = await _add(session, "Holidays", "We sailed to zanzibar in June.")
    await _add(session, "Elsewhere", "Nothing to see here at all.")
    assert await _found(reader, "ZANZIBAR") == [bodied.id, titled.id]
    assert await _found(reader, "zanzibar boats") == [titled.id]
    assert await _found(reader, "zanzibar -boats") == [bodied.id]
    assert await _found(reader, '"sailed to zanzibar"') == [bodied.id]


async def test_search_finds_the_viewers_drafts_and_no_one_elses(session, reader):
    mine = await _add(session, "Quokka draft", "Draft about quokkas.", published=False)
    await _add(session, "Quokka secret", "Someone else's draft.", False, author=OTHER)
    assert await _found(reader, "quokka") == []
    assert await _found(reader, "quokka", viewer=AUTHOR) == [mine.id]


@pytest.mark.parametrize(
    "q",
    [
        "'",
        '"',
        '""""',
        "a & b | !c",
        "(((",
        "))) <-> :* & |",
        "foo:*",
        "-",
        "- - or or",
        "or",
        "\\",
        "'; DROP TABLE articles.articles; --",
        "日本語 テキスト",
        "emoji \U0001f600",
        "   ",
        "!@#$%^&*()",
        "x" * 200,
        "a " * 100,
    ],
)
async def test_hostile_search_text_is_an_answer_never_an_error(session, reader, q):
    await _add(session, "Plain title", "Plain content here.")
    found = await _found(reader, q)
    assert isinstance(found, list)


async def test_text_with_no_words_finds_nothing(session, reader):
    await _add(session, "Anything", "Anything at all.")
    assert await _found(reader, "!!! ??? ...") == []


async def test_a_long_body_of_distinct_words_is_stored_and_found(session, reader):
    rng = random.Random(17)
    words = ["".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(40_000)]
    article = await _add(session, "Long one", " ".join(words))  # 360,000 characters
    assert await _found(reader, words[0]) == [article.id]
    assert await _found(reader, words[-1]) == []  # past the first 100,000 characters


async def test_an_author_listing_is_their_published_articles_or_all_with_drafts(session, reader):
    published = await _add(session, "Mine", "Published by me.")
    draft = await _add(session, "Mine too", "A draft of mine.", published=False)
    await _add(session, "Theirs", "Published by another.", author=OTHER)
    only_published = await reader.list_selected(None, Selection(author_id=AUTHOR), PAGE)
    assert [a.id for a in only_published] == [published.id]
    everything = await reader.list_selected(AUTHOR, Selection(AUTHOR, drafts=True), PAGE)
    assert [a.id for a in everything] == [draft.id, published.id]


async def test_authors_are_found_by_name_in_any_case(session, reader):
    await SqlAccountRepository(session).save_author(AUTHOR, "Search_Author")
    assert await reader.author_named("search_AUTHOR") == AUTHOR
    assert await reader.author_named("nobody_here") is None


async def test_the_author_listing_reads_its_index_in_order(session):
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    [(query, args)] = selected_for(None, Selection(author_id=AUTHOR), PAGE)
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    plan = "\n".join(r[0] for r in await raw.fetch("EXPLAIN " + query.sql, *args))
    assert "ix_articles_author_id_created_at_id" in plan
    assert "Sort" not in plan  # the index's order is the listing's


async def test_a_search_beyond_the_newest_articles_asks_the_index(session, reader, monkeypatch):
    monkeypatch.setattr(filtered, "RECENT", 2)  # the newest two hold no match
    old = await _add(session, "Old axolotl", "An old article.")
    older = await _add(session, "Older axolotl", "An older article.")
    for n in range(3):
        await _add(session, f"Recent {n}", "Newer articles.")
    assert await _found(reader, "axolotl") == [older.id, old.id]
    first = await reader.list_selected(None, Selection(q="axolotl"), Page(limit=1))
    assert [a.id for a in first] == [older.id]
    after = (first[0].created_at, first[0].id)
    rest = await reader.list_selected(None, Selection(q="axolotl"), Page(limit=5, after=after))
    assert [a.id for a in rest] == [old.id]


async def test_a_search_the_newest_articles_fill_takes_one_statement(session, reader):
    for n in range(3):
        await _add(session, f"Common {n}", "Every one says pangolin.")
    [(recent, args), _] = selected_for(None, Selection(q="pangolin"), Page(limit=3))
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert len(await raw.fetch(recent.sql, *args)) == 3  # a full page: the index not needed
