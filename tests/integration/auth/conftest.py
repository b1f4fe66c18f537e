"""Real PostgreSQL for the auth repositories: migrated once, each test rolled back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from devstack import migrate
from tests.conftest import Database
from tests.integration.conftest import rolled_back_session

SCRATCH_DB = "auth_migration_checks"


@pytest.fixture(scope="session")
def auth_url(database: Database) -> str:
    migrate.upgrade("auth", database.urls["auth"])
    return database.urls["auth"]


@pytest.fixture(scope="session")
async def engine(auth_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(auth_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with rolled_back_session(engine) as session:
        yield session


async def _create_scratch_database(database: Database) -> None:
    superuser = database.cluster.superuser_url()
    conn = await asyncpg.connect(superuser)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
        await conn.execute(f"CREATE DATABASE {SCRATCH_DB}")
        await conn.execute(f"GRANT CONNECT ON DATABASE {SCRATCH_DB} TO blog_auth")
    finally:
        await conn.close()
    conn = await asyncpg.connect(database.cluster.superuser_url(SCRATCH_DB))
    try:
        await conn.execute("CREATE SCHEMA auth AUTHORIZATION blog_auth")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def scratch_url(database: Database) -> str:
    """A database of its own for migration round trips, so they cannot disturb other tests."""
    asyncio.run(_create_scratch_database(database))
    base, _ = database.urls["auth"].rsplit("/", 1)
    return f"{base}/{SCRATCH_DB}"
