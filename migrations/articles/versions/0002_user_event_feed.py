"""What the article service learns from the auth service's account feed.

authors (usernames), deleted_users (tokens refused) and event_cursor (where the feed
consumer resumes).

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "articles"


def upgrade() -> None:
    op.create_table(
        "authors",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_authors"),
        schema=SCHEMA,
    )
    op.create_table(
        "deleted_users",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_deleted_users"),
        schema=SCHEMA,
    )
    op.create_index("ix_deleted_users_seq", "deleted_users", ["seq"], schema=SCHEMA)
    op.create_table(
        "event_cursor",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_event_cursor"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("event_cursor", schema=SCHEMA)
    op.drop_index("ix_deleted_users_seq", table_name="deleted_users", schema=SCHEMA)
    op.drop_table("deleted_users", schema=SCHEMA)
    op.drop_table("authors", schema=SCHEMA)
