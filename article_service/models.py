"""Domain dataclasses of the article service: what an article is, free of gRPC and SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

TITLE_MAX = 200
CONTENT_MIN = 10
DEFAULT_LIMIT = 100
MAX_LIMIT = 100


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


class UserEventKind(Enum):
    """What the auth service's account feed says happened to a user."""

    UNKNOWN = "unknown"  # a kind this version does not know: skipped, cursor still advances
    CREATED = "created"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class UserEvent:
    """One entry of the account feed; `seq` orders the feed and is our resume point."""

    seq: int
    kind: UserEventKind
    user_id: int
    username: str
    occurred_at: datetime
