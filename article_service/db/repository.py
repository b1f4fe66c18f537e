"""The SQL repository of articles: lean Core statements, one per question, never a commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from article_service.db.tables import articles
from article_service.models import Article, ArticleChanges, NewArticle, Page
from article_service.operations import ArticleRepository

_COLUMNS = (
    articles.c.id,
    articles.c.title,
    articles.c.content,
    articles.c.published,
    articles.c.author_id,
    articles.c.created_at,
    articles.c.updated_at,
)


def _article(row: Row[Any, Any, Any, Any, Any, Any, Any]) -> Article:
    return Article(
        id=row.id,
        title=row.title,
        content=row.content,
        published=row.published,
        author_id=row.author_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlArticleRepository(ArticleRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, new: NewArticle, author_id: int) -> Article:
        statement = (
            insert(articles)
            .values(
                title=new.title,
                content=new.content,
                published=new.published,
                author_id=author_id,
            )
            .returning(*_COLUMNS)
        )
        return _article((await self._session.execute(statement)).one())

    async def get(self, article_id: int) -> Article | None:
        statement = select(*_COLUMNS).where(articles.c.id == article_id)
        row = (await self._session.execute(statement)).one_or_none()
        return None if row is None else _article(row)

    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        visible = (
            articles.c.published
            if viewer is None
            else or_(articles.c.published, articles.c.author_id == viewer)
        )
        statement = (
            select(*_COLUMNS)
            .where(visible)
            .order_by(articles.c.created_at.desc(), articles.c.id.desc())
            .offset(page.skip)
            .limit(page.limit)
        )
        return [_article(row) for row in await self._session.execute(statement)]

    async def update_own(
        self, article_id: int, author_id: int, changes: ArticleChanges
    ) -> Article | None:
        values: dict[str, Any] = {"updated_at": func.now()}
        if changes.title is not None:
            values["title"] = changes.title
        if changes.content is not None:
            values["content"] = changes.content
        if changes.published is not None:
            values["published"] = changes.published
        statement = (
            update(articles)
            .where(articles.c.id == article_id, articles.c.author_id == author_id)
            .values(values)
            .returning(*_COLUMNS)
        )
        row = (await self._session.execute(statement)).one_or_none()
        return None if row is None else _article(row)

    async def delete_own(self, article_id: int, author_id: int) -> bool:
        statement = (
            delete(articles)
            .where(articles.c.id == article_id, articles.c.author_id == author_id)
            .returning(articles.c.id)
        )
        return (await self._session.execute(statement)).one_or_none() is not None
