"""Account deletion and the account feed, with in-memory fakes."""

from __future__ import annotations

import pytest

from auth_service.errors import InvalidInputError, InvalidTokenError
from auth_service.models import UserEventKind
from auth_service.operations import AuthOperations

PASSWORD = "correct horse battery"


async def _first(ops: AuthOperations, after: int) -> list[tuple[int, UserEventKind, int]]:
    found = []
    async for event, head in ops.user_events(after):
        found.append((event.seq, event.kind, head))
        if event.seq == head:
            break
    return found


async def test_register_records_a_created_event_in_the_same_unit(ops, uow):
    user = await ops.register("a@example.com", "alice", PASSWORD)
    assert [(e.kind, e.user_id, e.username) for e in uow.user_events.rows] == [
        (UserEventKind.CREATED, user.id, "alice")
    ]


async def test_delete_current_user_removes_the_user_and_records_a_deleted_event(ops, uow, codec):
    user = await ops.register("a@example.com", "alice", PASSWORD)
    token = codec.issue(user.id).token
    await ops.delete_current_user(token)
    assert await uow.users.get(user.id) is None
    assert uow.user_events.rows[-1].kind is UserEventKind.DELETED
    assert uow.user_events.rows[-1].username == "alice"
    with pytest.raises(InvalidTokenError):
        await ops.current_user(token)
    with pytest.raises(InvalidTokenError):
        await ops.delete_current_user(token)
    assert len(uow.user_events.rows) == 2  # the refused second deletion recorded nothing


async def test_delete_current_user_without_a_token_is_refused(ops):
    with pytest.raises(InvalidTokenError):
        await ops.delete_current_user(None)


async def test_the_feed_sends_events_after_the_cursor_with_the_head(ops):
    await ops.register("a@example.com", "alice", PASSWORD)
    await ops.register("b@example.com", "bob", PASSWORD)
    assert await _first(ops, 0) == [(1, UserEventKind.CREATED, 2), (2, UserEventKind.CREATED, 2)]
    assert await _first(ops, 1) == [(2, UserEventKind.CREATED, 2)]


async def test_the_feed_ends_when_idle_says_so(ops):
    async def stop() -> bool:
        return False

    ops._idle = stop  # the server's draining signal
    assert [event async for event in ops.user_events(0)] == []


async def test_the_feed_refuses_a_negative_cursor(ops):
    with pytest.raises(InvalidInputError):
        await anext(ops.user_events(-1))
