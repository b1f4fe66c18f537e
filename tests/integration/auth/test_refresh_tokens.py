"""Refresh-token rotation on real PostgreSQL: the row lock makes one of two rotations win."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from auth_service import sessions
from auth_service.db.refresh_tokens import SqlRefreshTokenRepository
from auth_service.db.repository import SqlUserRepository
from auth_service.db.uow import SqlUnitOfWork
from auth_service.errors import RefreshTokenReusedError, RefreshTokenRevokedError
from auth_service.models import NewUser

HASH = "$2b$12$" + "x" * 53
NOW = datetime.now(UTC)
DAY = timedelta(days=1)


async def test_rotation_marks_the_old_row_and_keeps_the_family(session: AsyncSession) -> None:
    user = await SqlUserRepository(session).add(NewUser("rot@example.com", "rot", HASH))
    tokens = SqlRefreshTokenRepository(session)
    first = await sessions.start(tokens, user.id, NOW, DAY)
    user_id, second = await sessions.rotate(tokens, first.token, NOW)
    old = await tokens.lock(sessions.digest(first.token))
    new = await tokens.lock(sessions.digest(second.token))
    assert user_id == user.id
    assert old is not None
    assert new is not None
    assert old.rotated_at is not None
    assert new.rotated_at is None
    assert (new.family_id, new.expires_at) == (old.family_id, old.expires_at)


async def test_of_two_concurrent_rotations_one_wins_and_the_other_revokes_the_family(
    engine: AsyncEngine,
) -> None:
    made = async_sessionmaker(engine, expire_on_commit=False)
    async with SqlUnitOfWork(made) as uow:
        user = await uow.users.add(NewUser("race@example.com", "race_refresh", HASH))
        first = await sessions.start(uow.refresh_tokens, user.id, NOW, DAY)
        await uow.commit()

    async def rotate() -> sessions.IssuedRefreshToken:
        async with SqlUnitOfWork(made) as uow:
            try:
                _, issued = await sessions.rotate(uow.refresh_tokens, first.token, NOW)
            except RefreshTokenReusedError:
                await uow.commit()
                raise
            await asyncio.sleep(0.2)  # hold the row lock while the other waits for it
            await uow.commit()
            return issued

    outcomes = await asyncio.gather(rotate(), rotate(), return_exceptions=True)
    winners = [o for o in outcomes if isinstance(o, sessions.IssuedRefreshToken)]
    assert len(winners) == 1
    assert sum(isinstance(o, RefreshTokenReusedError) for o in outcomes) == 1
    async with SqlUnitOfWork(made) as uow:
        with pytest.raises(RefreshTokenRevokedError):
            await sessions.rotate(uow.refresh_tokens, winners[0].token, NOW)
        await uow.users.delete(user.id)
        await uow.commit()
