"""The asyncpg driver path: a pooled connection used past the ORM session, for the hot
paths (reads, and CreateArticle in three round trips) that skip the session for speed."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any, Self

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from article_service.db.statements import (
    ADD_ONCE_UNLESS_DELETED,
    ADD_UNLESS_DELETED,
    BY_REQUEST,
    article_of,
    begin_and_lock_author_sql,
)
from article_service.errors import ArticleError, DatabaseUnavailableError
from article_service.models import Article, NewArticle
from svckit.database import DRIVER_UNREACHABLE, UNREACHABLE


class DriverConnection:
    """`async with DriverConnection(engine) as driver`: a pooled connection's asyncpg
    connection, given back to the pool on exit with no transaction open.

    A connection that fails (PostgreSQL restarted, network gone) or whose call was cancelled
    mid-statement is invalidated, so the pool replaces it instead of handing it out again;
    a database that cannot be reached raises DatabaseUnavailableError.
    """

    __slots__ = ("_connection", "_driver", "_engine")

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._driver: Any = None  # the asyncpg.Connection

    async def __aenter__(self) -> Any:
        try:
            self._connection = await self._engine.connect()
            raw = await self._connection.get_raw_connection()
        except (*UNREACHABLE, sa_exc.DBAPIError) as exc:
            await self._close(invalidate=True)
            raise DatabaseUnavailableError from exc
        self._driver = raw.driver_connection
        return self._driver

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
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
        if isinstance(exc, (*DRIVER_UNREACHABLE, asyncpg.InternalClientError)):
            raise DatabaseUnavailableError from exc

    async def _close(self, *, invalidate: bool) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        if connection is None:
            return
        try:
            if invalidate:
                await connection.invalidate()
            await connection.close()  # back to the pool
        except (*UNREACHABLE, *DRIVER_UNREACHABLE, sa_exc.DBAPIError):
            pass  # the connection is gone either way; the pool replaces it


class SqlArticleCreator:
    """New articles on an asyncpg connection, in a transaction this class begins and the
    unit (DriverCreateUnit) commits or rolls back."""

    def __init__(self, connection: Any) -> None:  # an asyncpg.Connection
        self._connection = connection

    async def add_unless_author_deleted(
        self, author_id: int, new: NewArticle, request_id: uuid.UUID | None
    ) -> Article | None:
        """The rule: an article is created only if its author is not deleted, and a deletion
        never leaves an article of its author behind.

        Serialised with the deletion by the author's advisory lock: we take it shared (with
        BEGIN, one round trip); the feed's deletion takes it exclusive while it deletes the
        author's articles and records the author in deleted_users. The insert then checks
        deleted_users in the same statement, in a snapshot taken after the lock, so a
        deletion that committed while we waited is seen. None (nothing written): the
        author is deleted. A repeated request_id returns the article the first request
        created.
        """
        connection = self._connection
        await connection.execute(begin_and_lock_author_sql(author_id))
        values = {
            "title": new.title,
            "content": new.content,
            "published": new.published,
            "author_id": author_id,
            "request_id": request_id,
        }
        query = ADD_UNLESS_DELETED if request_id is None else ADD_ONCE_UNLESS_DELETED
        record = await connection.fetchrow(query.sql, *query.args(**values))
        if record is None and request_id is not None:  # a repeat, or a deleted author
            keys = BY_REQUEST.args(author_id=author_id, request_id=request_id)
            record = await connection.fetchrow(BY_REQUEST.sql, *keys)
        return None if record is None else article_of(record)


class DriverCreateUnit:
    """CreateArticle's unit in three round trips: BEGIN with the author's lock, the insert
    with the deleted check, COMMIT (one more, a read, for a repeated request_id). Leaving
    without `commit()` rolls back."""

    articles: SqlArticleCreator

    def __init__(self, engine: AsyncEngine) -> None:
        self._scope = DriverConnection(engine)
        self._driver: Any = None

    async def __aenter__(self) -> Self:
        self._driver = await self._scope.__aenter__()
        self.articles = SqlArticleCreator(self._driver)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._driver = None
        await self._scope.__aexit__(kind, exc, tb)

    async def commit(self) -> None:
        assert self._driver is not None, "commit() outside `async with`"
        await self._driver.execute("COMMIT")

    async def rollback(self) -> None:
        if self._driver is not None and self._driver.is_in_transaction():
            await self._driver.execute("ROLLBACK")
