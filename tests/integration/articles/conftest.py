"""Real PostgreSQL for the article service: migrated once, each test rolled back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from article_service.db.readers import ConnectionReader
from devstack import migrate
from tests.integration.conftest import rolled_back_session


@pytest.fixture(scope="session")
async def articles_url(database) -> str:
    url: str = database.urls["articles"]
    # Alembic's env.py runs its own event loop: give it a thread of its own.
    await asyncio.to_thread(migrate.upgrade, "articles", url)
    return url


@pytest.fixture(scope="session")
async def engine(articles_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(articles_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with rolled_back_session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
async def reader(session: AsyncSession) -> ConnectionReader:
    """The driver reads on the session's own connection, so they see its uncommitted rows."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return ConnectionReader(raw.driver_connection)
