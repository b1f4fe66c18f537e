"""The unit of work: one AsyncSession per call, rolled back unless the operation commits."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service.db.refresh_tokens import SqlRefreshTokenRepository
from auth_service.db.repository import (
    SqlLoginFailureRepository,
    SqlUserEventRepository,
    SqlUserRepository,
)
from auth_service.errors import DatabaseUnavailableError
from svckit.database import UNAVAILABLE_MESSAGE, UNREACHABLE, session_lost


class SqlUnitOfWork:
    users: SqlUserRepository
    login_failures: SqlLoginFailureRepository
    user_events: SqlUserEventRepository
    refresh_tokens: SqlRefreshTokenRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self.users = SqlUserRepository(self._session)
        self.login_failures = SqlLoginFailureRepository(self._session)
        self.user_events = SqlUserEventRepository(self._session)
        self.refresh_tokens = SqlRefreshTokenRepository(self._session)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._session.rollback()
        except (*UNREACHABLE, sa_exc.DBAPIError):
            if exc is None:
                raise DatabaseUnavailableError(UNAVAILABLE_MESSAGE) from None
        finally:
            await self._session.close()
        if session_lost(exc):
            raise DatabaseUnavailableError(UNAVAILABLE_MESSAGE) from exc

    async def commit(self) -> None:
        await self._session.commit()
