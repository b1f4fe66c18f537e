"""Create the articles table.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "articles"


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.CheckConstraint(
            "char_length(btrim(title)) BETWEEN 1 AND 200", name="ck_articles_title_length"
        ),
        sa.CheckConstraint("char_length(content) >= 10", name="ck_articles_content_length"),
        schema=SCHEMA,
    )
    op.create_index("ix_articles_created_at_id", "articles", ["created_at", "id"], schema=SCHEMA)
    op.create_index("ix_articles_author_id", "articles", ["author_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_articles_author_id", table_name="articles", schema=SCHEMA)
    op.drop_index("ix_articles_created_at_id", table_name="articles", schema=SCHEMA)
    op.drop_table("articles", schema=SCHEMA)
