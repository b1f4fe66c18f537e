"""A PostgreSQL session advisory lock on a connection of its own: one holder per database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool


@dataclass
class HeldLock:
    """The outcome of one try; `alive()` tells whether a held lock is still ours."""

    held: bool
    _connection: AsyncConnection

    async def alive(self) -> bool:
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except Exception:  # noqa: BLE001 - any failure means the session, and the lock, is gone
            return False
        return self.held


@contextlib.asynccontextmanager
async def try_advisory_lock(url: str, key: int) -> AsyncIterator[HeldLock]:
    """Try once to take lock `key`. The connection is not pooled: leaving closes it, and
    PostgreSQL releases the lock with it, even if the process dies."""
    engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 5})
    try:
        async with engine.connect() as connection:
            held = await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            await connection.commit()  # hold the lock, not an open transaction
            yield HeldLock(bool(held), connection)
    finally:
        await engine.dispose()
