"""The user_events outbox: account changes for other services, in commit order.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "auth"


def upgrade() -> None:
    op.create_table(
        "user_events",
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(50), nullable=False),
        sa.Column(
            "occurred_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_user_events"),
        schema=SCHEMA,
    )
    # Accounts registered before the outbox existed: record their creation, so a consumer
    # starting from the beginning of the feed learns every username.
    op.execute(
        "INSERT INTO auth.user_events (kind, user_id, username, occurred_at) "
        "SELECT 'created', id, username, created_at FROM auth.users ORDER BY id"
    )


def downgrade() -> None:
    op.drop_table("user_events", schema=SCHEMA)
