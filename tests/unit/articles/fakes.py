"""In-memory fakes of the article service's ports: repositories, reader and unit of work."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from types import TracebackType

from article_service.models import Article, ArticleChanges, NewArticle, Page, Selection
from article_service.operations import (
    AccountRepository,
    ArticleCreator,
    ArticleReader,
    ArticleRepository,
)


class FakeArticleRepository(ArticleRepository, ArticleCreator, ArticleReader):
    """Every article port at once, over one dict; `deleted` is the accounts' deleted users."""

    def __init__(
        self,
        deleted: dict[int, tuple[int, datetime]] | None = None,
        authors: dict[int, str] | None = None,
    ) -> None:
        self.deleted = {} if deleted is None else deleted
        self.authors = {} if authors is None else authors  # the account feed's usernames
        self.rows: dict[int, Article] = {}
        self.request_ids: dict[tuple[int, uuid.UUID], int] = {}
        self._next_id = 0
        self._clock = datetime(2024, 1, 1, tzinfo=UTC)

    def _now(self) -> datetime:
        self._clock += timedelta(seconds=1)
        return self._clock

    async def add_unless_author_deleted(
        self, author_id: int, new: NewArticle, request_id: uuid.UUID | None = None
    ) -> Article | None:
        if author_id in self.deleted:
            return None
        if request_id is not None and (author_id, request_id) in self.request_ids:
            return self.rows[self.request_ids[author_id, request_id]]
        now = self._now()
        self._next_id += 1
        article = Article(self._next_id, new.title, new.content, new.published, author_id, now, now)
        self.rows[article.id] = article
        if request_id is not None:
            self.request_ids[author_id, request_id] = article.id
        return article

    async def get(self, article_id: int) -> Article | None:
        return self.rows.get(article_id)

    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        visible = [a for a in self.rows.values() if a.visible_to(viewer)]
        visible.sort(key=lambda a: (a.created_at, a.id), reverse=True)
        if page.after is not None:
            visible = [a for a in visible if (a.created_at, a.id) < page.after]
        return visible[page.skip : page.skip + page.limit]

    async def list_selected(
        self, viewer: int | None, selection: Selection, page: Page
    ) -> list[Article]:
        def shown(article: Article) -> bool:
            if selection.author_id is None:
                return article.visible_to(viewer)
            whose = article.author_id == selection.author_id
            return whose and (article.published or selection.drafts)

        def found(article: Article) -> bool:
            # A stand-in for PostgreSQL's search: every word of q, as a whole word.
            words = set(f"{article.title} {article.content}".lower().split())
            return not selection.q or set(selection.q.lower().split()) <= words

        rows = [a for a in self.rows.values() if shown(a) and found(a)]
        rows.sort(key=lambda a: (a.created_at, a.id), reverse=True)
        if page.after is not None:
            rows = [a for a in rows if (a.created_at, a.id) < page.after]
        return rows[page.skip : page.skip + page.limit]

    async def author_named(self, username: str) -> int | None:
        named = [i for i, name in self.authors.items() if name.lower() == username.lower()]
        return min(named, default=None)

    async def update_own(
        self, article_id: int, author_id: int, changes: ArticleChanges, version: int | None = None
    ) -> Article | None:
        found = self.rows.get(article_id)
        if found is None or found.author_id != author_id:
            return None
        if version is not None and found.version != version:
            return None
        sent = {k: v for k, v in dataclasses.asdict(changes).items() if v is not None}
        updated = dataclasses.replace(
            found, **sent, updated_at=self._now(), version=found.version + 1
        )
        self.rows[article_id] = updated
        return updated

    async def delete_own(self, article_id: int, author_id: int) -> bool:
        found = self.rows.get(article_id)
        if found is None or found.author_id != author_id:
            return False
        del self.rows[article_id]
        return True

    async def delete_by_author(self, author_id: int) -> int:
        doomed = [i for i, a in self.rows.items() if a.author_id == author_id]
        for article_id in doomed:
            del self.rows[article_id]
        return len(doomed)


class FakeAccountRepository(AccountRepository):
    def __init__(self) -> None:
        self.authors: dict[int, str] = {}
        self.deleted: dict[int, tuple[int, datetime]] = {}
        self.cursors: dict[str, int] = {}
        self.locked_for_deletion: list[int] = []
        self.epochs: dict[int, tuple[int, int]] = {}  # user id -> (epoch, seq)

    async def lock_for_deletion(self, user_id: int) -> None:
        self.locked_for_deletion.append(user_id)

    async def is_deleted(self, user_id: int) -> bool:
        return user_id in self.deleted

    async def record_deleted(self, user_id: int, seq: int, deleted_at: datetime) -> None:
        self.deleted.setdefault(user_id, (seq, deleted_at))

    async def deleted_after(self, seq: int) -> list[tuple[int, int]]:
        found = [(user_id, s) for user_id, (s, _) in self.deleted.items() if s > seq]
        return sorted(found, key=lambda item: item[1])

    async def save_author(self, user_id: int, username: str) -> None:
        self.authors[user_id] = username

    async def remove_author(self, user_id: int) -> None:
        self.authors.pop(user_id, None)

    async def raise_token_epoch(self, user_id: int, epoch: int, seq: int) -> None:
        if epoch > self.epochs.get(user_id, (0, 0))[0]:
            self.epochs[user_id] = (epoch, seq)

    async def token_epochs_after(self, seq: int) -> list[tuple[int, int, int]]:
        found = [(user_id, e, s) for user_id, (e, s) in self.epochs.items() if s > seq]
        return sorted(found, key=lambda item: item[2])

    async def cursor(self, name: str) -> int:
        return self.cursors.get(name, 0)

    async def move_cursor(self, name: str, seq: int) -> None:
        self.cursors[name] = max(seq, self.cursors.get(name, 0))


class FakeUnitOfWork:
    """A unit of work, and a create unit, over the fakes; also usable as their reader."""

    articles: FakeArticleRepository
    accounts: FakeAccountRepository

    def __init__(
        self,
        articles: FakeArticleRepository | None = None,
        accounts: FakeAccountRepository | None = None,
    ) -> None:
        self.accounts = accounts or FakeAccountRepository()
        self.articles = articles or FakeArticleRepository(
            self.accounts.deleted, self.accounts.authors
        )
        self.committed = False

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.rollback()

    async def commit(self) -> None:
        self.committed = True

    async def rollback(self) -> None:
        pass
