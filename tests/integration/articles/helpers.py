"""Setting up rows inside a test's rolled-back session."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from article_service.db.statements import article_of, changed
from article_service.db.tables import articles
from article_service.models import Article, NewArticle


async def add_article(session: AsyncSession, new: NewArticle, author_id: int) -> Article:
    """An article inside the session's transaction, named as the service names it
    (CreateArticle's own path commits: see test_create_unit)."""
    values = {
        "title": new.title,
        "content": new.content,
        "published": new.published,
        "author_id": author_id,
    }
    return article_of((await session.execute(changed(insert(articles).values(values)))).one())
