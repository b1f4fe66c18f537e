"""The use cases of the article service: validation, visibility and authorship rules.

No gRPC and no SQL here: each operation gets a unit of work (its repositories and its
transaction) and the caller's user id (None for an anonymous reader).
"""

from __future__ import annotations

import abc
import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType

from article_service.errors import (
    ArticleNotFoundError,
    ConcurrentChangeError,
    InvalidInputError,
    NotAuthenticatedError,
    NotAuthorError,
)
from article_service.models import (
    CONTENT_MIN,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    TITLE_MAX,
    Article,
    ArticleChanges,
    NewArticle,
    Page,
    UserEvent,
    UserEventKind,
)


class ArticleRepository(abc.ABC):
    """Where articles live. Implementations never commit."""

    @abc.abstractmethod
    async def add(
        self, new: NewArticle, author_id: int, request_id: uuid.UUID | None = None
    ) -> Article:
        """Insert the article; with a request_id `author_id` already used, insert nothing
        and return the article that request created (atomically: one insert, at most one
        follow-up read)."""

    @abc.abstractmethod
    async def get(self, article_id: int) -> Article | None: ...

    @abc.abstractmethod
    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        """Published articles and `viewer`'s drafts, newest first (created_at, then id)."""

    @abc.abstractmethod
    async def update_own(
        self,
        article_id: int,
        author_id: int,
        changes: ArticleChanges,
        expected_version: int | None = None,
    ) -> Article | None:
        """Apply `changes` if `author_id` wrote the article and, when `expected_version` is
        given, it is still at that version, in one statement (which also increments the
        version); else None."""

    @abc.abstractmethod
    async def delete_own(self, article_id: int, author_id: int) -> bool:
        """Delete the article if `author_id` wrote it, in one statement; False otherwise."""

    @abc.abstractmethod
    async def delete_by_author(self, author_id: int) -> int:
        """Delete every article of `author_id`, drafts included; how many there were."""


class AccountRepository(abc.ABC):
    """What the service knows of users from the auth service's feed, and the feed cursor."""

    @abc.abstractmethod
    async def lock_user(self, user_id: int, *, exclusive: bool) -> None:
        """Until the transaction ends: shared by writers for the user, exclusive by deletion,
        so an article created during the deletion of its author cannot outlive it."""

    @abc.abstractmethod
    async def is_deleted(self, user_id: int) -> bool: ...

    @abc.abstractmethod
    async def record_deleted(self, user_id: int, seq: int, deleted_at: datetime) -> None:
        """Remember the deletion (a second record of the same user changes nothing)."""

    @abc.abstractmethod
    async def deleted_after(self, seq: int) -> list[tuple[int, int]]:
        """(user_id, seq) of deletions recorded with a greater seq, in seq order."""

    @abc.abstractmethod
    async def save_author(self, user_id: int, username: str) -> None: ...

    @abc.abstractmethod
    async def remove_author(self, user_id: int) -> None: ...

    @abc.abstractmethod
    async def cursor(self, name: str) -> int:
        """The seq of the last event consumer `name` applied (0 before the first)."""

    @abc.abstractmethod
    async def move_cursor(self, name: str, seq: int) -> None: ...


class UnitOfWork(abc.ABC):
    """One transaction: rolled back on exit unless `commit()` was called."""

    articles: ArticleRepository
    accounts: AccountRepository

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.rollback()

    def read_only(self) -> UnitOfWork:
        """A unit for an operation that only reads articles: it may run each statement on its
        own, without a transaction (one round trip, not three). By default, this unit."""
        return self

    def for_create(self) -> UnitOfWork:
        """A unit for `add_article` and its commit, which may do it in fewer round trips. By
        default, this unit."""
        return self

    async def add_article(
        self, author_id: int, new: NewArticle, request_id: uuid.UUID | None
    ) -> Article | None:
        """Take the author's lock (shared: against their deletion), then add the article
        unless the author was deleted (None). The lock comes first, so a deletion that
        committed while we waited for it is seen. By default the repositories' three steps."""
        await self.accounts.lock_user(author_id, exclusive=False)
        if await self.accounts.is_deleted(author_id):
            return None
        return await self.articles.add(new, author_id, request_id)

    @abc.abstractmethod
    async def commit(self) -> None: ...

    @abc.abstractmethod
    async def rollback(self) -> None: ...


# --- validation ---------------------------------------------------------------------


def _title_problem(title: str) -> str | None:
    if not title.strip():
        return "must not be blank"
    if len(title) > TITLE_MAX:
        return f"must be at most {TITLE_MAX} characters"
    return _nul_problem(title)


def _content_problem(content: str) -> str | None:
    if len(content) < CONTENT_MIN:
        return f"must be at least {CONTENT_MIN} characters"
    return _nul_problem(content)


def _nul_problem(text: str) -> str | None:
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
    return "must not contain NUL characters" if "\x00" in text else None


def _raise_if(problems: dict[str, str | None]) -> None:
    violations = [(name, why) for name, why in problems.items() if why is not None]
    if violations:
        raise InvalidInputError(violations)


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _request_id_problem(request_id: str) -> str | None:
    if request_id == "" or _UUID.fullmatch(request_id):
        return None
    return "must be a UUID (like 123e4567-e89b-12d3-a456-426614174000)"


