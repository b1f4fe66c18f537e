"""The SQL unit of work: one AsyncSession and one transaction per RPC."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from article_service.db.repository import SqlAccountRepository, SqlArticleRepository
from article_service.errors import DatabaseUnavailableError
from article_service.operations import UnitOfWork

# Errors that mean "the database cannot be reached", not "the query is wrong".
_UNREACHABLE = (OSError, TimeoutError, sa_exc.InterfaceError, sa_exc.OperationalError)


class SqlUnitOfWork(UnitOfWork):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
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

    async def commit(self) -> None:
        assert self._session is not None, "commit() outside `async with`"
        await self._session.commit()

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()
