"""The auth schema as SQLAlchemy Core tables; Alembic migrations must match it (a test checks)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)

SCHEMA = "auth"

metadata = MetaData(
    schema=SCHEMA,
    naming_convention={
        "pk": "pk_%(table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    },
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("username", String(50), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The client's idempotency key of the registration (RegisterRequest.request_id), if sent.
    Column("request_id", Uuid, nullable=True),
    # Raised by each password change: access tokens of a lower epoch are refused.
    Column("token_epoch", Integer, nullable=False, server_default=text("0")),
)
# Uniqueness regardless of case lives in the database, so concurrent registrations cannot race.
EMAIL_INDEX = "uq_users_email_lower"
USERNAME_INDEX = "uq_users_username_lower"
Index(EMAIL_INDEX, func.lower(users.c.email), unique=True)
Index(USERNAME_INDEX, func.lower(users.c.username), unique=True)
REQUEST_ID_INDEX = "uq_users_request_id"
Index(
    REQUEST_ID_INDEX,
    users.c.request_id,
    unique=True,
    postgresql_where=text("request_id IS NOT NULL"),
)

# Failed logins per account name (as typed, lower-cased), shared by every worker process.
login_failures = Table(
    "login_failures",
    metadata,
    Column("account", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_started_at", DateTime(timezone=True), nullable=False),
)

# The transactional outbox: written in the same transaction as the change it records, read
# by WatchUserEvents. Writers serialise on OUTBOX_LOCK, so seq order is commit order.
user_events = Table(
    "user_events",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("username", String(50), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The user's token epoch after the event (what TOKENS_REVOKED tells consumers).
    Column("token_epoch", Integer, nullable=False, server_default=text("0")),
)
# Refresh tokens: only a SHA-256 digest of each is kept (they are random, not passwords).
# The tokens rotated from one login share a family_id and its absolute expires_at. Deleting
# the account revokes its rows in the same transaction (a use-case rule, not a foreign key).
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", Integer, nullable=False, index=True),
    Column("family_id", Uuid, nullable=False, index=True),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("rotated_at", DateTime(timezone=True), nullable=True),  # exchanged: single-use
    Column("revoked_at", DateTime(timezone=True), nullable=True),  # logout, reuse, password
)

# pg_advisory_xact_lock key of the outbox writers ("user_events" in ASCII, as a number).
OUTBOX_LOCK = int.from_bytes(b"usr_evts", "big") & 0x7FFF_FFFF_FFFF_FFFF


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """For Alembic autogenerate: look at our schema only, never at another service's."""
    if type_ == "schema":
        # None is the connection's default schema: ours, as the role's search_path is "auth".
        return name in (None, SCHEMA)
    return not (type_ == "table" and name == "alembic_version")  # Alembic's own bookkeeping
