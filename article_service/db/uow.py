"""The session unit of work: one AsyncSession and one transaction per call, rolled back
unless the operation commits. (The hot paths that skip the session are in driver and
readers.)"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from article_service.db.repositories import SqlAccountRepository, SqlArticleRepository
from article_service.errors import DatabaseUnavailableError
from svckit.database import UNREACHABLE, session_lost


class SqlUnitOfWork:
    articles: SqlArticleRepository
    accounts: SqlAccountRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self.articles = SqlArticleRepository(self._session)
        self.accounts = SqlAccountRepository(self._session)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.close()  # rolls back whatever was not committed
            except (*UNREACHABLE, sa_exc.DBAPIError):
                if exc is None:
                    raise DatabaseUnavailableError from None
        if session_lost(exc):
            raise DatabaseUnavailableError from exc

    async def commit(self) -> None:
        assert self._session is not None, "commit() outside `async with`"
        await self._session.commit()

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()
