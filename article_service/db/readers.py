"""The read side (operations.ArticleReader) on the asyncpg driver: each read one statement,
no BEGIN/COMMIT and none of the session machinery, each statement its own snapshot.

ConnectionReader runs the reads on a connection it is given; DriverReader checks a pooled
connection out for each read; BatchedReads batches concurrent reads (see batching), the
reader the server uses.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from article_service.db.batching import Batcher
from article_service.db.driver import DriverConnection
from article_service.db.filtered import AUTHOR_NAMED, selected_for
from article_service.db.statements import GET_ARTICLE, GET_ARTICLES, article_of, listing_for
from article_service.models import Article, Page, Selection


class ConnectionReader:
    """The reads, each one statement on an asyncpg connection outside any transaction (or
    inside the caller's, if it has one open)."""

    def __init__(self, connection: Any) -> None:  # an asyncpg.Connection
        self._connection = connection

    async def get(self, article_id: int) -> Article | None:
        record = await self._connection.fetchrow(GET_ARTICLE.sql, *GET_ARTICLE.args(id=article_id))
        return None if record is None else article_of(record)

    async def get_many(self, article_ids: list[int]) -> dict[int, Article]:
        """The articles of these ids that exist, by id, in one statement."""
        args = GET_ARTICLES.args(ids=article_ids)
        found = (article_of(r) for r in await self._connection.fetch(GET_ARTICLES.sql, *args))
        return {article.id: article for article in found}

    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        query, args = listing_for(viewer, page)
        return [article_of(r) for r in await self._connection.fetch(query.sql, *args)]

    async def list_selected(
        self, viewer: int | None, selection: Selection, page: Page
    ) -> list[Article]:
        # A search may take two statements: the second only if the first fell short.
        for query, args in selected_for(viewer, selection, page):
            rows = await self._connection.fetch(query.sql, *args)
            if len(rows) >= page.limit:
                break
        return [article_of(r) for r in rows]

    async def author_named(self, username: str) -> int | None:
        args = AUTHOR_NAMED.args(username=username)
        found = await self._connection.fetchval(AUTHOR_NAMED.sql, *args)
        return None if found is None else int(found)


class DriverReader:
    """The plain reader: each read on a pooled connection of its own, unbatched."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, article_id: int) -> Article | None:
        async with DriverConnection(self._engine) as connection:
            return await ConnectionReader(connection).get(article_id)

    async def get_many(self, article_ids: list[int]) -> dict[int, Article]:
        async with DriverConnection(self._engine) as connection:
            return await ConnectionReader(connection).get_many(article_ids)

    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        async with DriverConnection(self._engine) as connection:
            return await ConnectionReader(connection).list_visible(viewer, page)

    async def list_selected(
        self, viewer: int | None, selection: Selection, page: Page
    ) -> list[Article]:
        async with DriverConnection(self._engine) as connection:
            return await ConnectionReader(connection).list_selected(viewer, selection, page)

    async def author_named(self, username: str) -> int | None:
        async with DriverConnection(self._engine) as connection:
            return await ConnectionReader(connection).author_named(username)


# A listing as a batch key: who is looking, and which page.
Listing = tuple[int | None, Page]
# A filtered listing as a batch key: who is looking, what they selected, which page.
Selected = tuple[int | None, Selection, Page]


def _same(key: Listing | Selected) -> Listing | Selected:
    return key


def _per_read(
    on_batch: Callable[[str, int], None],
) -> tuple[Callable[[int], None], Callable[[int], None]]:
    return functools.partial(on_batch, "get"), functools.partial(on_batch, "list")


class BatchedReads:
    """The article reads of one process, batched: one GetArticle statement for the ids asked
    for while the previous one was out, one statement for identical listings (see
    batching). Each batch runs on a connection of its own from the engine's pool."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 256,
        on_batch: Callable[[str, int], None] | None = None,
    ) -> None:
        self._plain = DriverReader(engine)
        get, listing = (None, None) if on_batch is None else _per_read(on_batch)
        self.by_id: Batcher[int, Article] = Batcher(
            self._plain.get_many, max_batch=max_batch, on_batch=get
        )
        # Each listing is a lane of its own: one slow listing never waits for another.
        self.pages: Batcher[Listing, list[Article]] = Batcher(
            self._pages, lane=_same, on_batch=listing
        )
        # Filtered listings likewise (the same search asked for at once shares a statement).
        self.selected: Batcher[Selected, list[Article]] = Batcher(
            self._selected, lane=_same, on_batch=listing
        )

    async def get(self, article_id: int) -> Article | None:
        return await self.by_id.load(article_id)

    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        # A copy: callers of the same batch share the articles, never the list.
        return list(await self.pages.load((viewer, page)) or ())

    async def list_selected(
        self, viewer: int | None, selection: Selection, page: Page
    ) -> list[Article]:
        return list(await self.selected.load((viewer, selection, page)) or ())

    async def author_named(self, username: str) -> int | None:
        # Unbatched: rare (only `?author=`), and one short index lookup.
        return await self._plain.author_named(username)

    async def _pages(self, keys: list[Listing]) -> dict[Listing, list[Article]]:
        ((viewer, page),) = keys  # a lane holds one listing
        return {keys[0]: await self._plain.list_visible(viewer, page)}

    async def _selected(self, keys: list[Selected]) -> dict[Selected, list[Article]]:
        ((viewer, selection, page),) = keys  # a lane holds one listing
        return {keys[0]: await self._plain.list_selected(viewer, selection, page)}
