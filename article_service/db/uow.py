"""The SQL units of work: one AsyncSession and one transaction per RPC; for an RPC that only
reads, its statement batched with the same reads of other calls (BatchedReads) or, without
batching, one pooled connection whose statements each run on their own; for CreateArticle,
one pooled connection and a three-round-trip transaction on its asyncpg driver."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from article_service.db.batching import Batcher
from article_service.db.repository import (
    ReadOnlyRepository,
    SqlAccountRepository,
    SqlArticleCreator,
    SqlArticleReader,
    SqlArticleRepository,
)
from article_service.errors import ArticleError, DatabaseUnavailableError
from article_service.models import Article, NewArticle, Page
from article_service.operations import UnitOfWork

# Errors that mean "the database cannot be reached", not "the query is wrong".
_UNREACHABLE = (
    OSError,
    TimeoutError,
    sa_exc.TimeoutError,  # no pooled connection came free in time
    sa_exc.InterfaceError,
    sa_exc.OperationalError,
)
# The same, raised by asyncpg itself (the read path calls the driver directly).
_DRIVER_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
)


class SqlUnitOfWork(UnitOfWork):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], reads: BatchedReads | None = None
    ) -> None:
        self._sessions = sessions
        self._reads = reads
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        self.articles = SqlArticleRepository(self._session)
        self.accounts = SqlAccountRepository(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.close()  # rolls back whatever was not committed
            except (*_UNREACHABLE, sa_exc.DBAPIError):
                if exc is None:
                    raise DatabaseUnavailableError from None
        if isinstance(exc, _UNREACHABLE) or (
            isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
        ):
            raise DatabaseUnavailableError from exc

    def read_only(self) -> UnitOfWork:
        if self._reads is not None:
            return BatchedReadUnit(self._reads)
        bind = self._sessions.kw.get("bind")
        return SqlReadUnitOfWork(bind) if isinstance(bind, AsyncEngine) else self

    def for_create(self) -> UnitOfWork:
        bind = self._sessions.kw.get("bind")
        return SqlCreateUnitOfWork(bind) if isinstance(bind, AsyncEngine) else self

    async def commit(self) -> None:
        assert self._session is not None, "commit() outside `async with`"
        await self._session.commit()

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()


class _DriverUnit(UnitOfWork):
    """A pooled connection used through its asyncpg driver, past the ORM session.

    A connection that fails (PostgreSQL restarted, network gone) is invalidated, so the pool
    replaces it instead of handing it out again, and the call answers UNAVAILABLE.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._driver: Any = None  # the asyncpg.Connection

    async def __aenter__(self) -> UnitOfWork:
        try:
            self._connection = await self._engine.connect()
            raw = await self._connection.get_raw_connection()
        except (*_UNREACHABLE, sa_exc.DBAPIError) as exc:
            await self._close(invalidate=True)
            raise DatabaseUnavailableError from exc
        self._driver = raw.driver_connection
        self._opened(self._driver)
        return self

    def _opened(self, driver: Any) -> None:
        """Build the repositories on the driver connection."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A call cancelled mid-statement (its deadline passed) or a driver failure leaves the
        # connection's protocol state unknown: it never goes back to the pool.
        broken = exc is not None and not isinstance(exc, (ArticleError, asyncpg.PostgresError))
        invalidate = broken
        try:
            if not broken and self._driver is not None and self._driver.is_in_transaction():
                await self._driver.execute("ROLLBACK")  # never hand the pool an open transaction
        except Exception:  # noqa: BLE001 - whatever failed, the connection is not reusable
            invalidate = True
        finally:
            await self._close(invalidate=invalidate)
        if isinstance(exc, (*_DRIVER_UNREACHABLE, asyncpg.InternalClientError)):
            raise DatabaseUnavailableError from exc

    async def _close(self, *, invalidate: bool) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        if connection is None:
            return
        try:
            if invalidate:
                await connection.invalidate()
            await connection.close()  # back to the pool
        except (*_UNREACHABLE, *_DRIVER_UNREACHABLE, sa_exc.DBAPIError):
            pass  # the connection is gone either way; the pool replaces it

    async def commit(self) -> None:
        pass

    async def rollback(self) -> None:
        pass


class SqlReadUnitOfWork(_DriverUnit):
    """Reads only: no BEGIN/COMMIT, each statement its own snapshot."""

    reader: SqlArticleReader

    def _opened(self, driver: Any) -> None:
        self.articles = self.reader = SqlArticleReader(driver)


class SqlCreateUnitOfWork(_DriverUnit):
    """CreateArticle in three round trips (see SqlArticleCreator); `commit()` sends COMMIT,
    leaving without it rolls back. Only add_article: it has no repositories."""

    def _opened(self, driver: Any) -> None:
        self._creator = SqlArticleCreator(driver)

    async def add_article(
        self, author_id: int, new: NewArticle, request_id: uuid.UUID | None
    ) -> Article | None:
        return await self._creator.add(author_id, new, request_id)

    async def commit(self) -> None:
        assert self._driver is not None, "commit() outside `async with`"
        await self._driver.execute("COMMIT")


# A listing as a batch key: who is looking, and which page.
Listing = tuple[int | None, Page]


def _same(key: Listing) -> Listing:
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
        self._engine = engine
        get, listing = (None, None) if on_batch is None else _per_read(on_batch)
        self.by_id: Batcher[int, Article] = Batcher(
            self._get_many, max_batch=max_batch, on_batch=get
        )
        # Each listing is a lane of its own: one slow listing never waits for another.
        self.pages: Batcher[Listing, list[Article]] = Batcher(
            self._pages, lane=_same, on_batch=listing
        )

    async def _get_many(self, ids: list[int]) -> dict[int, Article]:
        unit = SqlReadUnitOfWork(self._engine)
        async with unit:
            return await unit.reader.get_many(ids)

    async def _pages(self, keys: list[Listing]) -> dict[Listing, list[Article]]:
        ((viewer, page),) = keys  # a lane holds one listing
        unit = SqlReadUnitOfWork(self._engine)
        async with unit:
            return {keys[0]: await unit.reader.list_visible(viewer, page)}


class BatchedArticleReader(ReadOnlyRepository):
    """The reads of a read-only unit, each answered by a batch it shares with others."""

    def __init__(self, reads: BatchedReads) -> None:
        self._reads = reads

    async def get(self, article_id: int) -> Article | None:
        return await self._reads.by_id.load(article_id)

    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        # A copy: callers of the same batch share the articles, never the list.
        return list(await self._reads.pages.load((viewer, page)) or ())


class BatchedReadUnit(UnitOfWork):
    """A read-only unit that holds no connection: its reads go through BatchedReads."""

    def __init__(self, reads: BatchedReads) -> None:
        self.articles = BatchedArticleReader(reads)

    async def commit(self) -> None:
        pass

    async def rollback(self) -> None:
        pass
