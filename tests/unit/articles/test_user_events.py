"""Applying the auth service's account feed, with in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from article_service import operations
from article_service.deleted_users import DeletedUsers
from article_service.errors import NotAuthenticatedError
from article_service.models import NewArticle, UserEvent, UserEventKind

from .fakes import FakeUnitOfWork

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NAME = "test"


def _event(seq: int, kind: UserEventKind, user_id: int = 7) -> UserEvent:
    return UserEvent(seq, kind, user_id, "carol", T0)


async def test_created_saves_the_author_and_moves_the_cursor():
    uow = FakeUnitOfWork()
    assert await operations.apply_user_event(uow, NAME, _event(1, UserEventKind.CREATED))
    assert uow.accounts.authors == {7: "carol"}
    assert uow.accounts.cursors[NAME] == 1
    assert uow.committed


async def test_deleted_removes_articles_drafts_included_and_remembers_the_user():
    uow = FakeUnitOfWork()
    for published in (True, False):
        await uow.articles.add_unless_author_deleted(7, NewArticle("t", "Some content", published))
    await uow.articles.add_unless_author_deleted(8, NewArticle("t", "Some content", True))
    await operations.apply_user_event(uow, NAME, _event(1, UserEventKind.CREATED))
    await operations.apply_user_event(uow, NAME, _event(2, UserEventKind.DELETED))
    assert [a.author_id for a in uow.articles.rows.values()] == [8]
    assert uow.accounts.authors == {}
    assert await uow.accounts.is_deleted(7)
    assert 7 in uow.accounts.locked_for_deletion


async def test_an_event_at_or_before_the_cursor_is_skipped():
    uow = FakeUnitOfWork()
    await operations.apply_user_event(uow, NAME, _event(5, UserEventKind.CREATED))
    uow.committed = False
    assert not await operations.apply_user_event(uow, NAME, _event(5, UserEventKind.DELETED))
    assert not uow.committed
    assert uow.accounts.authors == {7: "carol"}


async def test_a_replayed_created_does_not_bring_a_deleted_author_back():
    uow = FakeUnitOfWork()
    await operations.apply_user_event(uow, NAME, _event(1, UserEventKind.CREATED))
    await operations.apply_user_event(uow, NAME, _event(2, UserEventKind.DELETED))
    uow.accounts.cursors[NAME] = 0  # replay from the start
    await operations.apply_user_event(uow, NAME, _event(1, UserEventKind.CREATED))
    await operations.apply_user_event(uow, NAME, _event(2, UserEventKind.DELETED))
    assert uow.accounts.authors == {}
    assert await uow.accounts.deleted_after(0) == [(7, 2)]


async def test_an_unknown_kind_only_moves_the_cursor():
    uow = FakeUnitOfWork()
    assert await operations.apply_user_event(uow, NAME, _event(3, UserEventKind.UNKNOWN))
    assert uow.accounts.cursors[NAME] == 3
    assert uow.accounts.authors == {}


async def test_a_deleted_user_cannot_create_an_article():
    uow = FakeUnitOfWork()
    await operations.apply_user_event(uow, NAME, _event(1, UserEventKind.DELETED))
    with pytest.raises(NotAuthenticatedError):
        await operations.create_article(uow, 7, NewArticle("t", "Some content"))
    assert await uow.articles.get(1) is None


async def test_deleted_users_learn_new_deletions_on_refresh():
    uow = FakeUnitOfWork()
    deleted = DeletedUsers(lambda seq: operations.deleted_users_after(uow, seq), interval=1)
    await deleted.refresh()
    assert 7 not in deleted
    await operations.apply_user_event(uow, NAME, _event(4, UserEventKind.DELETED))
    await deleted.refresh()
    assert 7 in deleted
    assert len(deleted) == 1
