"""The SQL repositories of the article service: lean Core statements, never a commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    CTE,
    Boolean,
    DateTime,
    Integer,
    Select,
    String,
    Text,
    Uuid,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
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
    articles.c.version,
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
        version=row.version,
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


# The statements of the hot paths, built once (their SQL is then cached by SQLAlchemy).
_ADD = _changed(
    insert(articles).values(
        title=bindparam("title"),
        content=bindparam("content"),
        published=bindparam("published"),
        author_id=bindparam("author_id"),
    )
)
# With a request_id: a repeat by the same author inserts nothing and returns no row (and
# waits for a concurrent insert of the same key to commit or roll back first).
_ADD_ONCE = _changed(
    pg_insert(articles)
    .values(
        title=bindparam("title"),
        content=bindparam("content"),
        published=bindparam("published"),
        author_id=bindparam("author_id"),
        request_id=bindparam("request_id"),
    )
    .on_conflict_do_nothing(
        index_elements=[articles.c.author_id, articles.c.request_id],
        index_where=articles.c.request_id.isnot(None),
    )
)
_BY_REQUEST = _with_author(articles).where(
    articles.c.author_id == bindparam("author_id", type_=Integer),
    articles.c.request_id == bindparam("request_id"),
)
_GET = _with_author(articles).where(articles.c.id == bindparam("id", type_=Integer))
_LOCK_USER = {
    exclusive: text(f"SELECT {function}(:space, :user_id)")
    for exclusive, function in (
        (True, "pg_advisory_xact_lock"),
        (False, "pg_advisory_xact_lock_shared"),
    )
}
_IS_DELETED = select(deleted_users.c.user_id).where(
    deleted_users.c.user_id == bindparam("user_id", type_=Integer)
)


class SqlArticleRepository(ArticleRepository):
    """Articles through an AsyncSession: every method, inside the unit's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, new: NewArticle, author_id: int, request_id: uuid.UUID | None = None
    ) -> Article:
        values: dict[str, Any] = {
            "title": new.title,
            "content": new.content,
            "published": new.published,
            "author_id": author_id,
        }
        if request_id is None:
            return _article((await self._session.execute(_ADD, values)).one())
        values["request_id"] = request_id
        row = (await self._session.execute(_ADD_ONCE, values)).one_or_none()
        if row is None:  # a repeat: the first request's article
            keys = {"author_id": author_id, "request_id": request_id}
            row = (await self._session.execute(_BY_REQUEST, keys)).one()
        return _article(row)

    async def get(self, article_id: int) -> Article | None:
        row = (await self._session.execute(_GET, {"id": article_id})).one_or_none()
        return None if row is None else _article(row)

    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        query, values = _listing_for(viewer, page)
        return [_article(row) for row in await self._session.execute(query.statement, values)]

    async def update_own(
        self,
        article_id: int,
        author_id: int,
        changes: ArticleChanges,
        expected_version: int | None = None,
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
        if expected_version is not None:
            statement = statement.where(articles.c.version == expected_version)
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
        await self._session.execute(
            _LOCK_USER[exclusive], {"space": USER_LOCK_SPACE, "user_id": user_id}
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


# --- the lean read path -------------------------------------------------------------
#
# A read is one statement: it needs no BEGIN/COMMIT and none of the session machinery. The
# statements below are the same Core statements, compiled once at import for asyncpg, and
# run on the pooled connection's asyncpg driver (whose statement cache prepares each once
# per connection).


class Prepared:
    """A Core statement compiled once; `args(**values)` orders the values as $1, $2, ..."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=PGDialect_asyncpg())  # type: ignore[no-untyped-call]
        self.sql = str(compiled)
        self._names = tuple(compiled.positiontup or ())

    def args(self, **values: Any) -> list[Any]:
        return [values[name] for name in self._names]


def _record_article(record: Any) -> Article:  # an asyncpg Record of _with_author's columns
    id_, title, content, published, author_id, created_at, updated_at, version, username = record
    return Article(
        id=id_,
        title=title,
        content=content,
        published=published,
        author_id=author_id,
        created_at=created_at,
        updated_at=updated_at,
        author_username=username or "",
        version=version,
    )


def _listing(visible: Any, *, keyset: bool) -> Prepared:
    """Newest first; with `keyset`, only what comes after ($after_created_at, $after_id) in
    that order: a row comparison the (created_at, id) index answers by itself, so a deep
    page costs what the first one does (skip, in contrast, walks every skipped row)."""
    statement = _with_author(articles).where(visible)
    if keyset:
        after = tuple_(
            bindparam("after_created_at", type_=DateTime(timezone=True)),
            bindparam("after_id", type_=Integer),
        )
        statement = statement.where(tuple_(articles.c.created_at, articles.c.id) < after)
    return Prepared(
        statement.order_by(articles.c.created_at.desc(), articles.c.id.desc())
        .offset(bindparam("skip", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
    )


_VISIBLE_TO_VIEWER = or_(
    articles.c.published, articles.c.author_id == bindparam("viewer", type_=Integer)
)
GET_ARTICLE = Prepared(_GET)
# Many articles by id in one statement (the batched GetArticle; see batching).
GET_ARTICLES = Prepared(
    _with_author(articles).where(articles.c.id == any_(bindparam("ids", type_=ARRAY(Integer))))
)
# (viewer or not, page token or not) -> the statement
LISTINGS = {
    (False, False): _listing(articles.c.published, keyset=False),
    (False, True): _listing(articles.c.published, keyset=True),
    (True, False): _listing(_VISIBLE_TO_VIEWER, keyset=False),
    (True, True): _listing(_VISIBLE_TO_VIEWER, keyset=True),
}


def _listing_for(viewer: int | None, page: Page) -> tuple[Prepared, dict[str, Any]]:
    """The listing statement for this viewer and page, and its values by name."""
    after_created_at, after_id = page.after or (None, None)
    values = {
        "viewer": viewer,
        "after_created_at": after_created_at,
        "after_id": after_id,
        "skip": page.skip,
        "limit": page.limit,
    }
    return LISTINGS[viewer is not None, page.after is not None], values


def _insert_unless_deleted(*, once: bool) -> Prepared:
    """INSERT ... SELECT the values WHERE the author is not in deleted_users, returning the
    article with its author's name: the deleted check and the insert in one statement. Run
    it after the author's lock, in a statement of its own (a fresh snapshot, so a deletion
    that committed while we waited for the lock is seen)."""
    values: dict[str, Any] = {
        "title": bindparam("title", type_=String),
        "content": bindparam("content", type_=Text),
        "published": bindparam("published", type_=Boolean),
        "author_id": bindparam("author_id", type_=Integer),
    }
    if once:
        values["request_id"] = bindparam("request_id", type_=Uuid)
    not_deleted = ~exists().where(deleted_users.c.user_id == bindparam("author_id", type_=Integer))
    source = select(*values.values()).where(not_deleted)
    statement: Any
    if once:
        statement = (
            pg_insert(articles)
            .from_select(list(values), source)
            .on_conflict_do_nothing(
                index_elements=[articles.c.author_id, articles.c.request_id],
                index_where=articles.c.request_id.isnot(None),
            )
        )
    else:
        statement = insert(articles).from_select(list(values), source)
    return Prepared(_changed(statement))


ADD_UNLESS_DELETED = _insert_unless_deleted(once=False)
ADD_ONCE_UNLESS_DELETED = _insert_unless_deleted(once=True)
BY_REQUEST = Prepared(_BY_REQUEST)


def lock_author_sql(author_id: int) -> str:
    """BEGIN and the author's shared lock as one simple-protocol message (one round trip);
    the values are integers, formatted as such, never text from a request."""
    return f"BEGIN; SELECT pg_advisory_xact_lock_shared({int(USER_LOCK_SPACE)}, {int(author_id)})"


class SqlArticleCreator:
    """CreateArticle on an asyncpg connection in three round trips: BEGIN with the author's
    lock, the insert with the deleted check, COMMIT (one more, a read, for a repeated
    request_id)."""

    def __init__(self, connection: Any) -> None:  # an asyncpg.Connection
        self._connection = connection

    async def add(
        self, author_id: int, new: NewArticle, request_id: uuid.UUID | None
    ) -> Article | None:
        connection = self._connection
        await connection.execute(lock_author_sql(author_id))
        values = {
            "title": new.title,
            "content": new.content,
            "published": new.published,
            "author_id": author_id,
            "request_id": request_id,
        }
        query = ADD_UNLESS_DELETED if request_id is None else ADD_ONCE_UNLESS_DELETED
        record = await connection.fetchrow(query.sql, *query.args(**values))
        if record is None and request_id is not None:  # a repeat, or a deleted author
            keys = BY_REQUEST.args(author_id=author_id, request_id=request_id)
            record = await connection.fetchrow(BY_REQUEST.sql, *keys)
        return None if record is None else _record_article(record)


class ReadOnlyError(RuntimeError):
    def __init__(self) -> None:
        super().__init__("a write in a read-only unit of work")


class ReadOnlyRepository(ArticleRepository):
    """The writes of a repository that only reads: each refuses."""

    async def add(
        self, new: NewArticle, author_id: int, request_id: uuid.UUID | None = None
    ) -> Article:
        raise ReadOnlyError

    async def update_own(
        self,
        article_id: int,
        author_id: int,
        changes: ArticleChanges,
        expected_version: int | None = None,
    ) -> Article | None:
        raise ReadOnlyError

    async def delete_own(self, article_id: int, author_id: int) -> bool:
        raise ReadOnlyError

    async def delete_by_author(self, author_id: int) -> int:
        raise ReadOnlyError


class SqlArticleReader(ReadOnlyRepository):
    """The reads of SqlArticleRepository, each one statement on an asyncpg connection outside
    any transaction."""

    def __init__(self, connection: Any) -> None:  # an asyncpg.Connection
        self._connection = connection

    async def get(self, article_id: int) -> Article | None:
        record = await self._connection.fetchrow(GET_ARTICLE.sql, *GET_ARTICLE.args(id=article_id))
        return None if record is None else _record_article(record)

    async def get_many(self, article_ids: list[int]) -> dict[int, Article]:
        """The articles of these ids that exist, by id, in one statement."""
        args = GET_ARTICLES.args(ids=article_ids)
        found = (_record_article(r) for r in await self._connection.fetch(GET_ARTICLES.sql, *args))
        return {article.id: article for article in found}

    async def list_visible(self, viewer: int | None, page: Page) -> list[Article]:
        query, values = _listing_for(viewer, page)
        records = await self._connection.fetch(query.sql, *query.args(**values))
        return [_record_article(r) for r in records]
