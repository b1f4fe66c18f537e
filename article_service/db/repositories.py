"""The session repositories: articles and accounts through the unit of work's AsyncSession,
inside its transaction; never a commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from article_service.db.statements import GET_ARTICLE, USER_LOCK_SPACE, article_of, changed
from article_service.db.tables import (
    articles,
    authors,
    deleted_users,
    event_cursor,
    token_epochs,
)
from article_service.models import Article, ArticleChanges

# The exclusive side of the author's lock (the creator takes it shared: see driver).
_LOCK_FOR_DELETION = text("SELECT pg_advisory_xact_lock(:space, :user_id)")
_IS_DELETED = select(deleted_users.c.user_id).where(
    deleted_users.c.user_id == bindparam("user_id", type_=Integer)
)


class SqlArticleRepository:
    """Articles through an AsyncSession: every method, inside the unit's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, article_id: int) -> Article | None:
        found = await self._session.execute(GET_ARTICLE.statement, {"id": article_id})
        row = found.one_or_none()
        return None if row is None else article_of(row)

    async def update_own(
        self, article_id: int, author_id: int, changes: ArticleChanges, version: int | None = None
    ) -> Article | None:
        values: dict[str, Any] = {"updated_at": func.now(), "version": articles.c.version + 1}
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
        if version is not None:
            statement = statement.where(articles.c.version == version)
        row = (await self._session.execute(changed(statement))).one_or_none()
        return None if row is None else article_of(row)

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


class SqlAccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_for_deletion(self, user_id: int) -> None:
        await self._session.execute(
            _LOCK_FOR_DELETION, {"space": USER_LOCK_SPACE, "user_id": user_id}
        )

    async def is_deleted(self, user_id: int) -> bool:
        return (await self._session.execute(_IS_DELETED, {"user_id": user_id})).first() is not None

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

    async def raise_token_epoch(self, user_id: int, epoch: int, seq: int) -> None:
        statement = pg_insert(token_epochs).values(user_id=user_id, epoch=epoch, seq=seq)
        statement = statement.on_conflict_do_update(
            index_elements=[token_epochs.c.user_id],
            set_={"epoch": statement.excluded.epoch, "seq": statement.excluded.seq},
            where=token_epochs.c.epoch < statement.excluded.epoch,  # a replay never lowers it
        )
        await self._session.execute(statement)

    async def token_epochs_after(self, seq: int) -> list[tuple[int, int, int]]:
        statement = (
            select(token_epochs.c.user_id, token_epochs.c.epoch, token_epochs.c.seq)
            .where(token_epochs.c.seq > seq)
            .order_by(token_epochs.c.seq)
        )
        return [(row.user_id, row.epoch, row.seq) for row in await self._session.execute(statement)]

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
