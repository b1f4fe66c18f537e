"""Refresh tokens against in-memory fakes: rotation, reuse revoking the family, logout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auth_service import sessions
from auth_service.errors import (
    RefreshTokenExpiredError,
    RefreshTokenInvalidError,
    RefreshTokenReusedError,
    RefreshTokenRevokedError,
)
from auth_service.operations import AuthOperations
from auth_service.tokens import TokenCodec

from .conftest import Clock, FakeUnitOfWork

PASSWORD = "correct horse"


async def _login(ops: AuthOperations, name: str = "rita") -> str:
    await ops.register(f"{name}@example.com", name, PASSWORD)
    return (await ops.login(name, PASSWORD)).refresh_token


async def test_login_returns_a_refresh_token_of_which_only_a_digest_is_stored(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    await ops.register("rita@example.com", "rita", PASSWORD)
    issued = await ops.login("rita", PASSWORD)
    assert len(issued.refresh_token) >= 43  # 32 random bytes, base64url
    assert issued.refresh_expires_in == 30 * 24 * 3600
    assert list(uow.refresh_tokens.rows) == [sessions.digest(issued.refresh_token)]


async def test_refresh_rotates_the_token_and_issues_an_access_token(
    ops: AuthOperations, codec: TokenCodec
) -> None:
    first = await _login(ops)
    renewed = await ops.refresh(first)
    assert renewed.refresh_token not in ("", first)
    assert await codec.verify(renewed.token) == 1
    assert (await ops.refresh(renewed.refresh_token)).refresh_token


async def test_reusing_a_rotated_token_revokes_the_whole_family(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    first = await _login(ops)
    second = (await ops.refresh(first)).refresh_token
    with pytest.raises(RefreshTokenReusedError):
        await ops.refresh(first)
    assert all(row.revoked_at for row in uow.refresh_tokens.rows.values())  # it was committed
    with pytest.raises(RefreshTokenRevokedError):
        await ops.refresh(second)


async def test_rotation_keeps_the_sessions_absolute_expiry(
    ops: AuthOperations, clock: Clock
) -> None:
    token = await _login(ops)
    clock.now += timedelta(days=29)
    renewed = await ops.refresh(token)
    assert renewed.refresh_expires_in == 24 * 3600  # not 30 days again
    clock.now += timedelta(days=1)
    with pytest.raises(RefreshTokenExpiredError):
        await ops.refresh(renewed.refresh_token)


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 1000, "\ud800"])
async def test_refresh_refuses_unknown_tokens(ops: AuthOperations, token: str) -> None:
    await _login(ops)
    with pytest.raises(RefreshTokenInvalidError):
        await ops.refresh(token)


async def test_logout_revokes_the_session_and_may_be_repeated(ops: AuthOperations) -> None:
    token = await _login(ops)
    renewed = (await ops.refresh(token)).refresh_token
    await ops.logout(renewed)
    await ops.logout(renewed)
    with pytest.raises(RefreshTokenRevokedError):
        await ops.refresh(renewed)
    with pytest.raises(RefreshTokenInvalidError):
        await ops.logout("never-issued")


async def test_logout_leaves_other_sessions_of_the_user_alone(ops: AuthOperations) -> None:
    phone = await _login(ops)
    laptop = (await ops.login("rita", PASSWORD)).refresh_token
    await ops.logout(phone)
    assert (await ops.refresh(laptop)).refresh_token


async def test_deleting_the_account_revokes_its_sessions(
    ops: AuthOperations, codec: TokenCodec
) -> None:
    await ops.register("rita@example.com", "rita", PASSWORD)
    issued = await ops.login("rita", PASSWORD)
    await ops.delete_current_user(issued.token)
    with pytest.raises(RefreshTokenRevokedError):
        await ops.refresh(issued.refresh_token)
