"""Safe retries of registration: users.request_id, the client's idempotency key.

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

SCHEMA = "auth"


def upgrade() -> None:
    op.add_column("users", sa.Column("request_id", sa.Uuid(), nullable=True), schema=SCHEMA)
    op.create_index(
        "uq_users_request_id",
        "users",
        ["request_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_users_request_id", table_name="users", schema=SCHEMA)
    op.drop_column("users", "request_id", schema=SCHEMA)
