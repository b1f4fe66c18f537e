"""Refresh tokens and the sessions they carry: the rules of rotation, reuse and logout.

A login starts a session (a *family* of refresh tokens). Each refresh token is single-use:
RefreshToken marks it rotated and hands out the next one of the same family, which keeps the
family's absolute expiry (rotation never extends a session). A rotated token sent again
means two parties hold the session, and we cannot tell the user from the thief, so the
whole family is revoked (the OAuth 2.0 Security BCP's refresh-token rotation, RFC 6819
section 5.2.2.3). Only SHA-256 digests are stored: the tokens are 32 random bytes, so a
fast hash is enough (there is no password to guess).

No gRPC and no SQL here: the repository comes in as a protocol.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from auth_service.errors import (
    RefreshTokenExpiredError,
    RefreshTokenInvalidError,
    RefreshTokenReusedError,
    RefreshTokenRevokedError,
)

SECRET_BYTES = 32
# Longer input cannot be one of ours: refused before hashing.
MAX_TOKEN_CHARS = 128


@dataclass(frozen=True)
class StoredRefreshToken:
    """A refresh token's row, without the token itself (only its digest is kept)."""

    id: int
    user_id: int
    family_id: uuid.UUID
    expires_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewRefreshToken:
    user_id: int
    family_id: uuid.UUID
    digest: bytes
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str  # given to the client once; never stored
    expires_at: datetime


class RefreshTokenRepository(Protocol):
    async def add(self, new: NewRefreshToken) -> None: ...
    # The row of a digest, locked until the transaction ends (two rotations queue up).
    async def lock(self, digest: bytes) -> StoredRefreshToken | None: ...
    async def mark_rotated(self, token_id: int, now: datetime) -> None: ...
    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None: ...
    async def revoke_user(self, user_id: int, now: datetime) -> None: ...


def digest(token: str) -> bytes:
    # surrogatepass: any str hashes (a lone surrogate just matches nothing) instead of raising.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


async def start(
    tokens: RefreshTokenRepository, user_id: int, now: datetime, lifetime: timedelta
) -> IssuedRefreshToken:
    """A new session for the user: the first refresh token of a new family."""
    return await _issue(tokens, user_id, uuid.uuid4(), now, now + lifetime)


async def rotate(
    tokens: RefreshTokenRepository, token: str, now: datetime
) -> tuple[int, IssuedRefreshToken]:
    """Exchange `token` for the next of its family: (user id, new token).

    A token already rotated revokes its family and raises RefreshTokenReusedError: the
    caller commits before answering, so the revocation stands."""
    stored = await _locked(tokens, token)
    if stored.revoked_at is not None:
        raise RefreshTokenRevokedError
    if stored.rotated_at is not None:
        await tokens.revoke_family(stored.family_id, now)
        raise RefreshTokenReusedError
    if stored.expires_at <= now:
        raise RefreshTokenExpiredError
    await tokens.mark_rotated(stored.id, now)
    issued = await _issue(tokens, stored.user_id, stored.family_id, now, stored.expires_at)
    return stored.user_id, issued


async def end(tokens: RefreshTokenRepository, token: str, now: datetime) -> None:
    """Logout: revoke the token's whole family. Again on a revoked one changes nothing."""
    stored = await _locked(tokens, token)
    await tokens.revoke_family(stored.family_id, now)


async def _locked(tokens: RefreshTokenRepository, token: str) -> StoredRefreshToken:
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise RefreshTokenInvalidError
    stored = await tokens.lock(digest(token))
    if stored is None:
        raise RefreshTokenInvalidError
    return stored


async def _issue(
    tokens: RefreshTokenRepository,
    user_id: int,
    family_id: uuid.UUID,
    now: datetime,
    expires_at: datetime,
) -> IssuedRefreshToken:
    token = secrets.token_urlsafe(SECRET_BYTES)
    await tokens.add(NewRefreshToken(user_id, family_id, digest(token), now, expires_at))
    return IssuedRefreshToken(token, expires_at)
