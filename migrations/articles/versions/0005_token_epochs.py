"""token_epochs: users whose password changed, from the account feed; their access tokens
issued in an earlier token epoch are refused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "articles"


def upgrade() -> None:
    op.create_table(
        "token_epochs",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_token_epochs"),
        schema=SCHEMA,
    )
    op.create_index("ix_token_epochs_seq", "token_epochs", ["seq"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("token_epochs", schema=SCHEMA)
