"""The use cases of the article service: what each caller may see, create and change.

No gRPC and no SQL here: each operation gets its collaborators as parameters (a unit of
work, a reader of articles) and the caller's user id (None for an anonymous reader). The
ports below are Protocols: anything with these methods serves. The listing use case
(ListArticles, with its filters) is in listing.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from article_service.errors import (
    ArticleNotFoundError,
    ConcurrentChangeError,
    NotAuthenticatedError,
    NotAuthorError,
)
from article_service.models import (
    Article,
    ArticleChanges,
    NewArticle,
    Page,
    Selection,
    UserEvent,
    UserEventKind,
    validate_changes,
    validate_new,
    version_of,
)


class ArticleReader(Protocol):
    """The read side: each read on its own, outside any unit of work."""

    async def get(self, article_id: int) -> Article | None: ...

    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        """Published articles and `viewer`'s drafts, newest first (created_at, then id)."""

    async def list_selected(
        self, viewer: int | None, selection: Selection, page: Page
    ) -> list[Article]:
        """What list_visible would show, narrowed to `selection` (see Selection), in the
        same order."""

    async def author_named(self, username: str) -> int | None:
        """The user id of the author with this username (case-insensitive), as the account
        feed last told; None for a name it has not told."""


class ArticleCreator(Protocol):
    """Where new articles go. Implementations never commit."""

    async def add_unless_author_deleted(
        self, author_id: int, new: NewArticle, request_id: uuid.UUID | None
    ) -> Article | None:
        """The new article, or None (and nothing written) when its author has been deleted.
        With a request_id `author_id` already used, the article that request created."""


class ArticleRepository(Protocol):
    """The articles a unit of work changes. Implementations never commit."""

    async def get(self, article_id: int) -> Article | None: ...

    async def update_own(
        self, article_id: int, author_id: int, changes: ArticleChanges, version: int | None = None
    ) -> Article | None:
        """Apply `changes` if `author_id` wrote the article and, when `version` is
        given, it is still at that version, in one statement (which also increments the
        version); else None."""

    async def delete_own(self, article_id: int, author_id: int) -> bool:
        """Delete the article if `author_id` wrote it, in one statement; False otherwise."""

    async def delete_by_author(self, author_id: int) -> int:
        """Delete every article of `author_id`, drafts included; how many there were."""


class AccountRepository(Protocol):
    """What the service knows of users from the auth service's feed, and the feed cursor."""

    async def lock_for_deletion(self, user_id: int) -> None:
        """Hold the user's lock, exclusive, until the transaction ends: no article of theirs
        is created while they are deleted (see ArticleCreator)."""

    async def is_deleted(self, user_id: int) -> bool: ...

    async def record_deleted(self, user_id: int, seq: int, deleted_at: datetime) -> None:
        """Remember the deletion (a second record of the same user changes nothing)."""

    async def deleted_after(self, seq: int) -> list[tuple[int, int]]:
        """(user_id, seq) of deletions recorded with a greater seq, in seq order."""

    async def save_author(self, user_id: int, username: str) -> None: ...

    async def raise_token_epoch(self, user_id: int, epoch: int, seq: int) -> None:
        """The user's tokens of a lower epoch are refused from now on (it never lowers)."""

    async def token_epochs_after(self, seq: int) -> list[tuple[int, int, int]]:
        """(user_id, epoch, seq) of epochs raised with a greater seq, in seq order."""

    async def remove_author(self, user_id: int) -> None: ...

    async def cursor(self, name: str) -> int:
        """The seq of the last event consumer `name` applied (0 before the first)."""

    async def move_cursor(self, name: str, seq: int) -> None: ...


