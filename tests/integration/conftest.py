"""What the integration tests of both services share: sessions rolled back after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


@asynccontextmanager
async def rolled_back_session(engine: AsyncEngine, **options: Any) -> AsyncIterator[AsyncSession]:
    """A session whose commits land in savepoints of an outer transaction rolled back after."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint", **options)
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()
