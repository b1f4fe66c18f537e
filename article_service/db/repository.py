"""The SQL repositories of the article service: lean Core statements, never a commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CTE,
    Select,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from article_service.db.tables import articles, authors, deleted_users, event_cursor
from article_service.models import Article, ArticleChanges, NewArticle, Page
from article_service.operations import AccountRepository, ArticleRepository

# pg_advisory_xact_lock(int, int) namespace of the per-user locks ("auth" in ASCII).
USER_LOCK_SPACE = int.from_bytes(b"auth", "big")

_COLUMNS = (
    articles.c.id,
    articles.c.title,
    articles.c.content,
    articles.c.published,
    articles.c.author_id,
    articles.c.created_at,
    articles.c.updated_at,
)


def _article(row: Any) -> Article:  # a Row with _COLUMNS and author_username
    return Article(
        id=row.id,
        title=row.title,
        content=row.content,
        published=row.published,
        author_id=row.author_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        author_username=row.author_username or "",
    )


def _with_author(source: Any) -> Select[Any]:
    """The article columns of `source` (the table or a CTE) with the author's username, one
    outer join for however many rows."""
    columns = [source.c[column.name] for column in _COLUMNS]
    return select(*columns, authors.c.username.label("author_username")).select_from(
        source.outerjoin(authors, authors.c.user_id == source.c.author_id)
    )


def _changed(statement: Any) -> Select[Any]:
    """An INSERT/UPDATE ... RETURNING wrapped so the answer names the author too."""
    changed: CTE = statement.returning(*_COLUMNS).cte("changed")
    return _with_author(changed)


class SqlArticleRepository(ArticleRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, new: NewArticle, author_id: int) -> Article:
        statement = insert(articles).values(
            title=new.title,
            content=new.content,
            published=new.published,
            author_id=author_id,
        )
        return _article((await self._session.execute(_changed(statement))).one())

    async def get(self, article_id: int) -> Article | None:
        statement = _with_author(articles).where(articles.c.id == article_id)
        row = (await self._session.execute(statement)).one_or_none()
        return None if row is None else _article(row)

    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        visible = (
            articles.c.published
            if viewer is None
            else or_(articles.c.published, articles.c.author_id == viewer)
        )
        statement = (
            _with_author(articles)
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
        )
        row = (await self._session.execute(_changed(statement))).one_or_none()
        return None if row is None else _article(row)

    async def delete_own(self, article_id: int, author_id: int) -> bool:
        statement = (
            delete(articles)
            .where(articles.c.id == article_id, articles.c.author_id == author_id)
            .returning(articles.c.id)
        )
        return (await self._session.execute(statement)).one_or_none() is not None

    async def delete_by_author(self, author_id: int) -> int:
        statement = delete(articles).where(articles.c.author_id == author_id)
        result = await self._session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]  # a CursorResult


class SqlAccountRepository(AccountRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_user(self, user_id: int, *, exclusive: bool) -> None:
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        await self._session.execute(
            text(f"SELECT {function}(:space, :user_id)"),
            {"space": USER_LOCK_SPACE, "user_id": user_id},
        )

    async def is_deleted(self, user_id: int) -> bool:
        statement = select(deleted_users.c.user_id).where(deleted_users.c.user_id == user_id)
        return (await self._session.execute(statement)).first() is not None

    async def record_deleted(self, user_id: int, seq: int, deleted_at: datetime) -> None:
        statement = pg_insert(deleted_users).values(user_id=user_id, seq=seq, deleted_at=deleted_at)
        await self._session.execute(statement.on_conflict_do_nothing())

    async def deleted_after(self, seq: int) -> list[tuple[int, int]]:
        statement = (
            select(deleted_users.c.user_id, deleted_users.c.seq)
            .where(deleted_users.c.seq > seq)
            .order_by(deleted_users.c.seq)
        )
        return [(row.user_id, row.seq) for row in await self._session.execute(statement)]

    async def save_author(self, user_id: int, username: str) -> None:
        statement = pg_insert(authors).values(user_id=user_id, username=username)
        statement = statement.on_conflict_do_update(
            index_elements=[authors.c.user_id], set_={"username": statement.excluded.username}
        )
        await self._session.execute(statement)

    async def remove_author(self, user_id: int) -> None:
        await self._session.execute(delete(authors).where(authors.c.user_id == user_id))

    async def cursor(self, name: str) -> int:
        found = await self._session.scalar(
            select(event_cursor.c.seq).where(event_cursor.c.name == name)
        )
        return int(found or 0)

    async def move_cursor(self, name: str, seq: int) -> None:
        statement = pg_insert(event_cursor).values(name=name, seq=seq)
        statement = statement.on_conflict_do_update(
            index_elements=[event_cursor.c.name],
            set_={"seq": func.greatest(event_cursor.c.seq, statement.excluded.seq)},
        )
        await self._session.execute(statement)
