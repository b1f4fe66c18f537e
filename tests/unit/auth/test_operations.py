"""The auth use cases against in-memory fakes: rules, same answers for bad logins, throttling."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from auth_service.errors import (
    BadCredentialsError,
    EmailTakenError,
    InvalidInputError,
    InvalidTokenError,
    TooManyAttemptsError,
    UsernameTakenError,
)
from auth_service.operations import AuthOperations
from auth_service.tokens import TokenCodec

from .conftest import Clock, FakeUnitOfWork

PASSWORD = "correct horse"


async def test_register_stores_a_bcrypt_hash_not_the_password(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    user = await ops.register(" alice@example.com ", "alice", PASSWORD)
    stored = uow.users.rows[user.id]
    assert (user.email, user.username) == ("alice@example.com", "alice")
    assert stored.password_hash.startswith("$2b$")
    assert PASSWORD not in stored.password_hash


async def test_register_rejects_invalid_input_before_touching_storage(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await ops.register("nope", "a", "short")
    assert [name for name, _ in caught.value.violations] == ["email", "username", "password"]
    assert uow.commits == 0


async def test_register_rejects_taken_email_and_username_regardless_of_case(
    ops: AuthOperations,
) -> None:
    await ops.register("bob@example.com", "bob", PASSWORD)
    with pytest.raises(EmailTakenError):
        await ops.register("BOB@example.com", "bobby", PASSWORD)
    with pytest.raises(UsernameTakenError):
        await ops.register("other@example.com", "BoB", PASSWORD)


async def test_login_accepts_username_or_email(ops: AuthOperations, codec: TokenCodec) -> None:
    user = await ops.register("carol@example.com", "carol", PASSWORD)
    for name in ("carol", "CAROL@example.com"):
        issued = await ops.login(name, PASSWORD)
        assert await codec.verify(issued.token) == user.id
        assert issued.expires_in == 30 * 60


async def test_login_answers_wrong_password_and_unknown_user_alike(ops: AuthOperations) -> None:
    await ops.register("dave@example.com", "dave", PASSWORD)
    with pytest.raises(BadCredentialsError) as wrong:
        await ops.login("dave", "wrong password")
    with pytest.raises(BadCredentialsError) as unknown:
        await ops.login("nobody", PASSWORD)
    assert str(wrong.value) == str(unknown.value) == "Incorrect username or password"


async def test_login_rejects_a_password_longer_than_bcrypt_accepts(ops: AuthOperations) -> None:
    await ops.register("erin@example.com", "erin", "x" * 72)
    with pytest.raises(BadCredentialsError):
        await ops.login("erin", "x" * 73)  # would match if it were silently truncated


async def test_login_locks_only_the_account_with_too_many_failures(
    ops: AuthOperations, clock: Clock
) -> None:
    await ops.register("frank@example.com", "frank", PASSWORD)
    await ops.register("grace@example.com", "grace", PASSWORD)
    for _ in range(3):
        with pytest.raises(BadCredentialsError):
            await ops.login("frank", "wrong password")
    with pytest.raises(TooManyAttemptsError):
        await ops.login("Frank", PASSWORD)
    assert await ops.login("grace", PASSWORD)
    clock.now += timedelta(minutes=15)
    assert await ops.login("frank", PASSWORD)


async def test_login_success_resets_the_failure_count(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    await ops.register("heidi@example.com", "heidi", PASSWORD)
    for _ in range(2):
        with pytest.raises(BadCredentialsError):
            await ops.login("heidi", "wrong password")
    await ops.login("heidi", PASSWORD)
    assert "heidi" not in uow.login_failures.rows


async def test_current_user_refuses_missing_or_orphaned_tokens(
    ops: AuthOperations, codec: TokenCodec
) -> None:
    with pytest.raises(InvalidTokenError):
        await ops.current_user(None)
    with pytest.raises(InvalidTokenError):
        await ops.current_user(codec.issue(999).token)


async def test_current_user_returns_the_token_owner(ops: AuthOperations) -> None:
    user = await ops.register("ivan@example.com", "ivan", PASSWORD)
    token = (await ops.login("ivan", PASSWORD)).token
    assert await ops.current_user(token) == user


async def test_batch_get_users_leaves_out_unknown_ids_and_caps_the_count(
    ops: AuthOperations,
) -> None:
    user = await ops.register("judy@example.com", "judy", PASSWORD)
    assert await ops.batch_get_users([user.id, 12345, user.id]) == [user]
    with pytest.raises(InvalidInputError):
        await ops.batch_get_users(list(range(101)))


async def test_a_repeated_registration_with_its_request_id_returns_the_account_once(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    key = str(uuid.uuid4())
    first = await ops.register("dave@example.com", "dave", PASSWORD, key)
    again = await ops.register("DAVE@example.com", "Dave", PASSWORD, key)
    assert again == first
    assert len(uow.users.rows) == 1
    assert [event.user_id for event in uow.user_events.rows] == [first.id]


async def test_a_request_id_reused_for_another_registration_is_refused(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    key = str(uuid.uuid4())
    await ops.register("erin@example.com", "erin", PASSWORD, key)
    with pytest.raises(InvalidInputError) as caught:
        await ops.register("frank@example.com", "frank", PASSWORD, key)
    assert caught.value.violations == (
        ("request_id", "was already used for a different registration"),
    )
    with pytest.raises(InvalidInputError) as caught:
        await ops.register("frank@example.com", "frank", PASSWORD, "not-a-uuid")
    assert [name for name, _ in caught.value.violations] == ["request_id"]
    assert len(uow.users.rows) == 1
