"""The article service's tables, in its own schema "articles" (the migrations create them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR

SCHEMA = "articles"
# The generated `search` column's expression, the same in the migration that made it.
SEARCH_EXPRESSION = "to_tsvector('simple'::regconfig, title::text || ' ' || left(content, 100000))"

metadata = MetaData(
    schema=SCHEMA,
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    },
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("content", Text, nullable=False),
    Column("published", Boolean, nullable=False, server_default=false()),
    # The author lives in the auth service's schema: no foreign key across services.
    Column("author_id", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Incremented by every update: the article's etag is made from it.
    Column("version", Integer, nullable=False, server_default=text("1")),
    # The client's idempotency key of the create (CreateArticleRequest.request_id), if sent.
    Column("request_id", Uuid, nullable=True),
    # What full-text search looks in (ListArticles' q): title and content as `simple`
    # lexemes, kept by PostgreSQL itself (migration 0004 says why `simple`, and why only
    # the first 100,000 characters of the content: a tsvector holds at most 1 MB).
    Column("search", TSVECTOR, Computed(SEARCH_EXPRESSION, persisted=True), nullable=True),
    CheckConstraint("char_length(btrim(title)) BETWEEN 1 AND 200", name="title_length"),
    CheckConstraint("char_length(content) >= 10", name="content_length"),
    # Listing is "ORDER BY created_at DESC, id DESC": a backward scan of this index.
    Index(None, "created_at", "id"),
    # Each author's own articles, newest first (the author filter, their drafts in
    # listings), and deleting a user's articles.
    Index(None, "author_id", "created_at", "id"),
    Index(None, "search", postgresql_using="gin"),
    # One article per (author, request_id): a retried create finds the first one.
    Index(
        "uq_articles_author_id_request_id",
        "author_id",
        "request_id",
        unique=True,
        postgresql_where=text("request_id IS NOT NULL"),
    ),
)

# What this service knows of the auth service's users, learnt from its account feed
# (WatchUserEvents); never read from the auth schema.
authors = Table(
    "authors",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("username", String(50), nullable=False),
    # ListArticles' author filter finds a user by name, case-insensitively.
    Index("ix_authors_lower_username", func.lower(text("username"))),
)

# Users whose account was deleted: their tokens are refused. `seq` is the feed position of
# the deletion, so each worker can fetch only the ones it has not seen yet.
deleted_users = Table(
    "deleted_users",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=False),
    Index(None, "seq"),
)

# Users whose password changed, from the feed's "tokens_revoked" events: their access tokens
# whose epoch (the `tep` claim) is below `epoch` are refused; `seq` lets workers reload.
token_epochs = Table(
    "token_epochs",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("epoch", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Index(None, "seq"),
)

# How far each feed consumer got: the seq of the last event applied, moved in the same
# transaction as the event's effects.
event_cursor = Table(
    "event_cursor",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)
