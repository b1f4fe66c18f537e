"""Safe retries and concurrent-edit protection of articles.

articles.version (the etag's source, incremented by every update) and articles.request_id
(the create's idempotency key, unique per author where sent).

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "articles"


def upgrade() -> None:
    op.add_column(
        "articles",
        sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1")),
        schema=SCHEMA,
    )
    op.add_column("articles", sa.Column("request_id", sa.Uuid(), nullable=True), schema=SCHEMA)
    op.create_index(
        "uq_articles_author_id_request_id",
        "articles",
        ["author_id", "request_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_articles_author_id_request_id", table_name="articles", schema=SCHEMA)
    op.drop_column("articles", "request_id", schema=SCHEMA)
    op.drop_column("articles", "version", schema=SCHEMA)