class Transaction(Protocol):
    """One transaction: rolled back on exit unless `commit()` was called."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class UnitOfWork(Transaction, Protocol):
    """The repositories of one transaction."""

    @property
    def articles(self) -> ArticleRepository: ...

    @property
    def accounts(self) -> AccountRepository: ...


class CreateUnit(Transaction, Protocol):
    """A transaction that only creates an article (CreateArticle's own, lean path)."""

    @property
    def articles(self) -> ArticleCreator: ...


# --- use cases ----------------------------------------------------------------------


async def create_article(unit: CreateUnit, caller: int, new: NewArticle) -> Article:
    validate_new(new)
    request_id = uuid.UUID(new.request_id) if new.request_id else None
    async with unit:
        article = await unit.articles.add_unless_author_deleted(caller, new, request_id)
        if article is None:
            raise NotAuthenticatedError("deleted user")
        await unit.commit()
    return article


async def get_article(reader: ArticleReader, caller: int | None, article_id: int) -> Article:
    """The article, if it exists for `caller` (someone else's draft does not)."""
    if article_id <= 0:
        raise ArticleNotFoundError
    article = await reader.get(article_id)
    if article is None or not article.visible_to(caller):
        raise ArticleNotFoundError
    return article


async def update_article(
    uow: UnitOfWork,
    caller: int,
    article_id: int,
    changes: ArticleChanges,
    etag: str | None = None,
) -> Article:
    """Change the sent fields; an empty update returns the article unchanged.

    With an `etag`, only the version it names may change (ABORTED otherwise). The author
    check, the etag check and the write are one statement; only when it touches no row
    does a second read tell NOT_FOUND (missing, or another's draft), PERMISSION_DENIED
    and ABORTED apart.
    """
    validate_changes(changes)
    expected = None if etag is None else version_of(etag, article_id)
    async with uow:
        if changes.is_empty():
            found = await uow.articles.get(article_id) if article_id > 0 else None
            updated = (
                found
                if found is not None
                and found.author_id == caller
                and (expected is None or found.version == expected)
                else None
            )
        else:
            updated = await uow.articles.update_own(article_id, caller, changes, expected)
        if updated is None:
            await _explain_refusal(uow, caller, article_id)
            raise ConcurrentChangeError
        await uow.commit()
    return updated


async def delete_article(uow: UnitOfWork, caller: int, article_id: int) -> None:
    async with uow:
        if not await uow.articles.delete_own(article_id, caller):
            await _explain_refusal(uow, caller, article_id)
            raise ArticleNotFoundError  # the author's own article vanished meanwhile
        await uow.commit()


async def _explain_refusal(uow: UnitOfWork, caller: int, article_id: int) -> None:
    """Raise NOT_FOUND or PERMISSION_DENIED if either explains why nothing was written;
    return when the caller is the author (the article changed under their etag)."""
    article = await uow.articles.get(article_id) if article_id > 0 else None
    if article is None or not article.visible_to(caller):
        raise ArticleNotFoundError
    if article.author_id != caller:
        raise NotAuthorError


# --- the auth service's account feed ------------------------------------------------


async def apply_user_event(uow: UnitOfWork, consumer: str, event: UserEvent) -> bool:
    """Apply one feed event and move `consumer`'s cursor past it, in one transaction.

    False (and no change) for an event at or before the cursor. Each effect is idempotent as
    well, so replaying the feed from an older cursor ends in the same state.
    """
    async with uow:
        if event.seq <= await uow.accounts.cursor(consumer):
            return False
        if event.kind in (UserEventKind.CREATED, UserEventKind.RENAMED):
            # The author row takes the event's name: replayed in seq order, the last wins.
            if not await uow.accounts.is_deleted(event.user_id):
                await uow.accounts.save_author(event.user_id, event.username)
        elif event.kind is UserEventKind.DELETED:
            await uow.accounts.lock_for_deletion(event.user_id)
            await uow.articles.delete_by_author(event.user_id)
            await uow.accounts.record_deleted(event.user_id, event.seq, event.occurred_at)
            await uow.accounts.remove_author(event.user_id)
        elif event.kind is UserEventKind.TOKENS_REVOKED:
            await uow.accounts.raise_token_epoch(event.user_id, event.token_epoch, event.seq)
        await uow.accounts.move_cursor(consumer, event.seq)
        await uow.commit()
    return True


async def read_cursor(uow: UnitOfWork, consumer: str) -> int:
    async with uow:
        return await uow.accounts.cursor(consumer)


async def deleted_users_after(uow: UnitOfWork, seq: int) -> list[tuple[int, int]]:
    async with uow:
        return await uow.accounts.deleted_after(seq)


async def token_epochs_after(uow: UnitOfWork, seq: int) -> list[tuple[int, int, int]]:
    async with uow:
        return await uow.accounts.token_epochs_after(seq)