def validate_new(new: NewArticle) -> None:
    _raise_if(
        {
            "title": _title_problem(new.title),
            "content": _content_problem(new.content),
            "request_id": _request_id_problem(new.request_id),
        }
    )


def version_of(etag: str, article_id: int) -> int:
    """The version an etag of article `article_id` names; -1 (matches no version) for an
    etag that is not one of this article's."""
    prefix, _, version = etag.partition(".")
    if prefix != str(article_id) or not version.isdigit() or len(version) > 18:
        return -1
    return int(version)


def validate_changes(changes: ArticleChanges) -> None:
    _raise_if(
        {
            "title": None if changes.title is None else _title_problem(changes.title),
            "content": None if changes.content is None else _content_problem(changes.content),
        }
    )


def page_of(skip: int, limit: int | None, page_token: str = "") -> Page:
    """Validate paging input; an unsent limit means the default (100)."""
    limit = DEFAULT_LIMIT if limit is None else limit
    after = decode_page_token(page_token) if page_token else None
    _raise_if(
        {
            "skip": "must be 0 or more" if skip < 0 else None,
            "limit": f"must be between 1 and {MAX_LIMIT}" if not 1 <= limit <= MAX_LIMIT else None,
            "page_token": (
                "is not a page token of this service" if page_token and after is None else None
            ),
        }
    )
    return Page(skip=skip, limit=limit, after=after)


# A page token names the last article of a page by its place in the listing order,
# (created_at, id): "v1.<microseconds since the epoch>.<id>", base64url without padding.
# Not signed: it is a position, not a permission; the listing's visibility rules still apply.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN = re.compile(r"v1\.(-?\d{1,18})\.(\d{1,10})")
_MAX_TOKEN = 64


def encode_page_token(created_at: datetime, article_id: int) -> str:
    """The token of the page that starts after the article (created_at, article_id)."""
    delta = created_at - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raw = f"v1.{micros}.{article_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_page_token(token: str) -> tuple[datetime, int] | None:
    """The (created_at, id) a token names; None for anything that is not one of ours."""
    if len(token) > _MAX_TOKEN or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    found = _TOKEN.fullmatch(raw)
    if found is None:
        return None
    micros, article_id = int(found.group(1)), int(found.group(2))
    if not 0 < article_id <= 2**31 - 1:
        return None
    try:
        return _EPOCH + timedelta(microseconds=micros), article_id
    except OverflowError:
        return None


# --- use cases ----------------------------------------------------------------------


async def create_article(uow: UnitOfWork, caller: int, new: NewArticle) -> Article:
    validate_new(new)
    request_id = uuid.UUID(new.request_id) if new.request_id else None
    async with uow.for_create() as unit:
        article = await unit.add_article(caller, new, request_id)
        if article is None:
            raise NotAuthenticatedError("deleted user")
        await unit.commit()
    return article


async def get_article(uow: UnitOfWork, caller: int | None, article_id: int) -> Article:
    """The article, if it exists for `caller` (someone else's draft does not)."""
    if article_id <= 0:
        raise ArticleNotFoundError
    async with uow.read_only() as reader:
        article = await reader.articles.get(article_id)
    if article is None or not article.visible_to(caller):
        raise ArticleNotFoundError
    return article


@dataclass(frozen=True, slots=True)
class Listing:
    articles: list[Article]
    # Where the next page starts; "" when this page is the last.
    next_page_token: str


async def list_page(
    uow: UnitOfWork, caller: int | None, skip: int, limit: int | None, page_token: str = ""
) -> Listing:
    """One page of what `caller` may see, newest first, and the token of the next page.

    One row more than asked is read, so the last page says so (no token) and a client never
    asks for an empty page after it.
    """
    page = page_of(skip, limit, page_token)
    peek = Page(skip=page.skip, limit=page.limit + 1, after=page.after)
    async with uow.read_only() as reader:
        found = await reader.articles.list_visible(caller, peek)
    if len(found) <= page.limit:
        return Listing(found, "")
    shown = found[: page.limit]
    last = shown[-1]
    return Listing(shown, encode_page_token(last.created_at, last.id))


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
        if event.kind is UserEventKind.CREATED:
            if not await uow.accounts.is_deleted(event.user_id):
                await uow.accounts.save_author(event.user_id, event.username)
        elif event.kind is UserEventKind.DELETED:
            await uow.accounts.lock_user(event.user_id, exclusive=True)
            await uow.articles.delete_by_author(event.user_id)
            await uow.accounts.record_deleted(event.user_id, event.seq, event.occurred_at)
            await uow.accounts.remove_author(event.user_id)
        await uow.accounts.move_cursor(consumer, event.seq)
        await uow.commit()
    return True


async def read_cursor(uow: UnitOfWork, consumer: str) -> int:
    async with uow:
        return await uow.accounts.cursor(consumer)


async def deleted_users_after(uow: UnitOfWork, seq: int) -> list[tuple[int, int]]:
    async with uow:
        return await uow.accounts.deleted_after(seq)
