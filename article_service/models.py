"""Domain dataclasses of the article service, what an article is, and the validation of what
a caller sends; free of gRPC and SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from article_service.errors import InvalidInputError
from article_service.page_tokens import decode_page_token, filters_fingerprint

TITLE_MAX = 200
CONTENT_MIN = 10
DEFAULT_LIMIT = 100
MAX_LIMIT = 100
# A search is a few words; the bound keeps hostile text (thousands of terms) off the database.
Q_MAX = 200
# The auth service's username rule: anything else cannot name an author.
USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,50}")


@dataclass(frozen=True, slots=True)
class Article:
    id: int
    title: str
    content: str
    published: bool
    author_id: int
    created_at: datetime
    updated_at: datetime
    # From the auth service's account feed; "" until its "created" event has been applied.
    author_username: str = ""
    # Incremented by every update; the etag is made from it.
    version: int = 1

    @property
    def etag(self) -> str:
        """Opaque to clients; changes whenever the article changes."""
        return f"{self.id}.{self.version}"

    def visible_to(self, viewer: int | None) -> bool:
        """A draft exists only for its author; published articles for everyone."""
        return self.published or (viewer is not None and viewer == self.author_id)


@dataclass(frozen=True, slots=True)
class NewArticle:
    title: str
    content: str
    published: bool = False
    # Client-chosen UUID making the create safe to retry; "" when not sent.
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class ArticleChanges:
    """A partial update: None means "not sent, leave as it is"."""

    title: str | None = None
    content: str | None = None
    published: bool | None = None

    def is_empty(self) -> bool:
        return self.title is None and self.content is None and self.published is None


@dataclass(frozen=True, slots=True)
class Page:
    skip: int = 0
    limit: int = DEFAULT_LIMIT
    # Keyset position: only articles listed after the one with this (created_at, id).
    after: tuple[datetime, int] | None = None


@dataclass(frozen=True, slots=True)
class ListFilter:
    """What a caller narrowed a listing to, as sent; the default narrows nothing."""

    author_id: int | None = None
    author: str = ""  # a username; "" for none
    drafts: bool = False
    q: str = ""  # full-text search; "" for none

    def is_empty(self) -> bool:
        return self.author_id is None and not self.author and not self.drafts and not self.q

    def fingerprint(self) -> str:
        """What a page token of this listing carries (see page_tokens)."""
        return filters_fingerprint(self.author_id, self.author, self.drafts, self.q)


NO_FILTER = ListFilter()


@dataclass(frozen=True, slots=True)
class Selection:
    """The articles a filtered listing shows, its filters resolved and allowed: published
    ones (and the viewer's drafts, as in the plain listing) unless narrowed here."""

    author_id: int | None = None  # only this author's, published ones only unless `drafts`
    drafts: bool = False  # drafts too; set only when author_id is the caller
    q: str = ""  # only those this search finds; "" for no search


class UserEventKind(Enum):
    """What the auth service's account feed says happened to a user."""

    UNKNOWN = "unknown"  # a kind this version does not know: skipped, cursor still advances
    CREATED = "created"
    DELETED = "deleted"
    RENAMED = "renamed"
    TOKENS_REVOKED = "tokens_revoked"  # a password change: tokens below the epoch refused


@dataclass(frozen=True, slots=True)
class UserEvent:
    """One entry of the account feed; `seq` orders the feed and is our resume point."""

    seq: int
    kind: UserEventKind
    user_id: int
    username: str
    occurred_at: datetime
    token_epoch: int = 0  # the user's token epoch after the event


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


def page_of(
    skip: int, limit: int | None, page_token: str = "", wanted: ListFilter = NO_FILTER
) -> Page:
    """Validate paging input and filters; an unsent limit means the default (100)."""
    limit = DEFAULT_LIMIT if limit is None else limit
    position = decode_page_token(page_token) if page_token else None
    problems = {
        "skip": "must be 0 or more" if skip < 0 else None,
        "limit": f"must be between 1 and {MAX_LIMIT}" if not 1 <= limit <= MAX_LIMIT else None,
        "page_token": (
            "is not a page token of this service" if page_token and position is None else None
        ),
    }
    if not wanted.is_empty():
        problems.update(_filter_problems(wanted))
    if position is not None and position.filters != (
        "" if wanted.is_empty() else wanted.fingerprint()
    ):
        problems["page_token"] = _OTHER_FILTERS
    _raise_if(problems)
    after = None if position is None else (position.created_at, position.article_id)
    return Page(skip=skip, limit=limit, after=after)


_OTHER_FILTERS = "was made for other filters (author_id, author, drafts, q)"


def _q_problem(q: str) -> str | None:
    return f"must be at most {Q_MAX} characters" if len(q) > Q_MAX else _nul_problem(q)


def _filter_problems(wanted: ListFilter) -> dict[str, str | None]:
    author = None
    if wanted.author and wanted.author_id is not None:
        author = "send author or author_id, not both"
    elif wanted.author and not USERNAME.fullmatch(wanted.author):
        author = "is not a username (3-50 of letters, digits, _ . -)"
    return {
        "author_id": (
            "must be 1 or more" if wanted.author_id is not None and wanted.author_id < 1 else None
        ),
        "author": author,
        "q": _q_problem(wanted.q),
    }
