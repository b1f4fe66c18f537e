"""The article service's SQL, built once: Core statements compiled for asyncpg at import,
and the one mapper from a result row to an Article.

Each statement selects the article columns and then the author's username, in that order,
so an asyncpg Record and a SQLAlchemy Row map the same way.
"""

from __future__ import annotations

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
    exists,
    insert,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from article_service.db.tables import articles, authors, deleted_users
from article_service.models import Article, Page

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


def article_of(row: Any) -> Article:
    """The Article of a row of `with_author`'s columns (an asyncpg Record or a Row)."""
    id_, title, content, published, author_id, created_at, updated_at, version, username = row
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


def with_author(source: Any) -> Select[Any]:
    """The article columns of `source` (the table or a CTE) with the author's username, one
    outer join for however many rows."""
    columns = [source.c[column.name] for column in _COLUMNS]
    return select(*columns, authors.c.username.label("author_username")).select_from(
        source.outerjoin(authors, authors.c.user_id == source.c.author_id)
    )


def changed(statement: Any) -> Select[Any]:
    """An INSERT/UPDATE ... RETURNING wrapped so the answer names the author too."""
    rows: CTE = statement.returning(*_COLUMNS).cte("changed")
    return with_author(rows)


class Prepared:
    """A Core statement compiled once; `args(**values)` orders the values as $1, $2, ...
    (asyncpg's statement cache then prepares it once per connection)."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=PGDialect_asyncpg())  # type: ignore[no-untyped-call]
        self.sql = str(compiled)
        self._names = tuple(compiled.positiontup or ())

    def args(self, **values: Any) -> list[Any]:
        return [values[name] for name in self._names]


# What comes after ($after_created_at, $after_id) in the listing order: a row comparison the
# (created_at, id) index answers by itself, so a deep page costs what the first one does
# (skip, in contrast, walks every skipped row).
AFTER_POSITION = tuple_(articles.c.created_at, articles.c.id) < tuple_(
    bindparam("after_created_at", type_=DateTime(timezone=True)),
    bindparam("after_id", type_=Integer),
)


def newest_first(visible: Any, *, keyset: bool) -> Prepared:
    """Newest first; with `keyset`, only what comes after the page token's position."""
    statement = with_author(articles).where(visible)
    if keyset:
        statement = statement.where(AFTER_POSITION)
    return Prepared(
        statement.order_by(articles.c.created_at.desc(), articles.c.id.desc())
        .offset(bindparam("skip", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
    )


VISIBLE_TO_VIEWER = or_(
    articles.c.published, articles.c.author_id == bindparam("viewer", type_=Integer)
)
GET_ARTICLE = Prepared(with_author(articles).where(articles.c.id == bindparam("id", type_=Integer)))
# Many articles by id in one statement (the batched GetArticle; see batching).
GET_ARTICLES = Prepared(
    with_author(articles).where(articles.c.id == any_(bindparam("ids", type_=ARRAY(Integer))))
)
# (viewer or not, page token or not) -> the statement
LISTINGS = {
    (False, False): newest_first(articles.c.published, keyset=False),
    (False, True): newest_first(articles.c.published, keyset=True),
    (True, False): newest_first(VISIBLE_TO_VIEWER, keyset=False),
    (True, True): newest_first(VISIBLE_TO_VIEWER, keyset=True),
}


def listing_for(viewer: int | None, page: Page) -> tuple[Prepared, list[Any]]:
    """The listing statement for this viewer and page, and its arguments."""
    after_created_at, after_id = page.after or (None, None)
    query = LISTINGS[viewer is not None, page.after is not None]
    return query, query.args(
        viewer=viewer,
        after_created_at=after_created_at,
        after_id=after_id,
        skip=page.skip,
        limit=page.limit,
    )


def _insert_unless_deleted(*, once: bool) -> Prepared:
    """INSERT ... SELECT the values WHERE the author is not in deleted_users, returning the
    article with its author's name (see SqlArticleCreator for the rule it serves). With
    `once`, a repeated (author, request_id) inserts nothing and returns no row (after
    waiting for a concurrent insert of the same key to commit or roll back)."""
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
    return Prepared(changed(statement))


ADD_UNLESS_DELETED = _insert_unless_deleted(once=False)
ADD_ONCE_UNLESS_DELETED = _insert_unless_deleted(once=True)
BY_REQUEST = Prepared(
    with_author(articles).where(
        articles.c.author_id == bindparam("author_id", type_=Integer),
        articles.c.request_id == bindparam("request_id", type_=Uuid),
    )
)


def begin_and_lock_author_sql(author_id: int) -> str:
    """BEGIN and the author's shared lock as one simple-protocol message (one round trip);
    the values are integers, formatted as such, never text from a request."""
    return f"BEGIN; SELECT pg_advisory_xact_lock_shared({int(USER_LOCK_SPACE)}, {int(author_id)})"
