"""In-memory fakes of the article service's repository and unit of work."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from article_service.models import Article, ArticleChanges, NewArticle, Page
from article_service.operations import ArticleRepository, UnitOfWork


class FakeArticleRepository(ArticleRepository):
    def __init__(self) -> None:
        self.rows: dict[int, Article] = {}
        self._clock = datetime(2024, 1, 1, tzinfo=UTC)

    def _now(self) -> datetime:
        self._clock += timedelta(seconds=1)
        return self._clock

    async def add(self, new: NewArticle, author_id: int) -> Article:
        now = self._now()
        article = Article(
            len(self.rows) + 1, new.title, new.content, new.published, author_id, now, now
        )
        self.rows[article.id] = article
        return article

    async def get(self, article_id: int) -> Article | None:
        return self.rows.get(article_id)

    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        visible = [a for a in self.rows.values() if a.visible_to(viewer)]
        visible.sort(key=lambda a: (a.created_at, a.id), reverse=True)
        return visible[page.skip : page.skip + page.limit]

    async def update_own(
        self, article_id: int, author_id: int, changes: ArticleChanges
    ) -> Article | None:
        found = self.rows.get(article_id)
        if found is None or found.author_id != author_id:
            return None
        sent = {k: v for k, v in dataclasses.asdict(changes).items() if v is not None}
        updated = dataclasses.replace(found, **sent, updated_at=self._now())
        self.rows[article_id] = updated
        return updated

    async def delete_own(self, article_id: int, author_id: int) -> bool:
        found = self.rows.get(article_id)
        if found is None or found.author_id != author_id:
            return False
        del self.rows[article_id]
        return True


class FakeUnitOfWork(UnitOfWork):
    def __init__(self, articles: FakeArticleRepository | None = None) -> None:
        self.articles = articles or FakeArticleRepository()
        self.committed = False

    async def commit(self) -> None:
        self.committed = True

    async def rollback(self) -> None:
        pass
