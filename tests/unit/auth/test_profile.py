"""Changing the current user's username and email against in-memory fakes."""

from __future__ import annotations

import pytest

from auth_service.errors import (
    EmailTakenError,
    InvalidInputError,
    InvalidTokenError,
    UsernameTakenError,
)
from auth_service.models import UserEventKind
from auth_service.operations import AuthOperations

from .conftest import FakeUnitOfWork

PASSWORD = "correct horse"


async def _token(ops: AuthOperations, name: str) -> str:
    await ops.register(f"{name}@example.com", name, PASSWORD)
    return (await ops.login(name, PASSWORD)).token


def _kinds(uow: FakeUnitOfWork) -> list[tuple[UserEventKind, str]]:
    return [(event.kind, event.username) for event in uow.user_events.rows]


async def test_a_new_username_is_stored_and_recorded_in_the_feed(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    token = await _token(ops, "nina")
    user = await ops.update_current_user(token, " nora ", None)
    assert (user.username, user.email) == ("nora", "nina@example.com")
    assert _kinds(uow)[-1] == (UserEventKind.RENAMED, "nora")
    assert (await ops.current_user(token)).username == "nora"


async def test_an_email_change_alone_writes_no_event(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    token = await _token(ops, "nina")
    user = await ops.update_current_user(token, None, "NEW@example.com")
    assert user.email == "NEW@example.com"
    assert [kind for kind, _ in _kinds(uow)] == [UserEventKind.CREATED]


async def test_the_same_username_changes_nothing_but_a_new_spelling_is_a_rename(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    token = await _token(ops, "nina")
    await ops.update_current_user(token, "nina", None)
    await ops.update_current_user(token, None, None)
    assert len(uow.user_events.rows) == 1
    await ops.update_current_user(token, "Nina", None)
    assert _kinds(uow)[-1] == (UserEventKind.RENAMED, "Nina")


async def test_a_taken_username_or_email_is_refused_regardless_of_case(
    ops: AuthOperations, uow: FakeUnitOfWork
) -> None:
    await _token(ops, "olga")
    token = await _token(ops, "nina")
    with pytest.raises(UsernameTakenError):
        await ops.update_current_user(token, "OLGA", None)
    with pytest.raises(EmailTakenError):
        await ops.update_current_user(token, None, "Olga@example.com")
    assert [kind for kind, _ in _kinds(uow)] == [UserEventKind.CREATED] * 2


async def test_invalid_fields_are_named(ops: AuthOperations) -> None:
    token = await _token(ops, "nina")
    with pytest.raises(InvalidInputError) as caught:
        await ops.update_current_user(token, "x!", "not-an-email")
    assert [name for name, _ in caught.value.violations] == ["username", "email"]


async def test_a_bad_token_is_refused_before_the_input_is_read(ops: AuthOperations) -> None:
    with pytest.raises(InvalidTokenError):
        await ops.update_current_user(None, "x!", None)
    with pytest.raises(InvalidTokenError):
        await ops.update_current_user("garbage", "nora", None)
