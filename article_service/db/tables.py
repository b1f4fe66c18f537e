"""The article service's tables, in its own schema "articles" (the migrations create them)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    func,
)

SCHEMA = "articles"

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
    CheckConstraint("char_length(btrim(title)) BETWEEN 1 AND 200", name="title_length"),
    CheckConstraint("char_length(content) >= 10", name="content_length"),
    # Listing is "ORDER BY created_at DESC, id DESC": a backward scan of this index.
    Index(None, "created_at", "id"),
    # Each author's own articles: their drafts in listings, and deleting a user's articles.
    Index(None, "author_id"),
)
