"""Token epochs: raised by each password change; access tokens of a lower epoch are refused,
and the outbox tells other services the new epoch.

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

SCHEMA = "auth"


def upgrade() -> None:
    for table in ("users", "user_events"):
        column = sa.Column("token_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False)
        op.add_column(table, column, schema=SCHEMA)


def downgrade() -> None:
    for table in ("user_events", "users"):
        op.drop_column(table, "token_epoch", schema=SCHEMA)
