"""The outbox repository and user deletion on real PostgreSQL."""

from __future__ import annotations

from auth_service.db.repository import SqlUserEventRepository, SqlUserRepository
from auth_service.models import NewUser, UserEventKind


async def test_events_are_appended_in_order_and_read_after_a_cursor(session):
    users, events = SqlUserRepository(session), SqlUserEventRepository(session)
    user = await users.add(NewUser("outbox@example.com", "outbox_user", "hash"))
    start = await events.head()
    await events.append(UserEventKind.CREATED, user)
    deleted = await users.delete(user.id)
    assert deleted == user
    assert await users.delete(user.id) is None
    await events.append(UserEventKind.DELETED, user)
    found = await events.after(start, 10)
    assert [(e.kind, e.user_id, e.username) for e in found] == [
        (UserEventKind.CREATED, user.id, "outbox_user"),
        (UserEventKind.DELETED, user.id, "outbox_user"),
    ]
    assert found[0].seq < found[1].seq == await events.head()
    assert await events.after(found[0].seq, 1) == [found[1]]
