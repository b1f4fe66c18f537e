"""The refresh-token repository: digests in, session rows out; it never commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.db.tables import refresh_tokens
from auth_service.sessions import NewRefreshToken, StoredRefreshToken

_t = refresh_tokens.c


class SqlRefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, new: NewRefreshToken) -> None:
        await self._session.execute(
            insert(refresh_tokens).values(
                user_id=new.user_id,
                family_id=new.family_id,
                token_hash=new.digest,
                created_at=new.created_at,
                expires_at=new.expires_at,
            )
        )

    async def lock(self, digest: bytes) -> StoredRefreshToken | None:
        """The row of `digest`, locked FOR UPDATE: of two rotations of one token, the second
        waits for the first to commit and then sees it rotated (the reuse case)."""
        statement = (
            select(_t.id, _t.user_id, _t.family_id, _t.expires_at, _t.rotated_at, _t.revoked_at)
            .where(_t.token_hash == digest)
            .with_for_update()
        )
        row = (await self._session.execute(statement)).first()
        if row is None:
            return None
        return StoredRefreshToken(
            row.id, row.user_id, row.family_id, row.expires_at, row.rotated_at, row.revoked_at
        )

    async def mark_rotated(self, token_id: int, now: datetime) -> None:
        await self._session.execute(
            update(refresh_tokens).where(_t.id == token_id).values(rotated_at=now)
        )

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        await self._session.execute(
            update(refresh_tokens)
            .where(_t.family_id == family_id, _t.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_user(self, user_id: int, now: datetime) -> None:
        await self._session.execute(
            update(refresh_tokens)
            .where(_t.user_id == user_id, _t.revoked_at.is_(None))
            .values(revoked_at=now)
        )
