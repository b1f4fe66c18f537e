"""Changing the password against in-memory fakes: the token epoch, sessions, the throttle."""

from __future__ import annotations

import pytest

from auth_service.errors import (
    InvalidInputError,
    InvalidTokenError,
    RefreshTokenRevokedError,
    TooManyAttemptsError,
    WrongPasswordError,
)
from auth_service.models import UserEventKind
from auth_service.operations import AuthOperations
from auth_service.tokens import TokenCodec

from .conftest import Clock, FakeUnitOfWork

PASSWORD = "correct horse"
NEW = "battery staple"


async def _login(ops: AuthOperations, name: str = "pia") -> tuple[str, str]:
    await ops.register(f"{name}@example.com", name, PASSWORD)
    issued = await ops.login(name, PASSWORD)
    return issued.token, issued.refresh_token


async def test_a_change_refuses_every_earlier_token_and_answers_a_valid_new_pair(
    ops: AuthOperations, clock: Clock, codec: TokenCodec
) -> None:
    old, old_refresh = await _login(ops)
    changed = await ops.change_password(old, PASSWORD, NEW)
    assert changed.valid_after == clock.now
    assert (await codec.subject(changed.token.token)).epoch == 1
    for call in (
        ops.current_user(old),
        ops.update_current_user(old, "other", None),
        ops.change_password(old, NEW, "yet another one"),
        ops.delete_current_user(old),
    ):
        with pytest.raises(InvalidTokenError):
            await call
    assert (await ops.current_user(changed.token.token)).username == "pia"
    with pytest.raises(RefreshTokenRevokedError):
        await ops.refresh(old_refresh)
    renewed = await ops.refresh(changed.token.refresh_token)
    assert (await codec.subject(renewed.token)).epoch == 1


async def test_the_new_password_logs_in_and_the_old_one_no_longer_does(
    ops: AuthOperations, codec: TokenCodec
) -> None:
    token, _ = await _login(ops)
    await ops.change_password(token, PASSWORD, NEW)
    fresh = await ops.login("pia", NEW)
    assert (await codec.subject(fresh.token)).epoch == 1
    assert await ops.current_user(fresh.token)


async def test_the_change_is_recorded_in_the_feed_with_the_new_epoch(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    token, _ = await _login(ops)
    await ops.change_password(token, PASSWORD, NEW)
    event = uow.user_events.rows[-1]
    assert (event.kind, event.token_epoch) == (UserEventKind.TOKENS_REVOKED, 1)


async def test_a_wrong_current_password_counts_as_a_failed_login(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    token, _ = await _login(ops)
    for _ in range(3):  # the fixture's policy: 3 failures lock the name
        with pytest.raises(WrongPasswordError):
            await ops.change_password(token, "wrong password", NEW)
    with pytest.raises(TooManyAttemptsError):
        await ops.change_password(token, PASSWORD, NEW)
    with pytest.raises(TooManyAttemptsError):
        await ops.login("pia", PASSWORD)
    assert uow.users.rows[1].user.token_epoch == 0


async def test_invalid_input_is_named(ops: AuthOperations) -> None:
    token, _ = await _login(ops)
    with pytest.raises(InvalidInputError) as caught:
        await ops.change_password(token, "", "short")
    assert [name for name, _ in caught.value.violations] == ["current_password", "new_password"]
