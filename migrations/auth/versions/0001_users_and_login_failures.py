"""Users and the per-account login failure counter.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "auth"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("username", sa.String(50), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True, schema=SCHEMA
    )
    op.create_index(
        "uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True, schema=SCHEMA
    )
    op.create_table(
        "login_failures",
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", name="pk_login_failures"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("login_failures", schema=SCHEMA)
    op.drop_index("uq_users_username_lower", table_name="users", schema=SCHEMA)
    op.drop_index("uq_users_email_lower", table_name="users", schema=SCHEMA)
    op.drop_table("users", schema=SCHEMA)
